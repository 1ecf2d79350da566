//! The agent loop: takes manifest snapshots, runtime events and finished work, and after
//! each one reads the runtime, plans, and starts the work of every pod that is not already
//! busy. It never busy-polls: it wakes for a snapshot, a runtime event, a probe verdict, a
//! back-off ending, or the periodic resync. Its inputs are given to it (the snapshots as a
//! stream, the wall clock as a [`Clock`]), so its tests run in paused time.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use staticpod_runtime::backoff::capped_doubling;
use staticpod_runtime::clock::Clock;
use staticpod_runtime::{ContainerRuntime, ContainerState, RuntimeError};

use crate::diagnostic::Severity;
use crate::error_chain::describe;
use crate::events::{Events, ObjectReference, Recorder};
use crate::ingest::{ManifestReport, Manifests};
use crate::manifest::defaults::{CONFIG_SEEN_ANNOTATION, StaticPod};
use crate::memory;
use crate::metrics::instrumented::Instrumented;
use crate::metrics::{Gauges, Metrics};
use crate::node::{HostFacts, NodeFacts};
use crate::probe::Prober;
use crate::probe::kept::KeptVerdicts;
use crate::reconcile::admission::{self, Rejection, UnsafeSysctls};
use crate::reconcile::configs::{self, Dirs};
use crate::reconcile::dns::NodeDns;
use crate::reconcile::execute::{Executor, WorkError};
use crate::reconcile::history::History;
use crate::reconcile::observe::{self, ObservedPod, PodKey};
use crate::reconcile::plan::{self, CrashBackoff, Timing};
use crate::reconcile::security::NodePolicy;
use crate::reconcile::volumes;
use crate::source::{Reading, Snapshot, SourceKind};
use crate::status::{self, ContainerStatus, PodListView, PodView, StatusInputs, Transitions};
use crate::termination;

/// How the agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name (`--hostname-override`).
    pub node_name: String,
    /// The node's IP, for `status.hostIP`.
    pub host_ip: String,
    /// `--root-dir` and `--pod-logs-dir`.
    pub dirs: Dirs,
    /// The sources whose snapshots the agent takes: nothing is planned before each has
    /// answered once.
    pub sources: BTreeSet<SourceKind>,
    /// The host, for the node's API object.
    pub host: HostFacts,
    /// `<runtime>://<version>` of the runtime, for the node's API object.
    pub runtime_version: String,
    /// How often the runtime is read even without events.
    pub resync_period: Duration,
    /// `--seccomp-default`: `RuntimeDefault` for containers whose pod names no profile.
    pub seccomp_default: bool,
    /// The sysctls allowed beyond the safe ones (`--allowed-unsafe-sysctls`).
    pub unsafe_sysctls: UnsafeSysctls,
    /// `--resolv-conf`, `--cluster-dns` and `--cluster-domain`: what the pods' resolver
    /// files are made from.
    pub dns: NodeDns,
    /// The crash back-off (`crashLoopBackOff.maxContainerRestartPeriod`).
    pub crash_backoff: CrashBackoff,
    /// How long a runtime call may go unanswered (`--runtime-request-timeout`).
    pub runtime_request_timeout: Duration,
}

/// What the status endpoint shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Pods with their status, as the kubelet's `/pods`.
    pub pods: PodListView,
    /// The earlier versions of updated pods that are still terminating, with their status:
    /// the API shows each in place of the pod that took its name until it is gone, as the
    /// kubelet keeps the old mirror pod ([`NodeStatus::mirror_pods`]).
    pub superseded: Vec<PodView>,
    /// How each manifest file stands.
    pub manifests: Vec<ManifestReport>,
    /// The runtime's last error, when it could not be read.
    pub runtime_error: Option<String>,
    /// The sources that have not answered yet: until they have, nothing is planned.
    pub awaiting: Vec<SourceKind>,
    /// What the node's API object is made of.
    #[serde(skip)]
    pub node: Arc<NodeFacts>,
    /// True from the first pass that found nothing left to do and no pod on its way up: every
    /// pod of the sources running, done, or waiting out a failure (systemd's `READY=1`).
    pub settled: bool,
    /// True once a pass has read the runtime after every source answered: from then on
    /// `pods` lists every pod (before, a just-started agent would list none).
    pub listed: bool,
}

impl NodeStatus {
    /// The pods as the API shows them, the kubelet's mirror pods: each of `pods`, but an
    /// updated one whose earlier version is still terminating is that earlier version.
    pub fn mirror_pods(&self) -> impl Iterator<Item = &PodView> {
        let replaced = |pod: &PodView| {
            self.superseded.iter().any(|old| {
                old.metadata.name == pod.metadata.name
                    && old.metadata.namespace == pod.metadata.namespace
            })
        };
        self.pods
            .items
            .iter()
            .filter(move |pod| !replaced(pod))
            .chain(&self.superseded)
    }

    /// Healthy once the runtime answers and every source has answered once, as the
    /// kubelet's `/healthz`; otherwise why not.
    pub fn health(&self) -> Result<(), String> {
        if let Some(error) = &self.runtime_error {
            return Err(format!("container runtime: {error}"));
        }
        if !self.awaiting.is_empty() {
            let sources: Vec<&str> = self.awaiting.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "waiting for the first reading of the {} source",
                sources.join(" and ")
            ));
        }
        Ok(())
    }
}

impl Default for NodeStatus {
    fn default() -> Self {
        NodeStatus {
            pods: PodListView {
                api_version: "v1".into(),
                kind: "PodList".into(),
                items: Vec::new(),
            },
            superseded: Vec::new(),
            manifests: Vec::new(),
            runtime_error: None,
            awaiting: Vec::new(),
            node: Arc::default(),
            settled: false,
            listed: false,
        }
    }
}

/// The end of one pod's work: its key, its UID (none for a pod gone from the manifests) and
/// how it went.
type WorkDone = (PodKey, Option<String>, Result<(), WorkError>);

/// The node agent.
pub struct Agent {
    runtime: Arc<dyn ContainerRuntime>,
    runtime_name: String,
    config: AgentConfig,
    clock: Arc<dyn Clock>,
    manifests: Manifests,
    history: History,
    executor: Executor,
    recorder: Recorder,
    in_flight: BTreeSet<PodKey>,
    /// Whether work was started since the memory freed was last given back: the first idle
    /// pass after a burst of work (the start's adoption or a hundred pods) gives it back.
    worked: bool,
    work: JoinSet<WorkDone>,
    status: watch::Sender<Arc<NodeStatus>>,
    runtime_failures: u32,
    /// Ids of exited containers already logged, so each exit is one log line.
    reported_exits: BTreeSet<String>,
    /// The termination messages of the exited containers, read once each.
    messages: BTreeMap<String, String>,
    /// When each pod condition last changed.
    transitions: Transitions,
    /// Sources that have answered at least once, completely or not.
    answered: BTreeSet<SourceKind>,
    /// When the last status was computed.
    last_pass: Option<SystemTime>,
    /// Every pod listed in the last status, by UID: a pod whose manifest has gone stays
    /// listed while it terminates, as the kubelet keeps a static pod's mirror pod until its
    /// containers have stopped (`HandlePodCleanups` spares a terminating pod's mirror).
    listed: BTreeMap<String, Arc<StaticPod>>,
    /// Sources read completely at least once: only their pods are planned for; the pods of
    /// the others are kept as they are.
    read: BTreeSet<SourceKind>,
    prober: Prober,
    probe_changes: mpsc::Receiver<()>,
    /// Set once a pass found nothing left to do.
    settled: bool,
    metrics: Arc<Metrics>,
    /// UIDs of the pods seen running, whose start is measured once.
    running: BTreeSet<String>,
    /// UIDs of the pods the node's admission refused, each told once.
    rejected: BTreeSet<String>,
    heartbeat: Option<Heartbeat>,
}

/// A call made from the agent's own loop at a fixed interval, so a watchdog fed by it
/// starves when the loop is stuck.
struct Heartbeat {
    every: Duration,
    beat: Beat,
}

type Beat = Box<dyn FnMut() + Send + Sync>;

/// The wait before trying a runtime that is down again is this, doubled once per failure in
/// a row (so 1 s after the first), up to [`RUNTIME_RETRY_MAX`].
const RUNTIME_RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between tries to reach a runtime that is down.
const RUNTIME_RETRY_MAX: Duration = Duration::from_secs(30);

impl Agent {
    /// An agent driving `runtime` (whose name, e.g. `docker`, prefixes container ids), on
    /// `clock`'s time.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        runtime_name: &str,
        config: AgentConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let events = Arc::new(Events::new(&config.node_name));
        let recorder = Recorder::new(events, clock.clone());
        let metrics = Arc::new(Metrics::new());
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(Instrumented::new(
            runtime,
            metrics.clone(),
            config.runtime_request_timeout,
        ));
        let executor = Executor::new(
            runtime.clone(),
            config.dirs.clone(),
            config.host_ip.clone(),
            recorder.clone(),
            metrics.clone(),
        )
        .with_policy(NodePolicy {
            seccomp_default: config.seccomp_default,
            cluster_domain: config.dns.cluster_domain.clone().unwrap_or_default(),
            ..NodePolicy::of_host(&config.host, &config.dirs.root)
        })
        .with_dns(config.dns.clone());
        let (probe_changed, probe_changes) = mpsc::channel(1);
        let prober = Prober::new(
            runtime.clone(),
            clock.clone(),
            recorder.clone(),
            metrics.clone(),
            probe_changed,
            KeptVerdicts::in_dir(&config.dirs.root),
        );
        let awaiting = config.sources.iter().copied().collect();
        let node = Arc::new(NodeFacts {
            name: config.node_name.clone(),
            address: config.host_ip.clone(),
            host: config.host.clone(),
            runtime_version: config.runtime_version.clone(),
            started_at: Some(clock.now()),
        });
        Agent {
            manifests: Manifests::new(&config.node_name),
            runtime,
            runtime_name: runtime_name.to_string(),
            config,
            clock,
            history: History::default(),
            executor,
            recorder,
            in_flight: BTreeSet::new(),
            worked: true,
            work: JoinSet::new(),
            status: watch::channel(Arc::new(NodeStatus {
                awaiting,
                node,
                ..NodeStatus::default()
            }))
            .0,
            runtime_failures: 0,
            reported_exits: BTreeSet::new(),
            messages: BTreeMap::new(),
            transitions: Transitions::default(),
            answered: BTreeSet::new(),
            read: BTreeSet::new(),
            last_pass: None,
            listed: BTreeMap::new(),
            prober,
            probe_changes,
            settled: false,
            heartbeat: None,
            metrics,
            running: BTreeSet::new(),
            rejected: BTreeSet::new(),
        }
    }

    /// The node's metrics, as the agent counts them.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The runtime the agent drives, its calls counted in [`Agent::metrics`]: what reads
    /// containers' logs for the node's API.
    pub fn runtime(&self) -> Arc<dyn ContainerRuntime> {
        self.runtime.clone()
    }

    /// Calls `beat` every `every` from the agent's loop, between passes: a loop stuck in a
    /// pass (a runtime call that never returns) stops calling it, which is what systemd's
    /// watchdog is for.
    pub fn with_heartbeat(
        mut self,
        every: Duration,
        beat: impl FnMut() + Send + Sync + 'static,
    ) -> Self {
        self.heartbeat = Some(Heartbeat {
            every,
            beat: Box::new(beat),
        });
        self
    }

    /// The node's events, as the agent records them.
    pub fn events(&self) -> Arc<Events> {
        self.recorder.events().clone()
    }

    /// A feed of the node's status, updated after every reconcile.
    pub fn status(&self) -> watch::Receiver<Arc<NodeStatus>> {
        self.status.subscribe()
    }

    /// Runs on the manifest `snapshots` until `shutdown` completes, or the snapshots end.
    /// Pods keep running after the agent stops: they live in the runtime, and the next agent
    /// adopts them.
    pub async fn run(
        mut self,
        mut snapshots: mpsc::Receiver<Snapshot>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut events = self.watch_runtime().await;
        let mut dirty = false;
        // What made the pass due, for the debug line of each pass.
        let mut why = "start";
        let mut wake_at: Option<Instant> = None;
        let mut resync = tokio::time::interval(self.config.resync_period);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = self.heartbeat.take().map(|h| {
            let mut interval = tokio::time::interval(h.every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (interval, h.beat)
        });
        loop {
            // Nothing is planned before every source has answered once. While the runtime is
            // down, only the retry deadline (not events or resync ticks) tries it again.
            let backing_off =
                self.runtime_failures > 0 && wake_at.is_some_and(|at| Instant::now() < at);
            let answered = self.config.sources.is_subset(&self.answered);
            if dirty && answered && !backing_off {
                dirty = false;
                debug!(why, in_flight = self.in_flight.len(), "pass");
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
                snapshot = snapshots.recv() => {
                    let Some(snapshot) = snapshot else { return };
                    if self.take(snapshot) {
                        (dirty, why) = (true, "manifests");
                    }
                }
                Some(()) = recv(&mut events) => (dirty, why) = (true, "runtime event"),
                Some(()) = self.probe_changes.recv() => (dirty, why) = (true, "probe verdict"),
                Some(done) = self.work.join_next(), if !self.work.is_empty() => {
                    self.take_done(done);
                    // Every other work done by now is taken in too, for one pass: a pass
                    // each (a relist each) held an edit back behind a hundred of them
                    // after a scale-up, the work of the edited pod last in the queue.
                    while let Some(done) = self.work.try_join_next() {
                        self.take_done(done);
                    }
                    (dirty, why) = (true, "pod work done");
                }
                _ = sleep => { wake_at = None; (dirty, why) = (true, "back-off over"); }
                _ = resync.tick() => (dirty, why) = (true, "resync"),
                Some(beat) = tick(&mut heartbeat) => beat(),
                _ = &mut shutdown => {
                    info!("stopping; pods keep running in the runtime");
                    return;
                }
            }
        }
    }

    /// Takes a source's snapshot in; true when the pods to plan for may have changed.
    fn take(&mut self, snapshot: Snapshot) -> bool {
        let kind = snapshot.kind;
        let complete = matches!(snapshot.reading, Reading::Complete(_));
        let result = match snapshot.reading {
            Reading::Complete(_) => "complete",
            Reading::Unchanged => "unchanged",
            Reading::Failed(_) => "failed",
        };
        self.metrics.source_read(kind.as_str(), result);
        let location = snapshot.location.clone();
        let seen = status::timestamp(self.clock.now());
        let before = self.manifests.reports();
        let skipped_before = self.manifests.skipped().clone();
        let changed = self.manifests.update(snapshot, &seen);
        let recreated = self.manifests.take_recreated();
        for pod in &recreated {
            let key = PodKey {
                namespace: pod.namespace().to_string(),
                name: pod.full_name().to_string(),
            };
            self.history.request_restart(key, pod.uid().to_string());
        }
        self.record_manifest_events(&before, &skipped_before);
        let first_answer = self.answered.insert(kind);
        let first_reading = complete && self.read.insert(kind);
        if first_reading {
            info!(source = %location, %kind, pods = self.manifests.desired().len(), "manifests read");
        } else if first_answer {
            warn!(source = %location, %kind, "the first reading failed; the pods this source started before are kept until it is read");
        }
        self.publish_manifests();
        changed || !recreated.is_empty() || first_answer || first_reading
    }

    /// Tells each container waiting out a back-off as the kubelet does at every sync: a
    /// `BackOff` event, counted up while it lasts.
    fn record_back_offs(&self, pods: &PodListView) {
        for pod in &pods.items {
            let meta = &pod.metadata;
            let object = ObjectReference::pod(&meta.namespace, &meta.name, &meta.uid);
            let statuses = [
                (true, &pod.status.init_container_statuses),
                (false, &pod.status.container_statuses),
            ];
            for (init, list) in statuses {
                for container in list {
                    let Some(waiting) = &container.state.waiting else {
                        continue;
                    };
                    let object = object.container(init, &container.name);
                    match waiting.reason.as_str() {
                        "CrashLoopBackOff" => {
                            let message = format!(
                                "Back-off restarting failed container {} in pod {}_{}({})",
                                container.name, meta.name, meta.namespace, meta.uid
                            );
                            self.recorder.warning(&object, "BackOff", &message);
                        }
                        "ImagePullBackOff" => {
                            let message = format!("Back-off pulling image {:?}", container.image);
                            self.recorder.normal(&object, "BackOff", &message);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Tells what changed about the manifests as events: a file that became invalid
    /// (`ManifestInvalid`), a pod name declared twice (`ManifestConflict`), a file skipped
    /// (`ManifestSkipped`). They are about the file's pods, or the node when it has none.
    fn record_manifest_events(
        &self,
        before: &[ManifestReport],
        skipped_before: &BTreeSet<std::path::PathBuf>,
    ) {
        let node = ObjectReference::node(&self.config.node_name);
        // Linear in the files: 5 000 files at start are 5 000 lookups, not 5 000 scans.
        let before: HashMap<&std::path::Path, &ManifestReport> =
            before.iter().map(|r| (r.file.as_path(), r)).collect();
        let mut desired: Option<HashMap<String, &Arc<StaticPod>>> = None;
        let errors = |r: &ManifestReport| -> Vec<String> {
            r.diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.to_string())
                .collect()
        };
        for report in self.manifests.reports() {
            let old = before.get(report.file.as_path()).map(|o| errors(o));
            let new_errors: Vec<String> = errors(&report)
                .into_iter()
                .filter(|e| old.as_ref().is_none_or(|o| !o.contains(e)))
                .collect();
            if new_errors.is_empty() {
                continue;
            }
            let desired = desired.get_or_insert_with(|| {
                self.manifests
                    .desired()
                    .iter()
                    .map(|p| (format!("{}/{}", p.namespace(), p.full_name()), p))
                    .collect()
            });
            let objects: Vec<ObjectReference> = report
                .pods
                .iter()
                .filter_map(|full| desired.get(full))
                .map(|p| ObjectReference::pod(p.namespace(), p.full_name(), p.uid()))
                .collect();
            for error in new_errors {
                let reason = if error.contains("is already declared by") {
                    "ManifestConflict"
                } else {
                    "ManifestInvalid"
                };
                for object in objects.iter().chain(objects.is_empty().then_some(&node)) {
                    self.recorder.warning(object, reason, &error);
                }
            }
        }
        for file in self.manifests.skipped().difference(skipped_before) {
            let message = format!("{} is not a manifest and is skipped", file.display());
            self.recorder.normal(&node, "ManifestSkipped", &message);
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

    /// Takes in the end of one pod's work.
    fn take_done(&mut self, done: Result<WorkDone, tokio::task::JoinError>) {
        match done {
            Ok((key, uid, result)) => self.finish(key, uid, result),
            Err(join) => error!(%join, "pod work panicked"),
        }
    }

    fn finish(&mut self, key: PodKey, uid: Option<String>, result: Result<(), WorkError>) {
        self.in_flight.remove(&key);
        match result {
            Ok(()) => self.history.record_success(&key),
            Err(error) => {
                let message = describe(&error);
                error!(pod = %key, "{message}");
                if !error.is_unavailable() {
                    let (uid, now) = (uid.as_deref(), self.clock.now());
                    self.history.record_failure(
                        &key,
                        uid,
                        error.container(),
                        error.reason(),
                        describe(error.as_shown()),
                        now,
                    );
                }
            }
        }
    }

    /// One pass: read the runtime, plan, start work, publish status. Returns when to wake
    /// up for a back-off or a retry.
    async fn reconcile(&mut self) -> Option<Instant> {
        let relist = std::time::Instant::now();
        let observed = self.observe().await;
        let relisted = relist.elapsed();
        self.metrics.relist_took(relisted);
        let mut observed = match observed {
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
        // The pods of a source never read completely are not judged: an unreachable URL at
        // start must not kill the pods it started before the agent restarted.
        observed.retain(|_, pod| self.read.contains(&pod.source));
        self.report_exits(&observed);
        self.history.forget_lost_sandboxes(&observed);
        let declared = self.manifests.desired().to_vec();
        let rejections = self.admit(&declared);
        // Almost always none is refused: the declared pods are then the desired ones, with
        // no second list made at every pass.
        let desired: Cow<'_, [Arc<StaticPod>]> = if rejections.is_empty() {
            Cow::Borrowed(&declared)
        } else {
            declared
                .iter()
                .filter(|pod| !rejections.contains_key(pod.uid()))
                .cloned()
                .collect()
        };
        self.read_termination_messages(&observed, &desired).await;
        let now = self.clock.now();
        self.prober.sync(&desired, &observed, &self.config.host_ip);
        let verdicts = self.prober.verdicts();
        let timing = Timing {
            now,
            backoff: self.config.crash_backoff,
        };
        let plan = plan::plan(&desired, &observed, &self.history, &verdicts, timing);
        let idle = plan.work.is_empty() && self.in_flight.is_empty();
        self.worked |= !plan.work.is_empty();
        for work in plan.work {
            if self.in_flight.contains(&work.key) {
                continue;
            }
            self.in_flight.insert(work.key.clone());
            self.history.restart_started(&work.key);
            let executor = self.executor.clone();
            self.work.spawn(async move {
                let key = work.key.clone();
                let uid = work.pod.as_ref().map(|p| p.uid().to_string());
                (key, uid, executor.run(work).await)
            });
        }
        // Failures of pods neither present nor desired are forgotten: borrowed keys, so a
        // pass costs no clone and no search of every desired pod per failure.
        let keys: HashSet<(&str, &str)> = observed
            .values()
            .map(|p| (p.key.namespace.as_str(), p.key.name.as_str()))
            .chain(declared.iter().map(|p| (p.namespace(), p.full_name())))
            .collect();
        self.history
            .retain(|key| keys.contains(&(key.namespace.as_str(), key.name.as_str())));
        let (shown, superseded) = self.shown(&declared, &observed);
        let inputs = StatusInputs {
            history: &self.history,
            verdicts: &verdicts,
            messages: &self.messages,
            host_ip: &self.config.host_ip,
            runtime_name: &self.runtime_name,
            now,
            previous_pass: self.last_pass.replace(now),
            backoff: self.config.crash_backoff,
        };
        let planned = relist.elapsed();
        let mut pods = status::pod_list(&shown, &observed, &inputs);
        let superseded = status::pod_list(&superseded, &observed, &inputs).items;
        for pod in &mut pods.items {
            if let Some(rejection) = rejections.get(pod.metadata.uid.as_str()) {
                pod.status = status::rejected(&pod.spec, rejection, &self.config.host_ip);
            }
        }
        self.transitions.stamp(&mut pods, now);
        self.settled |= idle && !pods.items.iter().any(starting);
        self.measure(&observed, &pods, now);
        self.record_back_offs(&pods);
        let manifests = self.manifests.reports();
        let node = self.status.borrow().node.clone();
        let awaiting = self.awaiting();
        // `decide`: termination messages, probe workers, the plan and its spawning.
        debug!(
            relist = ?relisted,
            decide = ?planned.saturating_sub(relisted),
            status = ?relist.elapsed().saturating_sub(planned),
            pods = pods.items.len(),
            in_flight = self.in_flight.len(),
            "pass done"
        );
        self.status.send_replace(Arc::new(NodeStatus {
            pods,
            superseded,
            manifests,
            runtime_error: None,
            listed: awaiting.is_empty(),
            awaiting,
            node,
            settled: self.settled,
        }));
        if idle && std::mem::take(&mut self.worked) {
            let trim = std::time::Instant::now();
            let released = memory::release_freed();
            debug!(released, took = ?trim.elapsed(), "freed memory given back");
        }
        plan.wake_at.map(|at| {
            let wait = at.duration_since(self.clock.now()).unwrap_or_default();
            Instant::now() + wait
        })
    }

    /// The node's admission of each declared pod (`reconcile::admission`): the refused ones
    /// by UID, each logged and told as a `Warning` event the first time, as the kubelet's
    /// `rejectPod` does.
    fn admit(&mut self, declared: &[Arc<StaticPod>]) -> HashMap<String, Rejection> {
        let rejections: HashMap<String, Rejection> = declared
            .iter()
            .filter_map(|pod| {
                let rejection = admission::admit(pod, &self.config.unsafe_sysctls).err()?;
                if self.rejected.insert(pod.uid().to_string()) {
                    warn!(pod = %format!("{}/{}", pod.namespace(), pod.full_name()), reason = rejection.reason, "pod rejected: {}", rejection.message);
                    let object = ObjectReference::pod(pod.namespace(), pod.full_name(), pod.uid());
                    self.recorder
                        .warning(&object, rejection.reason, &rejection.message);
                }
                Some((pod.uid().to_string(), rejection))
            })
            .collect();
        self.rejected.retain(|uid| rejections.contains_key(uid));
        rejections
    }

    /// The pods to list: the desired ones, then those whose manifest has gone that are
    /// still in the runtime (being killed) and whose name no desired pod has taken; and,
    /// apart, the earlier versions still in the runtime of pods whose manifest changed.
    fn shown(
        &mut self,
        desired: &[Arc<StaticPod>],
        observed: &BTreeMap<String, ObservedPod>,
    ) -> (Vec<Arc<StaticPod>>, Vec<Arc<StaticPod>>) {
        let named = |pod: &StaticPod| {
            desired
                .iter()
                .any(|d| d.full_name() == pod.full_name() && d.namespace() == pod.namespace())
        };
        let desired_uids: HashSet<&str> = desired.iter().map(|p| p.uid()).collect();
        self.listed
            .retain(|uid, _| observed.contains_key(uid) && !desired_uids.contains(uid.as_str()));
        let (superseded, leaving): (Vec<Arc<StaticPod>>, Vec<Arc<StaticPod>>) =
            self.listed.values().cloned().partition(|pod| named(pod));
        self.listed
            .extend(desired.iter().map(|p| (p.uid().to_string(), p.clone())));
        (desired.iter().cloned().chain(leaving).collect(), superseded)
    }

    /// Sets the metrics a pass sees: the pods and containers in the runtime, the pods
    /// declared, the manifests with errors, and how long each pod that now runs took since
    /// it was first seen (as the kubelet, once, on its first pass as `Running`).
    fn measure(
        &mut self,
        observed: &BTreeMap<String, ObservedPod>,
        pods: &PodListView,
        now: SystemTime,
    ) {
        let mut containers = [
            ("created", 0),
            ("running", 0),
            ("exited", 0),
            ("unknown", 0),
        ];
        for container in observed.values().flat_map(|p| &p.containers) {
            let state = match container.info.state {
                ContainerState::Created => 0,
                ContainerState::Running { .. } => 1,
                ContainerState::Exited { .. } => 2,
                ContainerState::Unknown => 3,
            };
            containers[state].1 += 1;
        }
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let manifest_errors = self.manifests.files_with_errors();
        self.metrics.set(&Gauges {
            running_pods: count(
                observed
                    .values()
                    .filter(|p| p.ready_sandbox().is_some())
                    .count(),
            ),
            containers: containers.to_vec(),
            desired_pods: count(self.manifests.desired().len()),
            manifest_errors: count(manifest_errors),
        });
        self.running
            .retain(|uid| pods.items.iter().any(|p| p.metadata.uid == *uid));
        for pod in &pods.items {
            if pod.status.phase != "Running" || !self.running.insert(pod.metadata.uid.clone()) {
                continue;
            }
            let seen = pod
                .metadata
                .annotations
                .get(CONFIG_SEEN_ANNOTATION)
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
            if let Some(took) = seen.and_then(|seen| now.duration_since(seen).ok()) {
                self.metrics.pod_start_took(took);
            }
        }
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

    /// Reads the termination message of every exited container not read yet (its file on
    /// the node, off the async threads; its log's tail when its pod in `desired` says
    /// `FallbackToLogsOnError`, it failed and the file is empty), and forgets those of
    /// containers that are gone.
    async fn read_termination_messages(
        &mut self,
        observed: &BTreeMap<String, ObservedPod>,
        desired: &[Arc<StaticPod>],
    ) {
        let mut unread = Vec::new();
        let mut exited = BTreeSet::new();
        for pod in observed.values() {
            let spec = desired.iter().find(|d| d.uid() == pod.uid);
            for container in &pod.containers {
                let ContainerState::Exited { exit_code, .. } = container.info.state else {
                    continue;
                };
                exited.insert(container.info.id.clone());
                if self.messages.contains_key(&container.info.id) {
                    continue;
                }
                let path = configs::termination_log(
                    &self.config.dirs.root,
                    &pod.uid,
                    &container.name,
                    container.attempt,
                );
                let fallback = spec
                    .and_then(|s| s.container(&container.name))
                    .is_some_and(|c| termination::falls_back_to_logs(c, exit_code));
                unread.push((container.info.id.clone(), path, fallback));
            }
        }
        self.messages.retain(|id, _| exited.contains(id));
        if unread.is_empty() {
            return;
        }
        let read = tokio::task::spawn_blocking(move || {
            unread
                .into_iter()
                .map(|(id, path, fallback)| {
                    (volumes::read_termination_message(&path), id, fallback)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (message, id, fallback) in read {
            let message = match message {
                None if fallback => termination::from_log(self.runtime.as_ref(), &id).await,
                message => message,
            };
            // An empty message is remembered too, so the file is read once.
            self.messages.insert(id, message.unwrap_or_default());
        }
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

    /// The configured sources that have not answered yet.
    fn awaiting(&self) -> Vec<SourceKind> {
        self.config
            .sources
            .difference(&self.answered)
            .copied()
            .collect()
    }

    fn publish_manifests(&self) {
        let manifests = self.manifests.reports();
        let awaiting = self.awaiting();
        self.status.send_modify(|status| {
            let mut next = (**status).clone();
            next.manifests = manifests;
            next.awaiting = awaiting;
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

/// A pod still on its way up: pending, with nothing stuck (an init container still runs, a
/// container is being created) rather than waiting out a failure.
fn starting(pod: &PodView) -> bool {
    let status = &pod.status;
    let stuck = |c: &ContainerStatus| {
        let waiting = c.state.waiting.as_ref();
        let failed = c
            .state
            .terminated
            .as_ref()
            .is_some_and(|t| t.exit_code != 0);
        failed
            || waiting.is_some_and(|w| {
                !matches!(w.reason.as_str(), "ContainerCreating" | "PodInitializing")
            })
    };
    status.phase == "Pending"
        && !status
            .init_container_statuses
            .iter()
            .chain(&status.container_statuses)
            .any(stuck)
}

/// Waits for the heartbeat's next tick and hands back its call; never, without one.
async fn tick(heartbeat: &mut Option<(tokio::time::Interval, Beat)>) -> Option<&mut Beat> {
    match heartbeat {
        Some((interval, beat)) => {
            interval.tick().await;
            Some(beat)
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    //! The agent loop on the fake runtime, in paused time: snapshots arrive on a channel, the
    //! clock follows tokio's, so every wait below is virtual and every time is exact.

    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use staticpod_runtime::ContainerState;

    use crate::metrics::instrumented::DEFAULT_REQUEST_TIMEOUT;
    use staticpod_runtime::clock::{Clock, TokioClock};
    use staticpod_testkit::fake::FakeRuntime;
    use tokio::sync::{mpsc, oneshot, watch};
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    use super::{Agent, AgentConfig, NodeStatus};
    use crate::node::HostFacts;
    use crate::reconcile::configs::{self, Dirs};
    use crate::reconcile::dns::NodeDns;
    use crate::reconcile::plan::CrashBackoff;
    use crate::source::skip::SkipReason;
    use crate::source::{ReadError, Reading, Scan, ScannedFile, Snapshot, SourceKind};

    const FILE: &[SourceKind] = &[SourceKind::File];
    const BOTH: &[SourceKind] = &[SourceKind::File, SourceKind::Http];

    const WEB: &str =
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n";

    /// One running agent and what a test drives it with.
    struct Running {
        snapshots: mpsc::Sender<Snapshot>,
        status: watch::Receiver<Arc<NodeStatus>>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    }

    impl Running {
        async fn send(&self, snapshot: Snapshot) {
            self.snapshots.send(snapshot).await.unwrap();
            settle().await;
        }

        async fn stop(self) {
            self.stop.send(()).unwrap();
            self.task.await.unwrap();
        }
    }

    fn start(
        runtime: &Arc<FakeRuntime>,
        root: &tempfile::TempDir,
        sources: &[SourceKind],
        resync: Duration,
    ) -> Running {
        run(agent(runtime, root, sources, resync))
    }

    fn agent(
        runtime: &Arc<FakeRuntime>,
        root: &tempfile::TempDir,
        sources: &[SourceKind],
        resync: Duration,
    ) -> Agent {
        let config = AgentConfig {
            node_name: "node0".into(),
            host_ip: "192.0.2.10".into(),
            dirs: Dirs {
                root: root.path().to_path_buf(),
                pod_logs: root.path().join("logs"),
            },
            sources: sources.iter().copied().collect(),
            host: HostFacts::default(),
            runtime_version: "fake://0".into(),
            resync_period: resync,
            seccomp_default: false,
            unsafe_sysctls: Default::default(),
            dns: NodeDns::default(),
            crash_backoff: CrashBackoff::default(),
            runtime_request_timeout: DEFAULT_REQUEST_TIMEOUT,
        };
        let clock = Arc::new(TokioClock::starting_at(SystemTime::UNIX_EPOCH));
        Agent::new(runtime.clone(), "fake", config, clock)
    }

    fn run(agent: Agent) -> Running {
        let status = agent.status();
        let (snapshots, receiver) = mpsc::channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(receiver, async {
            let _ = stopped.await;
        }));
        Running {
            snapshots,
            status,
            stop,
            task,
        }
    }

    fn runtime() -> Arc<FakeRuntime> {
        let clock = Arc::new(TokioClock::starting_at(SystemTime::UNIX_EPOCH));
        Arc::new(FakeRuntime::with_images(&["nginx:1.25"]).with_clock(clock))
    }

    const URL: &str = "http://192.0.2.1/pods.yaml";

    fn location(kind: SourceKind) -> &'static str {
        match kind {
            SourceKind::File => "/m",
            SourceKind::Http => URL,
        }
    }

    /// A complete reading of `kind` holding `files` (for the URL, one body).
    fn reading(kind: SourceKind, files: &[(&str, &str)]) -> Snapshot {
        let files = files
            .iter()
            .map(|(name, text)| ScannedFile {
                path: PathBuf::from(location(kind)).join(name),
                content: Ok(text.to_string()),
            })
            .collect();
        Snapshot {
            kind,
            location: location(kind).to_string(),
            reading: Reading::Complete(Scan {
                files,
                skipped: Vec::new(),
                unlinked: Vec::new(),
            }),
            answer: None,
        }
    }

    fn snapshot(files: &[(&str, &str)]) -> Snapshot {
        reading(SourceKind::File, files)
    }

    fn failure(kind: SourceKind) -> Snapshot {
        let error = std::io::Error::other("unreachable");
        Snapshot {
            kind,
            location: location(kind).to_string(),
            reading: Reading::Failed(ReadError::Unreadable(error)),
            answer: None,
        }
    }

    /// Lets every task run to its next wait: in paused time, the clock only moves once
    /// nothing else can run.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    fn count(runtime: &FakeRuntime, operation: &str) -> usize {
        runtime
            .calls()
            .iter()
            .filter(|c| c.starts_with(operation))
            .count()
    }

    fn running_ids(runtime: &FakeRuntime) -> Vec<String> {
        runtime
            .containers()
            .into_iter()
            .filter(|c| matches!(c.state, ContainerState::Running { .. }))
            .map(|c| c.id)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_pod_stays_listed_until_its_containers_are_gone() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let agent = start(&runtime, &root, FILE, Duration::from_secs(60));
        let mut status = agent.status.clone();
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        status.wait_for(|s| s.settled).await.unwrap();
        runtime.fail_next("stop_container", "cannot stop");
        agent.send(snapshot(&[])).await;
        assert_eq!(running_ids(&runtime).len(), 1, "the kill failed");
        let listed = agent.status.borrow().pods.items.clone();
        assert_eq!(listed.len(), 1, "still terminating: {listed:?}");
        status.wait_for(|s| s.pods.items.is_empty()).await.unwrap();
        assert!(runtime.containers().is_empty(), "gone once killed");
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_pod_the_node_does_not_admit_fails_and_its_old_version_goes() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let agent = agent(&runtime, &root, FILE, Duration::from_secs(60));
        let events = agent.events();
        let agent = run(agent);
        let mut status = agent.status.clone();
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        status.wait_for(|s| s.settled).await.unwrap();
        assert_eq!(running_ids(&runtime).len(), 1);
        let unsafe_sysctl = WEB.replace(
            "spec: {",
            "spec: {securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}]}, ",
        );
        agent.send(snapshot(&[("web.yaml", &unsafe_sysctl)])).await;
        let listed = status
            .wait_for(|s| s.settled && runtime.containers().is_empty())
            .await
            .unwrap()
            .pods
            .clone();
        let [pod] = listed.items.as_slice() else {
            panic!("one pod listed: {listed:?}");
        };
        assert_eq!(pod.status.phase, "Failed");
        assert_eq!(pod.status.reason.as_deref(), Some("SysctlForbidden"));
        assert_eq!(
            pod.status.message.as_deref(),
            Some("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted")
        );
        assert!(pod.status.container_statuses.is_empty(), "{pod:?}");
        assert_eq!(crate::status::printed(pod).status, "SysctlForbidden");
        // Told once, however many passes see it.
        agent.send(snapshot(&[("web.yaml", &unsafe_sysctl)])).await;
        let told: Vec<(String, u32)> = events
            .list()
            .into_iter()
            .filter(|e| e.reason == "SysctlForbidden")
            .map(|e| (e.involved_object.name, e.count))
            .collect();
        assert_eq!(told, [("web-node0".to_string(), 1)]);
        assert_eq!(
            count(&runtime, "run_sandbox"),
            1,
            "only the first version ran"
        );
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_updated_pods_old_version_is_the_mirror_pod_until_it_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let agent = start(&runtime, &root, FILE, Duration::from_secs(60));
        let mut status = agent.status.clone();
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        let old = status.wait_for(|s| s.settled).await.unwrap().pods.items[0]
            .metadata
            .uid
            .clone();
        runtime.fail_next("stop_container", "cannot stop");
        let edited = WEB.replace("nginx:1.25", "nginx:1.26");
        agent.send(snapshot(&[("web.yaml", &edited)])).await;
        let during = agent.status.borrow().clone();
        let new = during.pods.items[0].metadata.uid.clone();
        assert_ne!(new, old, "/pods lists the new version at once");
        let mirrors: Vec<&str> = during
            .mirror_pods()
            .map(|p| p.metadata.uid.as_str())
            .collect();
        assert_eq!(
            mirrors,
            [old.as_str()],
            "the old one is the mirror pod while it runs"
        );
        let after = status
            .wait_for(|s| s.superseded.is_empty() && s.settled)
            .await
            .unwrap()
            .clone();
        let mirrors: Vec<&str> = after
            .mirror_pods()
            .map(|p| p.metadata.uid.as_str())
            .collect();
        assert_eq!(mirrors, [new.as_str()], "then the new one");
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn settled_once_the_pods_are_started_not_before() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let agent = start(&runtime, &root, FILE, Duration::from_secs(60));
        assert!(!agent.status.borrow().settled, "nothing read yet");
        runtime.fail_next("start_container", "cannot start");
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        // The failed start is waited out (a back-off), which is settled: systemd must not
        // wait for a pod that may never start.
        let status = agent.status.borrow().clone();
        assert!(running_ids(&runtime).is_empty());
        assert!(status.settled);
        agent.stop().await;

        let runtime = self::runtime();
        let agent = start(&runtime, &root, FILE, Duration::from_secs(60));
        let mut status = agent.status.clone();
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        let settled = status.wait_for(|s| s.settled).await.unwrap().clone();
        assert_eq!(running_ids(&runtime).len(), 1);
        assert_eq!(settled.pods.items[0].status.phase, "Running");
        agent.stop().await;

        // An init container still running is a pod on its way up.
        let runtime = self::runtime();
        let agent = start(&runtime, &root, FILE, Duration::from_secs(60));
        let with_init = WEB.replace(
            "spec: {",
            "spec: {initContainers: [{name: setup, image: nginx:1.25}], ",
        );
        agent.send(snapshot(&[("web.yaml", &with_init)])).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(running_ids(&runtime).len(), 1, "the init container runs");
        assert!(!agent.status.borrow().settled);
        let init = running_ids(&runtime)[0].clone();
        runtime.exit_container(&init, 0, SystemTime::UNIX_EPOCH);
        let mut status = agent.status.clone();
        status.wait_for(|s| s.settled).await.unwrap();
        assert_eq!(running_ids(&runtime).len(), 1, "the app container runs");
        assert_ne!(running_ids(&runtime)[0], init);
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_comes_from_the_loop_and_stops_while_a_pass_is_stuck() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let beats = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = beats.clone();
        let agent = agent(&runtime, &root, FILE, Duration::from_secs(60)).with_heartbeat(
            Duration::from_secs(1),
            move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        );
        let agent = run(agent);
        let count = || beats.load(std::sync::atomic::Ordering::SeqCst);
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        // One at the start, then one a second.
        assert_eq!(count(), 11);
        runtime.set_hung(true);
        runtime.exit_container(&running_ids(&runtime)[0], 1, SystemTime::UNIX_EPOCH);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            count(),
            11,
            "a pass waiting on a runtime that never answers beats no more"
        );
        runtime.set_hung(false);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            count() > 11,
            "the loop beats again once the runtime answers"
        );
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_runtime_that_is_down_is_retried_with_back_off_and_pods_converge_when_it_returns() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        runtime.set_down(true);
        let begin = Instant::now();
        // A resync every 20 ms would hammer a down runtime without the back-off.
        let agent = start(&runtime, &root, FILE, Duration::from_millis(20));
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        assert!(agent.status.borrow().runtime_error.is_some());
        // Tries at 0 s, then 1 s, 2 s and 4 s apart (at 1 s, 3 s, 7 s).
        let tries_at = |at_ms: u64| {
            let runtime = runtime.clone();
            async move {
                tokio::time::sleep_until(begin + Duration::from_millis(at_ms)).await;
                count(&runtime, "list_sandboxes")
            }
        };
        assert_eq!(tries_at(990).await, 1);
        assert_eq!(tries_at(1010).await, 2);
        assert_eq!(tries_at(2990).await, 2);
        assert_eq!(tries_at(3010).await, 3);
        runtime.set_down(false);
        assert_eq!(tries_at(6990).await, 3);
        assert!(running_ids(&runtime).is_empty());
        tries_at(7010).await;
        assert_eq!(running_ids(&runtime).len(), 1);
        assert!(agent.status.borrow().runtime_error.is_none());
        assert_eq!(agent.status.borrow().pods.items.len(), 1);
        agent.stop().await;
        assert_eq!(
            running_ids(&runtime).len(),
            1,
            "stopping the agent leaves the pod running"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashing_container_is_restarted_at_once_then_after_ten_seconds() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let clock = TokioClock::starting_at(SystemTime::UNIX_EPOCH);
        let agent = start(&runtime, &root, FILE, Duration::from_secs(3600));
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        let first = running_ids(&runtime);
        assert_eq!(first.len(), 1);
        runtime.exit_container(&first[0], 1, clock.now());
        settle().await;
        let second = running_ids(&runtime);
        assert_eq!(second.len(), 1, "the first exit restarts at once");
        assert_ne!(second, first);
        runtime.exit_container(&second[0], 1, clock.now());
        let exited = Instant::now();
        tokio::time::sleep_until(exited + Duration::from_millis(9990)).await;
        assert!(running_ids(&runtime).is_empty(), "backing off for 10 s");
        tokio::time::sleep_until(exited + Duration::from_millis(10010)).await;
        assert_eq!(running_ids(&runtime).len(), 1, "restarted after 10 s");
        agent.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_planned_before_a_complete_reading_and_running_pods_are_adopted() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let first = start(&runtime, &root, FILE, Duration::from_secs(3600));
        first.send(snapshot(&[("web.yaml", WEB)])).await;
        let running = running_ids(&runtime);
        assert_eq!(running.len(), 1);
        first.stop().await;
        runtime.clear_calls();

        let second = start(&runtime, &root, FILE, Duration::from_secs(3600));
        let changes = ["run_sandbox", "create_container", "stop_container"];
        second.send(failure(SourceKind::File)).await;
        assert!(
            changes.iter().all(|op| count(&runtime, op) == 0) && count(&runtime, "stop_") == 0,
            "a failed first reading changes nothing: {:?}",
            runtime.calls()
        );
        second.send(snapshot(&[("web.yaml", WEB)])).await;
        assert_eq!(
            running_ids(&runtime),
            running,
            "the same container, adopted"
        );
        let changes = ["run_sandbox", "create_container", "stop_container"];
        assert!(
            changes.iter().all(|op| count(&runtime, op) == 0),
            "adoption changes nothing: {:?}",
            runtime.calls()
        );
        second.send(snapshot(&[])).await;
        assert!(runtime.containers().is_empty() && runtime.sandboxes().is_empty());
        second.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_url_blocks_neither_the_directory_nor_kills_the_pods_it_started() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let db = WEB.replace("name: web}", "name: db}");
        let first = start(&runtime, &root, BOTH, Duration::from_secs(3600));
        first.send(reading(SourceKind::Http, &[("", &db)])).await;
        assert!(
            running_ids(&runtime).is_empty(),
            "the directory has not answered"
        );
        first.send(snapshot(&[("web.yaml", WEB)])).await;
        assert_eq!(running_ids(&runtime).len(), 2);
        first.stop().await;
        let db_container = |runtime: &FakeRuntime| {
            runtime
                .containers()
                .into_iter()
                .find(|c| c.labels[staticpod_runtime::labels::POD_NAME] == "db-node0")
                .map(|c| c.id)
        };
        let db_id = db_container(&runtime).unwrap();

        let second = start(&runtime, &root, BOTH, Duration::from_secs(3600));
        second.send(failure(SourceKind::Http)).await;
        second.send(snapshot(&[])).await;
        assert_eq!(
            running_ids(&runtime),
            vec![db_id.clone()],
            "web's file is gone; db's URL is unreachable, so db is kept"
        );
        second.send(failure(SourceKind::Http)).await;
        assert_eq!(db_container(&runtime), Some(db_id.clone()));
        second.send(reading(SourceKind::Http, &[("", &db)])).await;
        assert_eq!(
            db_container(&runtime),
            Some(db_id),
            "once the URL answers, db is adopted as it is"
        );
        second.send(reading(SourceKind::Http, &[("", "")])).await;
        assert!(runtime.containers().is_empty(), "an empty body removes db");
        second.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_invalid_edit_and_a_skipped_file_are_events() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let config = AgentConfig {
            node_name: "node0".into(),
            host_ip: "192.0.2.10".into(),
            dirs: Dirs {
                root: root.path().to_path_buf(),
                pod_logs: root.path().join("logs"),
            },
            sources: FILE.iter().copied().collect(),
            host: HostFacts::default(),
            runtime_version: "fake://0".into(),
            resync_period: Duration::from_secs(3600),
            seccomp_default: false,
            unsafe_sysctls: Default::default(),
            dns: NodeDns::default(),
            crash_backoff: CrashBackoff::default(),
            runtime_request_timeout: DEFAULT_REQUEST_TIMEOUT,
        };
        let clock = Arc::new(TokioClock::starting_at(SystemTime::UNIX_EPOCH));
        let agent = Agent::new(runtime.clone(), "fake", config, clock);
        let events = agent.events();
        let (snapshots, receiver) = mpsc::channel(1);
        let task = tokio::spawn(agent.run(receiver, std::future::pending()));
        snapshots
            .send(snapshot(&[("web.yaml", WEB)]))
            .await
            .unwrap();
        settle().await;
        let mut edited = snapshot(&[("web.yaml", "kind: Pod\nmetadata: {name: web\n")]);
        if let Reading::Complete(scan) = &mut edited.reading {
            scan.skipped
                .push((PathBuf::from("/m/web.yaml.bak"), SkipReason::Leftover));
        }
        snapshots.send(edited).await.unwrap();
        settle().await;
        let told: Vec<(String, String, String)> = events
            .list()
            .into_iter()
            .filter(|e| e.reason.starts_with("Manifest"))
            .map(|e| (e.reason, e.involved_object.kind, e.involved_object.name))
            .collect();
        let expected = [
            ("ManifestInvalid", "Pod", "web-node0"),
            ("ManifestSkipped", "Node", "node0"),
        ]
        .map(|(r, k, n)| (r.to_string(), k.to_string(), n.to_string()));
        assert_eq!(told, expected);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_termination_message_shows_in_the_last_state_after_the_restart() {
        let root = tempfile::tempdir().unwrap();
        let runtime = runtime();
        let clock = TokioClock::starting_at(SystemTime::UNIX_EPOCH);
        let agent = start(&runtime, &root, FILE, Duration::from_secs(3600));
        agent.send(snapshot(&[("web.yaml", WEB)])).await;
        let first = running_ids(&runtime).remove(0);
        let uid = runtime.containers()[0].labels[staticpod_runtime::labels::POD_UID].clone();
        // The container writes its termination log (a file mounted from the node) and exits.
        let log = configs::termination_log(root.path(), &uid, "web", 0);
        std::fs::write(&log, "database unreachable\n").unwrap();
        runtime.exit_container(&first, 3, clock.now());
        settle().await;
        assert_eq!(running_ids(&runtime).len(), 1, "restarted");
        let status = agent.status.borrow().clone();
        let web = &status.pods.items[0].status.container_statuses[0];
        let last = web.last_state.terminated.as_ref().unwrap();
        assert_eq!(last.exit_code, 3);
        assert_eq!(last.message.as_deref(), Some("database unreachable\n"));
        agent.stop().await;
    }
}
