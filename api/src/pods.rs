//! Pods through the API: the v1 objects the agent builds, with the `creationTimestamp` the API
//! server would give their mirror pods, printed with kube-apiserver's pod columns (`NAME READY
//! STATUS RESTARTS AGE`, and `IP NODE NOMINATED NODE READINESS GATES` for `-o wide`), and
//! the fields a pod's field selector may name.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};
use staticpod_core::manifest::defaults::{
    CONFIG_HASH_ANNOTATION, CONFIG_MIRROR_ANNOTATION, CONFIG_SEEN_ANNOTATION,
};
use staticpod_core::model::RestartPolicy;
use staticpod_core::status::{PodView, printed, timestamp};

use crate::age;
use crate::resource::{Names, Resource};
use crate::table::{Column, RowCondition};

/// The pod as the API shows it, the kubelet's mirror pod: `creationTimestamp` is when the
/// agent first saw the pod's manifest, or when its sandbox was created if that was earlier
/// (a pod an agent adopted after a restart keeps its age); the mirror annotation (the
/// config hash), generation 1 and the node as its controlling owner, as the kubelet's
/// mirror client creates it.
pub fn api_object(view: &PodView) -> PodView {
    let seen = view.metadata.annotations.get(CONFIG_SEEN_ANNOTATION);
    let created = [seen, view.status.start_time.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|t| humantime::parse_rfc3339_weak(t).ok())
        .min();
    let mut pod = view.clone();
    pod.metadata.creation_timestamp = created.map(|t| Value::String(timestamp(t)));
    let meta = &mut pod.metadata;
    if let Some(hash) = meta.annotations.get(CONFIG_HASH_ANNOTATION).cloned() {
        meta.annotations
            .insert(CONFIG_MIRROR_ANNOTATION.to_string(), hash);
    }
    meta.generation = Some(json!(1));
    // The node's UID is its name (`staticpod_core::node::NodeMeta`).
    let node = view.spec.node_name.clone().unwrap_or_default();
    meta.owner_references = Some(json!([{
        "apiVersion": "v1",
        "kind": "Node",
        "name": node,
        "uid": node,
        "controller": true,
    }]));
    pod
}

/// `READY`, `STATUS` and `RESTARTS` as kube-apiserver's pod printer words them, with how
/// long ago the last restart was.
fn ready_status_restarts(pod: &PodView, now: SystemTime) -> (String, String, String) {
    let printed = printed(pod);
    let restarts = match &printed.last_restart {
        Some(at) if printed.restarts > 0 => {
            format!("{} ({} ago)", printed.restarts, age::since(Some(at), now))
        }
        _ => printed.restarts.to_string(),
    };
    (
        format!("{}/{}", printed.ready, printed.total),
        printed.status,
        restarts,
    )
}

fn or_none(value: Option<&String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| "<none>".to_string())
}

impl Resource for PodView {
    const NAMES: Names = Names {
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        short: "po",
        namespaced: true,
        verbs: &["delete", "get", "list", "watch"],
    };
    const FIELDS: &'static [&'static str] = &[
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
    ];

    fn columns() -> Vec<Column> {
        vec![
            Column::name(0),
            Column::new(
                "Ready",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            Column::new(
                "Status",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            Column::new(
                "Restarts",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            Column::new("Age", 0, "How long ago the pod was created."),
            Column::new("IP", 1, "The pod's IP address."),
            Column::new("Node", 1, "The node the pod runs on."),
            Column::new(
                "Nominated Node",
                1,
                "The node a scheduler nominated (none: static pods are not scheduled).",
            ),
            Column::new("Readiness Gates", 1, "The pod's readiness gates."),
        ]
    }

    fn cells(&self, now: SystemTime) -> Vec<Value> {
        let (ready, status, restarts) = ready_status_restarts(self, now);
        let created = self
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(Value::as_str);
        vec![
            json!(self.metadata.name),
            json!(ready),
            json!(status),
            json!(restarts),
            json!(age::since(created, now)),
            json!(or_none(self.status.pod_ip.as_ref())),
            json!(or_none(self.spec.node_name.as_ref())),
            json!("<none>"),
            json!("<none>"),
        ]
    }

    fn row_conditions(&self) -> Vec<RowCondition> {
        let (reason, message) = match self.status.phase.as_str() {
            "Succeeded" => ("Succeeded", "The pod has completed successfully."),
            "Failed" => ("Failed", "The pod failed."),
            _ => return Vec::new(),
        };
        vec![RowCondition {
            type_: "Completed".to_string(),
            status: "True".to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
        }]
    }

    fn name(&self) -> &str {
        &self.metadata.name
    }

    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &self.metadata.labels
    }

    fn field(&self, field: &str) -> String {
        let policy = match self.spec.restart_policy.unwrap_or_default() {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        };
        match field {
            "metadata.name" => self.metadata.name.clone(),
            "metadata.namespace" => self.metadata.namespace.clone(),
            "spec.nodeName" => self.spec.node_name.clone().unwrap_or_default(),
            "spec.restartPolicy" => policy.to_string(),
            "spec.hostNetwork" => self.spec.host_network.to_string(),
            "status.phase" => self.status.phase.clone(),
            "status.podIP" => self.status.pod_ip.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use expect_test::expect;
    use staticpod_core::model::{Container, ObjectMeta, PodSpec};
    use staticpod_core::status::{
        ContainerStateView, ContainerStatus, PodCondition, PodStatus, Running, Terminated, Waiting,
    };

    use super::*;
    use crate::negotiate::IncludeObject;
    use crate::table::Table;

    /// `2027-01-15T08:00:00Z` plus `seconds`.
    pub(crate) fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    fn condition(type_: &str, value: bool) -> PodCondition {
        PodCondition {
            type_: type_.to_string(),
            status: if value { "True" } else { "False" }.to_string(),
            reason: None,
            message: None,
            last_transition_time: None,
        }
    }

    fn running(name: &str, ready: bool, restarts: u32) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            ready,
            restart_count: restarts,
            image: "nginx:1.25".to_string(),
            started: true,
            state: ContainerStateView {
                running: Some(Running {
                    started_at: timestamp(at(20)),
                }),
                ..ContainerStateView::default()
            },
            ..ContainerStatus::default()
        }
    }

    /// A running pod `name` in `namespace` with `labels`, seen at `at(0)`.
    pub(crate) fn pod(namespace: &str, name: &str, labels: &[(&str, &str)]) -> PodView {
        PodView {
            api_version: "v1".into(),
            kind: "Pod".into(),
            metadata: ObjectMeta {
                name: name.into(),
                namespace: namespace.into(),
                uid: format!("uid-{name}"),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                annotations: BTreeMap::from([(
                    CONFIG_SEEN_ANNOTATION.to_string(),
                    timestamp(at(0)),
                )]),
                ..ObjectMeta::default()
            },
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "nginx:1.25".into(),
                    ..Container::default()
                }],
                node_name: Some("node0".into()),
                ..PodSpec::default()
            },
            status: PodStatus {
                phase: "Running".into(),
                conditions: vec![condition("Initialized", true), condition("Ready", true)],
                pod_ip: Some("172.17.0.4".into()),
                start_time: Some(timestamp(at(2))),
                container_statuses: vec![running("web", true, 0)],
                ..PodStatus::default()
            },
        }
    }

    #[test]
    fn a_pod_is_created_when_first_seen_or_when_its_sandbox_is_older() {
        let fresh = api_object(&pod("default", "web-node0", &[]));
        assert_eq!(
            fresh.metadata.creation_timestamp,
            Some(json!("2027-01-15T08:00:00Z"))
        );
        let mut adopted = pod("default", "web-node0", &[]);
        adopted.status.start_time = Some("2027-01-01T00:00:00Z".into());
        assert_eq!(
            api_object(&adopted).metadata.creation_timestamp,
            Some(json!("2027-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn pods_print_as_kube_apiservers_printer() {
        let web = api_object(&pod("default", "web-node0", &[]));
        let mut crashing = api_object(&pod("default", "crash-node0", &[]));
        crashing.status.conditions = vec![condition("Initialized", true)];
        crashing.status.container_statuses = vec![ContainerStatus {
            ready: false,
            restart_count: 3,
            state: ContainerStateView {
                waiting: Some(Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: None,
                }),
                ..ContainerStateView::default()
            },
            last_state: ContainerStateView {
                terminated: Some(Terminated {
                    exit_code: 1,
                    reason: "Error".into(),
                    started_at: Some(timestamp(at(600))),
                    finished_at: Some(timestamp(at(700))),
                    ..Terminated::default()
                }),
                ..ContainerStateView::default()
            },
            ..running("web", false, 3)
        }];
        let mut initializing = api_object(&pod("kube-system", "init-node0", &[]));
        initializing.status.phase = "Pending".into();
        initializing.status.pod_ip = None;
        initializing.status.conditions = vec![condition("Initialized", false)];
        initializing.spec.init_containers = vec![Container {
            name: "setup".into(),
            ..initializing.spec.containers[0].clone()
        }];
        initializing.status.init_container_statuses = vec![running("setup", false, 0)];
        initializing.status.container_statuses = vec![ContainerStatus {
            state: ContainerStateView {
                waiting: Some(Waiting {
                    reason: "PodInitializing".into(),
                    message: None,
                }),
                ..ContainerStateView::default()
            },
            ..running("web", false, 0)
        }];
        let mut done = api_object(&pod("default", "job-node0", &[]));
        done.status.phase = "Succeeded".into();
        done.status.container_statuses = vec![ContainerStatus {
            state: ContainerStateView {
                terminated: Some(Terminated {
                    exit_code: 0,
                    reason: "Completed".into(),
                    started_at: None,
                    finished_at: None,
                    ..Terminated::default()
                }),
                ..ContainerStateView::default()
            },
            ..running("web", false, 0)
        }];
        // A completed container beside a ready one reads as the pod's readiness.
        let mut half = api_object(&pod("default", "half-node0", &[]));
        half.spec.containers.push(half.spec.containers[0].clone());
        half.status.conditions = vec![condition("Initialized", true), condition("Ready", false)];
        half.status.container_statuses = vec![
            done.status.container_statuses[0].clone(),
            running("web", true, 0),
        ];
        let pods = [&web, &crashing, &initializing, &done, &half];
        let table = Table::of(&pods, Some(7), IncludeObject::None, true, at(1000));
        expect![[r#"
            NAME          READY   STATUS             RESTARTS     AGE   IP           NODE    NOMINATED NODE   READINESS GATES
            web-node0     1/1     Running            0            16m   172.17.0.4   node0   <none>           <none>
            crash-node0   0/1     CrashLoopBackOff   3 (5m ago)   16m   172.17.0.4   node0   <none>           <none>
            init-node0    0/1     Init:0/1           0            16m   <none>       node0   <none>           <none>
            job-node0     0/1     Completed          0            16m   172.17.0.4   node0   <none>           <none>
            half-node0    1/2     NotReady           0            16m   172.17.0.4   node0   <none>           <none>
        "#]]
        .assert_eq(&table.render(true));
        assert_eq!(table.rows[3].conditions[0].reason, "Succeeded");
    }

    #[test]
    fn a_table_row_carries_the_pods_metadata() {
        let web = api_object(&pod("default", "web-node0", &[("app", "web")]));
        let table = Table::of(&[&web], Some(7), IncludeObject::Metadata, true, at(12));
        let json = serde_json::to_string_pretty(&table.rows).unwrap();
        expect![[r#"
            [
              {
                "cells": [
                  "web-node0",
                  "1/1",
                  "Running",
                  "0",
                  "12s",
                  "172.17.0.4",
                  "node0",
                  "<none>",
                  "<none>"
                ],
                "object": {
                  "apiVersion": "meta.k8s.io/v1",
                  "kind": "PartialObjectMetadata",
                  "metadata": {
                    "annotations": {
                      "kubernetes.io/config.seen": "2027-01-15T08:00:00Z"
                    },
                    "creationTimestamp": "2027-01-15T08:00:00Z",
                    "generation": 1,
                    "labels": {
                      "app": "web"
                    },
                    "name": "web-node0",
                    "namespace": "default",
                    "ownerReferences": [
                      {
                        "apiVersion": "v1",
                        "controller": true,
                        "kind": "Node",
                        "name": "node0",
                        "uid": "node0"
                      }
                    ],
                    "uid": "uid-web-node0"
                  }
                }
              }
            ]"#]]
        .assert_eq(&json);
        let columns: Vec<(String, u32)> = table
            .column_definitions
            .iter()
            .map(|c| (c.name.clone(), c.priority))
            .collect();
        assert_eq!(columns.len(), web.cells(at(12)).len());
    }
}
