//! Resource versions for pods, which the agent's status does not carry: each published
//! status is compared with the last one seen, and every pod added, changed or gone is one
//! change with the next version. Lists carry the latest version; a watch from a version gets
//! the changes after it from a bounded history, or `410 Expired` once they are no longer kept
//! (as kube-apiserver's watch cache answers), so the client lists again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use staticpod_core::agent::NodeStatus;
use staticpod_core::status::PodView;

use crate::error::ApiError;
use crate::limits::MAX_WATCH_HISTORY;
use crate::pods::api_object;

/// What happened to an object, as a watch event's `type` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new object.
    Added,
    /// A changed object.
    Modified,
    /// An object that is gone.
    Deleted,
}

impl ChangeKind {
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change of one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its version.
    pub version: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// The pod after the change (before it, for a deletion), carrying the version.
    pub pod: Arc<PodView>,
}

/// The pods with their versions, and the latest changes.
#[derive(Debug, Default)]
pub struct PodVersions {
    version: u64,
    pods: BTreeMap<(String, String), Arc<PodView>>,
    history: VecDeque<Change>,
    /// Changes up to this version are no longer in the history.
    forgotten: u64,
}

impl PodVersions {
    /// Takes the agent's pods: what is new, changed or gone since the last call becomes
    /// a change.
    pub fn update<'a>(&mut self, pods: impl Iterator<Item = &'a PodView>) {
        let mut next: BTreeMap<(String, String), PodView> = pods
            .map(|pod| {
                let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
                (key, api_object(pod))
            })
            .collect();
        let gone: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|(key, old)| {
                next.get(*key)
                    .is_none_or(|new| new.metadata.uid != old.metadata.uid)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            let old = self.pods.remove(&key).expect("listed above");
            self.record(ChangeKind::Deleted, (*old).clone());
        }
        for (key, mut pod) in std::mem::take(&mut next) {
            let kind = match self.pods.get(&key) {
                None => ChangeKind::Added,
                Some(old) => {
                    pod.metadata.resource_version = old.metadata.resource_version.clone();
                    if **old == pod {
                        continue;
                    }
                    ChangeKind::Modified
                }
            };
            let stored = self.record(kind, pod);
            self.pods.insert(key, stored);
        }
    }

    fn record(&mut self, kind: ChangeKind, mut pod: PodView) -> Arc<PodView> {
        self.version += 1;
        pod.metadata.resource_version = Some(self.version.to_string());
        let pod = Arc::new(pod);
        self.history.push_back(Change {
            version: self.version,
            kind,
            pod: pod.clone(),
        });
        while self.history.len() > MAX_WATCH_HISTORY {
            let dropped = self.history.pop_front().expect("the history is not empty");
            self.forgotten = dropped.version;
        }
        pod
    }

    /// The latest version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every pod, by namespace and name.
    pub fn list(&self) -> impl Iterator<Item = &PodView> {
        self.pods.values().map(|pod| &**pod)
    }

    /// The pod `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&PodView> {
        self.pods
            .get(&(namespace.to_string(), name.to_string()))
            .map(|pod| &**pod)
    }

    /// The changes after `version`, oldest first; `Expired` when some of them are no longer
    /// kept, or `version` is newer than any this node gave (an agent that restarted).
    pub fn since(&self, version: u64) -> Result<Vec<Change>, ApiError> {
        if version > self.version {
            return Err(ApiError::UnknownVersion {
                requested: version,
                latest: self.version,
            });
        }
        if version < self.forgotten {
            return Err(ApiError::Expired {
                requested: version,
                oldest: self.forgotten,
            });
        }
        Ok(self
            .history
            .iter()
            .filter(|change| change.version > version)
            .cloned()
            .collect())
    }
}

/// The versioned pods, shared by every request, brought up to date with the agent's status
/// whenever one is read.
#[derive(Debug, Default)]
pub struct PodStore {
    inner: Mutex<(Option<Arc<NodeStatus>>, PodVersions)>,
}

/// A view of the store, current with the status it was read at.
pub struct Current<'a>(MutexGuard<'a, (Option<Arc<NodeStatus>>, PodVersions)>);

impl std::ops::Deref for Current<'_> {
    type Target = PodVersions;

    fn deref(&self) -> &PodVersions {
        &self.0.1
    }
}

impl PodStore {
    /// The store, brought up to date with `status` if it is not the one last seen.
    pub fn read(&self, status: &Arc<NodeStatus>) -> Current<'_> {
        let mut inner = self.inner.lock().expect("pod store lock");
        let (seen, versions) = &mut *inner;
        if !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, status)) {
            versions.update(status.mirror_pods());
            *seen = Some(status.clone());
        }
        Current(inner)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::pods::tests::pod;

    fn changes(versions: &PodVersions, since: u64) -> String {
        versions
            .since(since)
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} rv={}",
                    c.version,
                    c.kind.as_str(),
                    c.pod.metadata.name,
                    c.pod.metadata.resource_version.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn only_what_changed_is_a_change() {
        let mut versions = PodVersions::default();
        let web = pod("default", "web-node0", &[]);
        let db = pod("default", "db-node0", &[]);
        versions.update([web.clone(), db.clone()].iter());
        versions.update([web.clone(), db.clone()].iter());
        assert_eq!(versions.version(), 2, "the same pods again change nothing");
        let mut pending = web.clone();
        pending.status.phase = "Pending".into();
        let mut edited = db.clone();
        edited.metadata.uid = "uid-edited".into();
        versions.update([pending, edited].iter());
        versions.update(std::iter::empty());
        expect![[r#"
            1 ADDED db-node0 rv=1
            2 ADDED web-node0 rv=2
            3 DELETED db-node0 rv=3
            4 ADDED db-node0 rv=4
            5 MODIFIED web-node0 rv=5
            6 DELETED db-node0 rv=6
            7 DELETED web-node0 rv=7"#]]
        .assert_eq(&changes(&versions, 0));
        assert_eq!(changes(&versions, 6), "7 DELETED web-node0 rv=7");
        assert_eq!(versions.list().count(), 0);
    }

    #[test]
    fn a_watch_from_a_forgotten_version_is_expired() {
        let mut versions = PodVersions::default();
        let mut web = pod("default", "web-node0", &[]);
        for restarts in 0..(MAX_WATCH_HISTORY as u32 + 5) {
            web.status.container_statuses[0].restart_count = restarts;
            versions.update(std::iter::once(&web));
        }
        assert_eq!(
            versions.since(2),
            Err(ApiError::Expired {
                requested: 2,
                oldest: 5
            })
        );
        assert_eq!(versions.since(5).unwrap().len(), MAX_WATCH_HISTORY);
        assert!(versions.since(versions.version() + 1).is_err());
        assert_eq!(
            versions
                .get("default", "web-node0")
                .unwrap()
                .metadata
                .resource_version,
            Some(versions.version().to_string())
        );
    }
}
