//! The node's metrics, with the kubelet's names where the kubelet has one
//! (`pkg/kubelet/metrics/metrics.go`, `pkg/kubelet/prober/prober_manager.go`), so its
//! dashboards and alerts work: counted where the work is done (the executor, the prober, the
//! runtime calls through [`instrumented::Instrumented`]), set from each pass's view by the
//! agent, and encoded as OpenMetrics text for `/metrics` and `/metrics/probes`.

pub mod instrumented;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::events::ObjectReference;
use crate::handler::Outcome;

/// The content type of [`Metrics::encode`]'s text, which Prometheus needs to read it as
/// OpenMetrics.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `pod_start_duration_seconds`' buckets, the kubelet's `podStartupDurationBuckets`.
const POD_START_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];
/// Prometheus' default buckets (the kubelet's `metrics.DefBuckets`).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How many removed pods are remembered, to tell a pod put back from a new one.
const REMOVED_KEPT: usize = 256;

/// `container_state`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    container_state: &'static str,
}

/// `static`: always `true` here, every pod being a static one.
type StaticLabel = [(&'static str, &'static str); 1];

const STATIC_PODS: StaticLabel = [("static", "true")];

/// `container_type`: `container` or `init_container`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerTypeLabel {
    container_type: &'static str,
}

/// `container_type` and `code`, the kubelet's word for the failure (`ErrImagePull`, ...).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerErrorLabels {
    container_type: &'static str,
    code: &'static str,
}

/// `operation_type`, the kubelet's name of the runtime call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation_type: &'static str,
}

/// `prober_probe_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    probe_type: &'static str,
    result: &'static str,
    container: String,
    pod: String,
    namespace: String,
    pod_uid: String,
}

/// `source` (`file`, `http`) and `result` of a manifest source's reading.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
    result: &'static str,
}

/// What a pass of the agent sets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gauges {
    /// Pods with a ready sandbox.
    pub running_pods: i64,
    /// Containers by state (`running`, `exited`, `created`, `unknown`).
    pub containers: Vec<(&'static str, i64)>,
    /// Pods the sources declare.
    pub desired_pods: i64,
    /// Manifest files with an error.
    pub manifest_errors: i64,
}

/// Every metric of the node.
pub struct Metrics {
    registry: Registry,
    probes: Registry,
    running_pods: Gauge,
    running_containers: Family<StateLabel, Gauge>,
    desired_pods: Family<StaticLabel, Gauge>,
    started_pods: Counter,
    started_pods_errors: Counter,
    started_containers: Family<ContainerTypeLabel, Counter>,
    started_containers_errors: Family<ContainerErrorLabels, Counter>,
    restarted_pods: Family<StaticLabel, Counter>,
    pod_start_duration: Histogram,
    relist_duration: Histogram,
    operations: Family<OperationLabel, Counter>,
    operation_errors: Family<OperationLabel, Counter>,
    operation_duration: Family<OperationLabel, Histogram>,
    probe_results: Family<ProbeLabels, Counter>,
    manifest_errors: Gauge,
    source_readings: Family<SourceLabels, Counter>,
    /// UIDs of pods removed lately, newest last.
    removed: Mutex<VecDeque<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the kubelet's names (and help texts: the
    /// encoder ends each with a full stop).
    pub fn new() -> Self {
        let metrics = Metrics {
            registry: Registry::default(),
            probes: Registry::default(),
            running_pods: Gauge::default(),
            running_containers: Family::default(),
            desired_pods: Family::default(),
            started_pods: Counter::default(),
            started_pods_errors: Counter::default(),
            started_containers: Family::default(),
            started_containers_errors: Family::default(),
            restarted_pods: Family::default(),
            pod_start_duration: Histogram::new(POD_START_BUCKETS),
            relist_duration: Histogram::new(DEFAULT_BUCKETS),
            operations: Family::default(),
            operation_errors: Family::default(),
            operation_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.5, 14))
            }),
            probe_results: Family::default(),
            manifest_errors: Gauge::default(),
            source_readings: Family::default(),
            removed: Mutex::default(),
        };
        // Shown from the start, at zero, so a query finds them before the first pod.
        metrics.desired_pods.get_or_create(&STATIC_PODS).set(0);
        metrics.restarted_pods.get_or_create(&STATIC_PODS).inc_by(0);
        metrics.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        // Counters are registered without `_total`: OpenMetrics adds it.
        r.register(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            self.running_pods.clone(),
        );
        r.register(
            "kubelet_running_containers",
            "Number of containers currently running",
            self.running_containers.clone(),
        );
        r.register(
            "kubelet_desired_pods",
            "The number of pods the kubelet is being instructed to run. static is true if the pod is not from the apiserver",
            self.desired_pods.clone(),
        );
        r.register(
            "kubelet_started_pods",
            "Cumulative number of pods started",
            self.started_pods.clone(),
        );
        r.register(
            "kubelet_started_pods_errors",
            "Cumulative number of errors when starting pods",
            self.started_pods_errors.clone(),
        );
        r.register(
            "kubelet_started_containers",
            "Cumulative number of containers started",
            self.started_containers.clone(),
        );
        r.register(
            "kubelet_started_containers_errors",
            "Cumulative number of errors when starting containers",
            self.started_containers_errors.clone(),
        );
        r.register(
            "kubelet_restarted_pods",
            "Number of pods that have been restarted because they were deleted and recreated with the same UID while the kubelet was watching them (common for static pods, extremely uncommon for API pods)",
            self.restarted_pods.clone(),
        );
        r.register(
            "kubelet_pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
            self.pod_start_duration.clone(),
        );
        r.register(
            "kubelet_pleg_relist_duration_seconds",
            "Duration in seconds for relisting pods in PLEG",
            self.relist_duration.clone(),
        );
        r.register(
            "kubelet_runtime_operations",
            "Cumulative number of runtime operations by operation type",
            self.operations.clone(),
        );
        r.register(
            "kubelet_runtime_operations_errors",
            "Cumulative number of runtime operation errors by operation type",
            self.operation_errors.clone(),
        );
        r.register(
            "kubelet_runtime_operations_duration_seconds",
            "Duration in seconds of runtime operations. Broken down by operation type",
            self.operation_duration.clone(),
        );
        r.register(
            "staticpod_manifest_errors",
            "Manifest files (or the URL's body) with an error: their last good pods are kept",
            self.manifest_errors.clone(),
        );
        r.register(
            "staticpod_source_readings",
            "Readings of each manifest source by result: complete, unchanged (an HTTP 304) or failed",
            self.source_readings.clone(),
        );
        self.probes.register(
            "prober_probe",
            "Cumulative number of a liveness, readiness or startup probe for a container by result",
            self.probe_results.clone(),
        );
        self
    }

    /// `/metrics`: everything but the probes, as OpenMetrics text.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }

    /// `/metrics/probes`: `prober_probe_total`, as OpenMetrics text.
    pub fn encode_probes(&self) -> String {
        encode(&self.probes)
    }

    /// Sets what a pass saw.
    pub fn set(&self, gauges: &Gauges) {
        self.running_pods.set(gauges.running_pods);
        for (state, count) in &gauges.containers {
            let label = StateLabel {
                container_state: state,
            };
            self.running_containers.get_or_create(&label).set(*count);
        }
        self.desired_pods
            .get_or_create(&STATIC_PODS)
            .set(gauges.desired_pods);
        self.manifest_errors.set(gauges.manifest_errors);
    }

    /// A sandbox was created (`ok`) or could not be; a pod removed lately and put back is
    /// a restarted pod, as the kubelet counts one.
    pub fn pod_started(&self, uid: &str, ok: bool) {
        self.started_pods.inc();
        if !ok {
            self.started_pods_errors.inc();
            return;
        }
        let mut removed = self.removed.lock().expect("removed pods lock");
        if let Some(at) = removed.iter().position(|u| u == uid) {
            removed.remove(at);
            self.restarted_pods.get_or_create(&STATIC_PODS).inc();
        }
    }

    /// A pod was removed (its manifest went away, or changed its UID).
    pub fn pod_removed(&self, uid: &str) {
        let mut removed = self.removed.lock().expect("removed pods lock");
        if removed.len() == REMOVED_KEPT {
            removed.pop_front();
        }
        removed.push_back(uid.to_string());
    }

    /// A container start was tried; `error` is the kubelet's word for its failure.
    pub fn container_started(&self, init: bool, error: Option<&'static str>) {
        let container_type = if init { "init_container" } else { "container" };
        self.started_containers
            .get_or_create(&ContainerTypeLabel { container_type })
            .inc();
        if let Some(code) = error {
            let labels = ContainerErrorLabels {
                container_type,
                code,
            };
            self.started_containers_errors.get_or_create(&labels).inc();
        }
    }

    /// A pod ran, `took` after the agent first saw it.
    pub fn pod_start_took(&self, took: Duration) {
        self.pod_start_duration.observe(took.as_secs_f64());
    }

    /// A relist of the runtime took `took`.
    pub fn relist_took(&self, took: Duration) {
        self.relist_duration.observe(took.as_secs_f64());
    }

    /// A runtime call `operation` took `took`, and failed or not.
    pub fn operation(&self, operation: &'static str, took: Duration, failed: bool) {
        let label = OperationLabel {
            operation_type: operation,
        };
        self.operations.get_or_create(&label).inc();
        if failed {
            self.operation_errors.get_or_create(&label).inc();
        }
        self.operation_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// The `probe_type` (`Liveness`, ...) probe of `container` in `pod` gave `outcome`.
    pub fn probed(
        &self,
        probe_type: &'static str,
        pod: &ObjectReference,
        container: &str,
        outcome: &Outcome,
    ) {
        let result = match outcome {
            Outcome::Success | Outcome::Warning(_) => "successful",
            Outcome::Failure(_) => "failed",
        };
        self.probe_results
            .get_or_create(&probe_labels(probe_type, result, pod, container))
            .inc();
    }

    /// Forgets the probe results of `container` in `pod`, whose prober stopped, as the
    /// kubelet does.
    pub fn forget_probes(&self, pod: &ObjectReference, container: &str) {
        for probe_type in ["Liveness", "Readiness", "Startup"] {
            for result in ["successful", "failed"] {
                self.probe_results
                    .remove(&probe_labels(probe_type, result, pod, container));
            }
        }
    }

    /// A manifest source of `source` was read with `result`.
    pub fn source_read(&self, source: &'static str, result: &'static str) {
        self.source_readings
            .get_or_create(&SourceLabels { source, result })
            .inc();
    }
}

fn probe_labels(
    probe_type: &'static str,
    result: &'static str,
    pod: &ObjectReference,
    container: &str,
) -> ProbeLabels {
    ProbeLabels {
        probe_type,
        result,
        container: container.to_string(),
        pod: pod.name.clone(),
        namespace: pod.namespace.clone(),
        pod_uid: pod.uid.clone(),
    }
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)
        .expect("writing to a String cannot fail");
    text
}
