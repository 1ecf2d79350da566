//! Reads the runtime's objects back into pods, using only the labels we put on them: this is
//! all the state the agent needs after a restart.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::hooks::Hook;
use crate::source::SourceKind;
use staticpod_runtime::labels;
use staticpod_runtime::{ContainerInfo, SandboxInfo};

/// Identifies a pod across manifest edits: namespace and full name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Full name (`static-web-node0`).
    pub name: String,
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Init or app container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainerKind {
    /// Runs to completion before the app containers.
    Init,
    /// An app container.
    App,
}

impl ContainerKind {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Init => "init",
            ContainerKind::App => "app",
        }
    }
}

/// A container as read back from the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    /// What the runtime said.
    pub info: ContainerInfo,
    /// Container name from the manifest.
    pub name: String,
    /// Restart count of this instance.
    pub attempt: u32,
    /// Restart count of the instance whose exit began its crash back-off.
    pub backoff_since: u32,
    /// Its `preStop` hook, as stored on it when it was created.
    pub pre_stop: Option<Hook>,
    /// Init or app.
    pub kind: ContainerKind,
    /// A native sidecar's index in `initContainers`, as stored on it when it was created.
    pub sidecar: Option<usize>,
}

/// A sandbox as read back from the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSandbox {
    /// What the runtime said.
    pub info: SandboxInfo,
    /// Its attempt number.
    pub attempt: u32,
}

/// Everything the runtime holds for one pod UID.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedPod {
    /// Namespace and full name.
    pub key: PodKey,
    /// UID.
    pub uid: String,
    /// Which manifest content it was created for.
    pub config_hash: String,
    /// The kind of source its manifest came from.
    pub source: SourceKind,
    /// Grace period it was created with.
    pub grace: Duration,
    /// Its sandboxes, oldest first.
    pub sandboxes: Vec<ObservedSandbox>,
    /// Its containers, by name then attempt.
    pub containers: Vec<ObservedContainer>,
}

impl ObservedPod {
    /// The newest ready sandbox.
    pub fn ready_sandbox(&self) -> Option<&ObservedSandbox> {
        self.sandboxes
            .iter()
            .filter(|s| s.info.state == staticpod_runtime::SandboxState::Ready)
            .max_by_key(|s| (s.attempt, s.info.created_at))
    }

    /// Instances of one container in one sandbox, oldest attempt first.
    pub fn instances<'a>(
        &'a self,
        name: &'a str,
        sandbox_id: &'a str,
    ) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
        self.containers.iter().filter(move |c| {
            c.name == name
                && c.info
                    .sandbox_id
                    .as_deref()
                    .is_none_or(|id| id == sandbox_id)
        })
    }
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    labels.get(key).map(String::as_str).unwrap_or_default()
}

fn number(labels: &BTreeMap<String, String>, key: &str) -> u32 {
    label(labels, key).parse().unwrap_or(0)
}

/// Groups the runtime's objects of node `node` by pod UID. Objects of other nodes or without
/// a UID label are not ours to judge and are left out.
pub fn group(
    node: &str,
    sandboxes: Vec<SandboxInfo>,
    containers: Vec<ContainerInfo>,
) -> BTreeMap<String, ObservedPod> {
    let mut pods: BTreeMap<String, ObservedPod> = BTreeMap::new();
    let mut pod_for = |labels: &BTreeMap<String, String>| -> Option<String> {
        let uid = label(labels, labels::POD_UID);
        if uid.is_empty() || label(labels, labels::NODE) != node {
            return None;
        }
        pods.entry(uid.to_string()).or_insert_with(|| ObservedPod {
            key: PodKey {
                namespace: label(labels, labels::POD_NAMESPACE).to_string(),
                name: label(labels, labels::POD_NAME).to_string(),
            },
            uid: uid.to_string(),
            config_hash: label(labels, labels::CONFIG_HASH).to_string(),
            source: match label(labels, labels::SOURCE) {
                "http" => SourceKind::Http,
                _ => SourceKind::File,
            },
            grace: Duration::from_secs(
                label(labels, labels::POD_GRACE_PERIOD)
                    .parse()
                    .unwrap_or(crate::manifest::defaults::DEFAULT_GRACE_SECONDS.unsigned_abs()),
            ),
            sandboxes: Vec::new(),
            containers: Vec::new(),
        });
        Some(uid.to_string())
    };
    let mut placed_sandboxes = Vec::new();
    for info in sandboxes {
        if let Some(uid) = pod_for(&info.labels) {
            let attempt = number(&info.labels, labels::SANDBOX_ATTEMPT);
            placed_sandboxes.push((uid, ObservedSandbox { info, attempt }));
        }
    }
    let mut placed_containers = Vec::new();
    for info in containers {
        if let Some(uid) = pod_for(&info.labels) {
            let kind = if label(&info.labels, labels::CONTAINER_KIND) == "init" {
                ContainerKind::Init
            } else {
                ContainerKind::App
            };
            placed_containers.push((
                uid,
                ObservedContainer {
                    name: label(&info.labels, labels::CONTAINER_NAME).to_string(),
                    attempt: number(&info.labels, labels::CONTAINER_RESTART_COUNT),
                    backoff_since: number(&info.labels, labels::BACKOFF_SINCE),
                    pre_stop: info
                        .labels
                        .get(labels::PRE_STOP_HANDLER)
                        .and_then(|json| serde_json::from_str(json).ok()),
                    kind,
                    sidecar: info
                        .labels
                        .get(labels::SIDECAR_INDEX)
                        .and_then(|index| index.parse().ok()),
                    info,
                },
            ));
        }
    }
    for (uid, sandbox) in placed_sandboxes {
        if let Some(pod) = pods.get_mut(&uid) {
            pod.sandboxes.push(sandbox);
        }
    }
    for (uid, container) in placed_containers {
        if let Some(pod) = pods.get_mut(&uid) {
            pod.containers.push(container);
        }
    }
    for pod in pods.values_mut() {
        pod.sandboxes
            .sort_by_key(|s| (s.attempt, s.info.created_at));
        pod.containers.sort_by(|a, b| {
            (&a.name, a.attempt, a.info.created_at).cmp(&(&b.name, b.attempt, b.info.created_at))
        });
    }
    pods
}
