//! The agent loop: takes manifest scans, runtime events and finished work, and after each
//! one reads the runtime, plans, and starts the work of every pod that is not already busy.
//! It never busy-polls: it wakes for inotify, runtime events, a back-off ending, or the
//! periodic resync.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::ingest::{ManifestReport, Manifests};
use crate::probe::Prober;
use crate::reconcile::execute::{Executor, WorkError, describe};
use crate::reconcile::history::History;
use crate::reconcile::observe::{self, ObservedPod, PodKey};
use crate::reconcile::plan;
use crate::source::dir;
use crate::status::{self, PodListView};
use staticpod_runtime::backoff::capped_doubling;
use staticpod_runtime::{ContainerRuntime, ContainerState, RuntimeError};

/// How the agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name (`--hostname-override`).
    pub node_name: String,
    /// The node's IP, for `status.hostIP`.
    pub host_ip: String,
    /// `--root-dir`.
    pub root_dir: PathBuf,
    /// `--pod-manifest-path`.
    pub manifest_path: PathBuf,
    /// `--file-check-frequency`.
    pub file_check_frequency: Duration,
    /// How often the runtime is read even without events.
    pub resync_period: Duration,
}

/// What the status endpoint shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Pods with their status, as the kubelet's `/pods`.
    pub pods: PodListView,
    /// How each manifest file stands.
    pub manifests: Vec<ManifestReport>,
    /// The runtime's last error, when it could not be read.
    pub runtime_error: Option<String>,
}

impl Default for NodeStatus {
    fn default() -> Self {
        NodeStatus {
            pods: PodListView {
                api_version: "v1".into(),
                kind: "PodList".into(),
                items: Vec::new(),
            },
            manifests: Vec::new(),
            runtime_error: None,
        }
    }
}

/// The node agent.
pub struct Agent {
    runtime: Arc<dyn ContainerRuntime>,
    runtime_name: String,
    config: AgentConfig,
    manifests: Manifests,
    history: History,
    executor: Executor,
    in_flight: BTreeSet<PodKey>,
    work: JoinSet<(PodKey, Result<(), WorkError>)>,
    status: watch::Sender<Arc<NodeStatus>>,
    runtime_failures: u32,
    /// Ids of exited containers already logged, so each exit is one log line.
    reported_exits: BTreeSet<String>,
    prober: Prober,
    probe_changes: mpsc::Receiver<()>,
}

/// The wait before trying a runtime that is down again is this, doubled once per failure in
/// a row (so 1 s after the first), up to [`RUNTIME_RETRY_MAX`].
const RUNTIME_RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between tries to reach a runtime that is down.
const RUNTIME_RETRY_MAX: Duration = Duration::from_secs(30);

impl Agent {
    /// An agent driving `runtime` (whose name, e.g. `docker`, prefixes container ids).
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        runtime_name: &str,
        config: AgentConfig,
    ) -> Self {
        let executor = Executor::new(
            runtime.clone(),
            config.root_dir.clone(),
            config.host_ip.clone(),
        );
        let (probe_changed, probe_changes) = mpsc::channel(1);
        let prober = Prober::new(runtime.clone(), probe_changed);
        Agent {
            manifests: Manifests::new(&config.node_name),
            runtime,
            runtime_name: runtime_name.to_string(),
            config,
            history: History::default(),
            executor,
            in_flight: BTreeSet::new(),
            work: JoinSet::new(),
            status: watch::channel(Arc::new(NodeStatus::default())).0,
            runtime_failures: 0,
            reported_exits: BTreeSet::new(),
            prober,
            probe_changes,
        }
    }

    /// A feed of the node's status, updated after every reconcile.
    pub fn status(&self) -> watch::Receiver<Arc<NodeStatus>> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes. Pods keep running after the agent stops: they live in
    /// the runtime, and the next agent adopts them.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut scans = dir::watch(
            self.config.manifest_path.clone(),
            self.config.file_check_frequency,
        );
        let mut events = self.watch_runtime().await;
        let mut scanned_once = false;
        let mut dirty = false;
        let mut wake_at: Option<Instant> = None;
        let mut resync = tokio::time::interval(self.config.resync_period);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Nothing is planned before the first complete reading of the manifests: an empty
            // desired set would kill every pod a previous agent started. While the runtime is
            // down, only the retry deadline (not events or resync ticks) tries it again.
            let backing_off =
                self.runtime_failures > 0 && wake_at.is_some_and(|at| Instant::now() < at);
            if dirty && scanned_once && !backing_off {
                dirty = false;
                wake_at = self.reconcile().await;
                if events.is_none() && self.runtime_failures == 0 {
                    events = self.watch_runtime().await;
                }
            }
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                scan = scans.recv() => {
                    let Some(scan) = scan else { return };
                    let ok = scan.is_ok();
                    let seen = status::timestamp(SystemTime::now());
                    let changed = self.manifests.update(scan, &self.config.manifest_path, &seen);
                    if ok && !scanned_once {
                        scanned_once = true;
                        dirty = true;
                        info!(path = %self.config.manifest_path.display(), pods = self.manifests.desired().len(), "manifests read");
                    }
                    dirty |= changed;
                    self.publish_manifests();
                }
                Some(()) = recv(&mut events) => dirty = true,
                Some(()) = self.probe_changes.recv() => dirty = true,
                Some(done) = self.work.join_next(), if !self.work.is_empty() => {
                    match done {
                        Ok((key, result)) => self.finish(key, result),
                        Err(join) => error!(%join, "pod work panicked"),
                    }
                    dirty = true;
                }
                _ = sleep => { wake_at = None; dirty = true; }
                _ = resync.tick() => dirty = true,
                _ = &mut shutdown => {
                    info!("stopping; pods keep running in the runtime");
                    return;
                }
            }
        }
    }

    async fn watch_runtime(&self) -> Option<mpsc::Receiver<()>> {
        match self.runtime.watch().await {
            Ok(events) => Some(events),
            Err(error) => {
                warn!(error = %describe(&error), "cannot watch runtime events; relying on periodic resync");
                None
            }
        }
    }

    fn finish(&mut self, key: PodKey, result: Result<(), WorkError>) {
        self.in_flight.remove(&key);
        match result {
            Ok(()) => self.history.record_success(&key),
            Err(error) => {
                let message = describe(&error);
                error!(pod = %key, "{message}");
                if !error.is_unavailable() {
                    self.history
                        .record_failure(&key, error.reason(), message, SystemTime::now());
                }
            }
        }
    }

    /// One pass: read the runtime, plan, start work, publish status. Returns when to wake
    /// up for a back-off or a retry.
    async fn reconcile(&mut self) -> Option<Instant> {
        let observed = match self.observe().await {
            Ok(observed) => observed,
            Err(error) => {
                self.runtime_failures += 1;
                let delay = capped_doubling(
                    RUNTIME_RETRY_INITIAL,
                    RUNTIME_RETRY_MAX,
                    self.runtime_failures,
                );
                let message = describe(&error);
                if self.runtime_failures == 1 {
                    warn!(retry_in = ?delay, "cannot read the container runtime: {message}");
                } else {
                    debug!(retry_in = ?delay, tries = self.runtime_failures, "container runtime still unavailable: {message}");
                }
                self.status.send_modify(|status| {
                    let mut next = (**status).clone();
                    next.runtime_error = Some(message);
                    *status = Arc::new(next);
                });
                return Some(Instant::now() + delay);
            }
        };
        if self.runtime_failures > 0 {
            info!(
                failed_tries = self.runtime_failures,
                "container runtime is back"
            );
            self.runtime_failures = 0;
        }
        self.report_exits(&observed);
        let now = SystemTime::now();
        let desired = self.manifests.desired().to_vec();
        self.prober.sync(&desired, &observed, &self.config.host_ip);
        self.history.set_probe_verdicts(self.prober.verdicts());
        let plan = plan::plan(&desired, &observed, &self.history, now);
        for work in plan.work {
            if self.in_flight.contains(&work.key) {
                continue;
            }
            self.in_flight.insert(work.key.clone());
            let executor = self.executor.clone();
            self.work.spawn(async move {
                let key = work.key.clone();
                (key, executor.run(work).await)
            });
        }
        let keys: BTreeSet<PodKey> = observed.values().map(|p| p.key.clone()).collect();
        self.history.retain(|key| {
            keys.contains(key)
                || desired
                    .iter()
                    .any(|p| p.full_name() == key.name && p.namespace() == key.namespace)
        });
        let pods = status::pod_list(
            &desired,
            &observed,
            &self.history,
            &self.config.host_ip,
            &self.runtime_name,
            now,
        );
        let manifests = self.manifests.reports();
        self.status.send_replace(Arc::new(NodeStatus {
            pods,
            manifests,
            runtime_error: None,
        }));
        plan.wake_at.map(|at| {
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            Instant::now() + wait
        })
    }

    /// Logs each container exit once: the event a user looks for when a pod restarts.
    fn report_exits(&mut self, observed: &BTreeMap<String, ObservedPod>) {
        let mut exited = BTreeSet::new();
        for pod in observed.values() {
            for container in &pod.containers {
                if let ContainerState::Exited {
                    exit_code,
                    oom_killed,
                    ..
                } = container.info.state
                {
                    if !self.reported_exits.contains(&container.info.id) {
                        info!(
                            pod = %pod.key,
                            container = %container.name,
                            attempt = container.attempt,
                            exit_code,
                            oom_killed,
                            "container exited"
                        );
                    }
                    exited.insert(container.info.id.clone());
                }
            }
        }
        self.reported_exits = exited;
    }

    async fn observe(&self) -> Result<BTreeMap<String, ObservedPod>, RuntimeError> {
        let (sandboxes, containers) = tokio::join!(
            self.runtime.list_sandboxes(),
            self.runtime.list_containers()
        );
        Ok(observe::group(
            &self.config.node_name,
            sandboxes?,
            containers?,
        ))
    }

    fn publish_manifests(&self) {
        let manifests = self.manifests.reports();
        self.status.send_modify(|status| {
            let mut next = (**status).clone();
            next.manifests = manifests;
            *status = Arc::new(next);
        });
    }
}

async fn recv(events: &mut Option<mpsc::Receiver<()>>) -> Option<()> {
    match events {
        Some(receiver) => match receiver.recv().await {
            Some(()) => Some(()),
            None => {
                *events = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    //! The agent loop end to end on the fake runtime and a real manifest directory.

    use std::sync::Arc;
    use std::time::Duration;

    use super::{Agent, AgentConfig};
    use staticpod_runtime::ContainerState;
    use staticpod_testkit::fake::FakeRuntime;

    const WEB: &str =
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n";

    async fn until(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn config(dir: &tempfile::TempDir) -> AgentConfig {
        AgentConfig {
            node_name: "node0".into(),
            host_ip: "192.0.2.10".into(),
            root_dir: dir.path().join("root"),
            manifest_path: dir.path().join("manifests"),
            file_check_frequency: Duration::from_secs(20),
            resync_period: Duration::from_secs(3600),
        }
    }

    fn start(runtime: &Arc<FakeRuntime>, dir: &tempfile::TempDir) -> (Agent, std::path::PathBuf) {
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        (Agent::new(runtime.clone(), "fake", config(dir)), manifests)
    }

    #[tokio::test]
    async fn a_runtime_that_goes_away_is_retried_and_pods_converge_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(FakeRuntime::with_images(&["nginx:1.25"]));
        runtime.set_down(true);
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        // A resync every 20 ms would hammer a down runtime without the back-off.
        let config = AgentConfig {
            resync_period: Duration::from_millis(20),
            ..config(&dir)
        };
        let agent = Agent::new(runtime.clone(), "fake", config);
        std::fs::write(manifests.join("web.yaml"), WEB).unwrap();
        let status = agent.status();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        until("the agent to report the runtime down", || {
            status.borrow().runtime_error.is_some()
        })
        .await;
        let tries = || {
            runtime
                .calls()
                .iter()
                .filter(|c| c.starts_with("list_sandboxes"))
                .count()
        };
        let seen = tries();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            tries() <= seen + 1,
            "a retry storm: {} list calls in 700 ms",
            tries() - seen
        );
        runtime.set_down(false);
        until("the pod to run once the runtime is back", || {
            runtime
                .containers()
                .iter()
                .any(|c| matches!(c.state, ContainerState::Running { .. }))
        })
        .await;
        until("the status to clear the error", || {
            status.borrow().runtime_error.is_none()
        })
        .await;
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(
            runtime.containers().len(),
            1,
            "stopping the agent leaves the pod running"
        );
    }

    #[tokio::test]
    async fn a_dropped_manifest_is_seen_through_inotify_and_its_removal_kills_the_pod() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(FakeRuntime::with_images(&["nginx:1.25"]));
        let (agent, manifests) = start(&runtime, &dir);
        let status = agent.status();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        // The first scan has happened once the status lists the (empty) manifests read.
        until("the first reconcile", || {
            runtime.calls().iter().any(|c| c == "list_containers")
        })
        .await;
        // With a 20 s file check frequency, only inotify brings the new file in time.
        std::fs::write(manifests.join("web.yaml"), WEB).unwrap();
        until("the pod to start", || runtime.containers().len() == 1).await;
        until("the status to list it", || {
            status.borrow().pods.items.len() == 1
        })
        .await;
        std::fs::remove_file(manifests.join("web.yaml")).unwrap();
        until("the pod to be removed", || {
            runtime.containers().is_empty() && runtime.sandboxes().is_empty()
        })
        .await;
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
