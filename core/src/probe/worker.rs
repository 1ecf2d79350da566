//! The probing of one running container: the startup probe first, then liveness and
//! readiness side by side, each on its own timing, publishing verdicts as they change.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::kept::Kept;
use super::threshold::Threshold;
use crate::error_chain::describe;
use crate::events::{ObjectReference, Recorder};
use crate::handler::{self, Outcome};
use crate::metrics::Metrics;
use crate::model::{Container, IntOrString, Probe};
use crate::verdicts::{ProbeVerdicts, Verdicts};
use staticpod_runtime::ContainerRuntime;
use staticpod_runtime::clock::Clock;

/// Everything a worker needs.
pub struct Worker {
    /// The runtime, for exec probes.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Runtime id of the container.
    pub container_id: String,
    /// What the previous agent's probes had found for this container, when it ran before
    /// this agent started: its verdicts start there (its probes, past their initial delay,
    /// run at once and correct them).
    pub kept: Option<Kept>,
    /// The container's spec (probes and named ports).
    pub container: Container,
    /// Address probes connect to: the pod's IP, or the node's for host-network pods.
    pub address: String,
    /// When the container started: initial delays count from here.
    pub started_at: SystemTime,
    /// The wall clock `started_at` is compared with.
    pub clock: Arc<dyn Clock>,
    /// Where a failed attempt is told (`Unhealthy`), and a warning (`ProbeWarning`).
    pub recorder: Recorder,
    /// Where every attempt is counted (`prober_probe_total`).
    pub metrics: Arc<Metrics>,
    /// The HTTP client of HTTP probes ([`handler::client`]).
    pub http: reqwest::Client,
    /// The container, as events name it.
    pub object: ObjectReference,
    /// Where verdicts are published, by container id.
    pub verdicts: Arc<Mutex<ProbeVerdicts>>,
    /// Nudged on every change of verdict.
    pub changed: mpsc::Sender<()>,
}

impl Drop for Worker {
    /// A worker stops with its container: its probe results are no longer served.
    fn drop(&mut self) {
        self.metrics
            .forget_probes(&self.object, &self.container.name);
    }
}

impl Worker {
    /// Probes until the container fails its startup probe, or the task is aborted (the
    /// container stopped).
    pub async fn run(self) {
        let container = &self.container;
        let kept = self.kept.unwrap_or(Kept {
            started: false,
            ready: false,
        });
        self.publish(|v| {
            v.started = kept.started || container.startup_probe.is_none();
            v.ready = kept.ready || container.readiness_probe.is_none();
        });
        // A startup probe runs while the container starts, never again once it passed.
        if let Some(startup) = container.startup_probe.as_ref().filter(|_| !kept.started) {
            if let Err(message) = self.until_passing(startup).await {
                self.publish(|v| v.failed = Some(format!("Startup probe failed: {message}")));
                return;
            }
            self.publish(|v| v.started = true);
        }
        // A failed liveness probe is not run again (the container is being killed), while
        // readiness goes on until the container stops, its preStop hook included, as the
        // kubelet's workers do.
        let liveness = async {
            if let Some(probe) = &container.liveness_probe {
                let message = self.watch_liveness(probe).await;
                self.publish(|v| v.failed = Some(format!("Liveness probe failed: {message}")));
            }
        };
        let readiness = async {
            if let Some(probe) = &container.readiness_probe {
                self.watch_readiness(probe).await;
            }
        };
        tokio::join!(liveness, readiness);
    }

    /// Runs the startup `probe` until it passes (`Ok`) or fails `failureThreshold` times in
    /// a row (its success threshold is always 1).
    async fn until_passing(&self, probe: &Probe) -> Result<(), String> {
        let mut threshold = Threshold::new(1, probe.failure_threshold.unwrap_or(3), true);
        let mut ticks = self.ticks(probe);
        loop {
            ticks.next().await;
            let outcome = self.attempt("Startup", probe).await;
            let Outcome::Failure(message) = &outcome else {
                return Ok(());
            };
            if threshold.record(&outcome) == Some(false) {
                return Err(message.clone());
            }
        }
    }

    /// Runs the liveness probe until it fails enough; returns the last failure.
    async fn watch_liveness(&self, probe: &Probe) -> String {
        let mut threshold = Threshold::new(1, probe.failure_threshold.unwrap_or(3), true);
        let mut ticks = self.ticks(probe);
        loop {
            ticks.next().await;
            let outcome = self.attempt("Liveness", probe).await;
            if threshold.record(&outcome) == Some(false)
                && let Outcome::Failure(message) = outcome
            {
                return message;
            }
        }
    }

    /// Runs the readiness probe for as long as the container lives.
    async fn watch_readiness(&self, probe: &Probe) {
        let mut threshold = Threshold::new(
            probe.success_threshold.unwrap_or(1),
            probe.failure_threshold.unwrap_or(3),
            false,
        );
        let mut ticks = self.ticks(probe);
        loop {
            ticks.next().await;
            let outcome = self.attempt("Readiness", probe).await;
            if let Some(ready) = threshold.record(&outcome) {
                if let Outcome::Failure(message) = &outcome {
                    tracing::info!(container = %self.container.name, "readiness probe failed: {message}");
                }
                self.publish(|v| v.ready = ready);
            }
        }
    }

    fn ticks(&self, probe: &Probe) -> Ticks {
        let delay = Duration::from_secs(
            probe
                .initial_delay_seconds
                .unwrap_or(0)
                .max(0)
                .unsigned_abs()
                .into(),
        );
        let since_start = self
            .clock
            .now()
            .duration_since(self.started_at)
            .unwrap_or_default();
        Ticks {
            next: Instant::now() + delay.saturating_sub(since_start),
            period: Duration::from_secs(
                probe
                    .period_seconds
                    .unwrap_or(10)
                    .max(1)
                    .unsigned_abs()
                    .into(),
            ),
        }
    }

    /// One attempt of the `kind` (`Liveness`, ...) probe; a failure is the kubelet's
    /// `Unhealthy` event, a warning its `ProbeWarning`.
    async fn attempt(&self, kind: &'static str, probe: &Probe) -> Outcome {
        let outcome = self.check(probe).await;
        let container = &self.container.name;
        self.metrics.probed(kind, &self.object, container, &outcome);
        match &outcome {
            Outcome::Success => {}
            Outcome::Warning(message) => {
                let message = format!("{kind} probe warning: {message}");
                self.recorder
                    .warning(&self.object, "ProbeWarning", &message);
            }
            Outcome::Failure(message) => {
                let message = format!("{kind} probe failed: {message}");
                self.recorder.warning(&self.object, "Unhealthy", &message);
            }
        }
        outcome
    }

    async fn check(&self, probe: &Probe) -> Outcome {
        let limit = Duration::from_secs(
            probe
                .timeout_seconds
                .unwrap_or(1)
                .max(1)
                .unsigned_abs()
                .into(),
        );
        if let Some(exec) = &probe.exec {
            return match self
                .runtime
                .exec_sync(&self.container_id, &exec.command, limit)
                .await
            {
                Ok(result) if result.exit_code == 0 => Outcome::Success,
                Ok(result) => Outcome::Failure(format!(
                    "command {:?} exited with {}: {}",
                    exec.command,
                    result.exit_code,
                    result.output.trim()
                )),
                Err(error) => Outcome::Failure(describe(&error)),
            };
        }
        if let Some(http) = &probe.http_get {
            let host = http
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| self.address.clone());
            return match self.port(&http.port) {
                Ok(port) => {
                    let target = handler::HttpTarget {
                        https: http
                            .scheme
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS")),
                        host: &host,
                        port,
                        path: http.path.as_deref().unwrap_or("/"),
                        headers: &http.http_headers,
                    };
                    handler::http_get(&self.http, &target, limit).await
                }
                Err(message) => Outcome::Failure(message),
            };
        }
        if let Some(grpc) = &probe.grpc {
            return match u16::try_from(grpc.port) {
                Ok(port) => {
                    let service = grpc.service.as_deref().unwrap_or_default();
                    handler::grpc(&self.address, port, service, limit).await
                }
                Err(_) => Outcome::Failure(format!("invalid port {}", grpc.port)),
            };
        }
        if let Some(tcp) = &probe.tcp_socket {
            let host = tcp
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| self.address.clone());
            return match self.port(&tcp.port) {
                Ok(port) => handler::tcp(&host, port, limit).await,
                Err(message) => Outcome::Failure(message),
            };
        }
        Outcome::Failure("the probe has no handler".to_string())
    }

    fn port(&self, port: &IntOrString) -> Result<u16, String> {
        self.container.port_number(port)
    }

    fn publish(&self, change: impl FnOnce(&mut Verdicts)) {
        let mut verdicts = self.verdicts.lock().expect("probe verdicts lock");
        let entry = verdicts.entry(self.container_id.clone()).or_default();
        let before = entry.clone();
        change(entry);
        if *entry != before {
            let _ = self.changed.try_send(());
        }
    }
}

/// The moments a probe runs: after its initial delay, then every period.
struct Ticks {
    next: Instant,
    period: Duration,
}

impl Ticks {
    async fn next(&mut self) {
        sleep_until(self.next).await;
        self.next = Instant::now() + self.period;
    }
}
