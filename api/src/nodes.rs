//! The node through the API: the agent's one v1 `Node`, printed with kube-apiserver's node
//! columns (`NAME STATUS ROLES AGE VERSION`, and `INTERNAL-IP EXTERNAL-IP OS-IMAGE
//! KERNEL-VERSION CONTAINER-RUNTIME` for `-o wide`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};
use staticpod_core::node::NodeView;

use crate::age;
use crate::resource::{Names, Resource};
use crate::table::Column;

/// The label prefix that gives a node a role (`node-role.kubernetes.io/control-plane`).
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";

fn address(node: &NodeView, type_: &str) -> String {
    node.status
        .addresses
        .iter()
        .find(|a| a.type_ == type_)
        .map_or_else(|| "<none>".to_string(), |a| a.address.clone())
}

fn or_unknown(value: &str) -> String {
    if value.is_empty() {
        "<unknown>".to_string()
    } else {
        value.to_string()
    }
}

impl Resource for NodeView {
    const NAMES: Names = Names {
        plural: "nodes",
        singular: "node",
        kind: "Node",
        short: "no",
        namespaced: false,
        verbs: &["get", "list"],
    };
    const FIELDS: &'static [&'static str] = &["metadata.name", "spec.unschedulable"];

    fn columns() -> Vec<Column> {
        vec![
            Column::name(0),
            Column::new("Status", 0, "The status of the node."),
            Column::new("Roles", 0, "The roles of the node."),
            Column::new("Age", 0, "How long the agent has run."),
            Column::new("Version", 0, "The agent's version."),
            Column::new("Internal-IP", 1, "The node's address."),
            Column::new("External-IP", 1, "The node's external address."),
            Column::new("OS-Image", 1, "The host's distribution."),
            Column::new("Kernel-Version", 1, "The host's kernel."),
            Column::new(
                "Container-Runtime",
                1,
                "The container runtime and its version.",
            ),
        ]
    }

    fn cells(&self, now: SystemTime) -> Vec<Value> {
        let status = match self.status.conditions.iter().find(|c| c.type_ == "Ready") {
            Some(ready) if ready.status == "True" => "Ready",
            Some(_) => "NotReady",
            None => "Unknown",
        };
        let roles: Vec<&str> = self
            .metadata
            .labels
            .keys()
            .filter_map(|key| key.strip_prefix(ROLE_PREFIX))
            .filter(|role| !role.is_empty())
            .collect();
        let info = &self.status.node_info;
        vec![
            json!(self.metadata.name),
            json!(status),
            json!(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }),
            json!(age::since(self.metadata.creation_timestamp.as_deref(), now)),
            json!(info.kubelet_version),
            json!(address(self, "InternalIP")),
            json!(address(self, "ExternalIP")),
            json!(or_unknown(&info.os_image)),
            json!(or_unknown(&info.kernel_version)),
            json!(or_unknown(&info.container_runtime_version)),
        ]
    }

    fn name(&self) -> &str {
        &self.metadata.name
    }

    fn namespace(&self) -> &str {
        ""
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &self.metadata.labels
    }

    fn field(&self, field: &str) -> String {
        match field {
            "metadata.name" => self.metadata.name.clone(),
            // Nothing cordons a staticpod node.
            _ => "false".to_string(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use expect_test::expect;
    use staticpod_core::node::{HostFacts, NodeFacts};

    use crate::negotiate::IncludeObject;
    use crate::pods::tests::at;
    use crate::table::Table;

    pub(crate) fn facts() -> NodeFacts {
        NodeFacts {
            name: "node0".into(),
            address: "192.0.2.10".into(),
            host: HostFacts {
                kernel_version: "6.1.0-18-amd64".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                architecture: "amd64".into(),
                cpus: 2,
                memory_bytes: 4 << 30,
                ..HostFacts::default()
            },
            runtime_version: "docker://20.10.24".into(),
            started_at: Some(at(0)),
        }
    }

    #[test]
    fn the_node_prints_as_kube_apiservers_printer() {
        let ready = facts().view(Ok(()), at(3 * 3600));
        let down = facts().view(Err("container runtime: down".into()), at(3 * 3600));
        let table = Table::of(
            &[&ready, &down],
            None,
            IncludeObject::None,
            true,
            at(3 * 3600),
        );
        expect![[r#"
            NAME    STATUS     ROLES    AGE   VERSION            INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
            node0   Ready      <none>   3h    staticpod/v0.1.0   192.0.2.10    <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   docker://20.10.24
            node0   NotReady   <none>   3h    staticpod/v0.1.0   192.0.2.10    <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   docker://20.10.24
        "#]]
        .assert_eq(&table.render(true));
    }
}
