//! Discovery: what resources the node serves, in both forms kubectl reads. kubectl 1.26 and
//! later ask for aggregated discovery (`GET /api` and `GET /apis` as
//! `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`); older clients read the legacy
//! `APIVersions`, `APIGroupList` and `APIResourceList` (`GET /api/v1`). And `GET /version`.

use serde_json::{Value, json};
use staticpod_core::events::Event;
use staticpod_core::node::NodeView;
use staticpod_core::status::PodView;

use crate::resource::{Names, Resource};

/// The Kubernetes release whose API shapes the node follows.
pub const KUBERNETES_MINOR: u32 = 32;

/// Every resource the node serves, in discovery order.
const RESOURCES: [Names; 3] = [PodView::NAMES, Event::NAMES, NodeView::NAMES];

fn scope(names: &Names) -> &'static str {
    if names.namespaced {
        "Namespaced"
    } else {
        "Cluster"
    }
}

/// Every resource, each as `fields` describe it plus what both forms of discovery say alike:
/// verbs, short name, and the `all` category for pods (`kubectl get all`).
fn described(fields: fn(&Names) -> Value) -> Vec<Value> {
    RESOURCES
        .iter()
        .map(|names| {
            let mut resource = fields(names);
            resource["verbs"] = json!(names.verbs);
            resource["shortNames"] = json!([names.short]);
            if names.plural == "pods" {
                resource["categories"] = json!(["all"]);
            }
            resource
        })
        .collect()
}

/// `GET /api` as aggregated discovery: the core group, `v1`, with its resources.
pub fn aggregated_core() -> Value {
    let resources = described(|names| {
        json!({
            "resource": names.plural,
            "responseKind": {"group": "", "version": "v1", "kind": names.kind},
            "scope": scope(names),
            "singularResource": names.singular,
        })
    });
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [{
            "metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
        }],
    })
}

/// `GET /apis` as aggregated discovery: no named groups.
pub fn aggregated_groups() -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [],
    })
}

/// `GET /api`, legacy: the core group's one version.
pub fn legacy_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"]})
}

/// `GET /apis`, legacy: no named groups.
pub fn legacy_groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
}

/// `GET /api/v1`: the core group's resources.
pub fn resource_list() -> Value {
    let resources = described(|names| {
        json!({
            "name": names.plural,
            "singularName": names.singular,
            "namespaced": names.namespaced,
            "kind": names.kind,
        })
    });
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "v1",
        "resources": resources,
    })
}

/// `GET /version`: the Kubernetes API the node follows, with staticpod's version as build
/// metadata (as k3s writes `v1.27.5+k3s1`), on `architecture`.
pub fn version(architecture: &str) -> Value {
    let ours = env!("CARGO_PKG_VERSION");
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR.to_string(),
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0+staticpod.{ours}"),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{architecture}"),
    })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn aggregated_discovery_names_pods_events_and_nodes() {
        expect![[r#"
            {
              "apiVersion": "apidiscovery.k8s.io/v2",
              "items": [
                {
                  "metadata": {
                    "creationTimestamp": null
                  },
                  "versions": [
                    {
                      "freshness": "Current",
                      "resources": [
                        {
                          "categories": [
                            "all"
                          ],
                          "resource": "pods",
                          "responseKind": {
                            "group": "",
                            "kind": "Pod",
                            "version": "v1"
                          },
                          "scope": "Namespaced",
                          "shortNames": [
                            "po"
                          ],
                          "singularResource": "pod",
                          "verbs": [
                            "delete",
                            "get",
                            "list",
                            "watch"
                          ]
                        },
                        {
                          "resource": "events",
                          "responseKind": {
                            "group": "",
                            "kind": "Event",
                            "version": "v1"
                          },
                          "scope": "Namespaced",
                          "shortNames": [
                            "ev"
                          ],
                          "singularResource": "event",
                          "verbs": [
                            "get",
                            "list",
                            "watch"
                          ]
                        },
                        {
                          "resource": "nodes",
                          "responseKind": {
                            "group": "",
                            "kind": "Node",
                            "version": "v1"
                          },
                          "scope": "Cluster",
                          "shortNames": [
                            "no"
                          ],
                          "singularResource": "node",
                          "verbs": [
                            "get",
                            "list"
                          ]
                        }
                      ],
                      "version": "v1"
                    }
                  ]
                }
              ],
              "kind": "APIGroupDiscoveryList",
              "metadata": {}
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&aggregated_core()).unwrap());
    }

    #[test]
    fn legacy_discovery_lists_the_same_resources() {
        let list = resource_list();
        let names: Vec<String> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r["name"], r["namespaced"], r["verbs"]))
            .collect();
        expect![[r#"
            "pods" true ["delete","get","list","watch"]
            "events" true ["get","list","watch"]
            "nodes" false ["get","list"]"#]]
        .assert_eq(&names.join("\n"));
        assert_eq!(version("amd64")["gitVersion"], "v1.32.0+staticpod.0.1.0");
    }
}
