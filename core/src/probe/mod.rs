//! Probes, run by the agent: one worker per running container that has probes. Verdicts go
//! to the planner (a failed liveness or startup probe restarts the container, on every
//! runtime) and to the status (`READY`), as this pass's [`crate::verdicts::ProbeVerdicts`].

pub mod kept;
pub mod threshold;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::events::{ObjectReference, Recorder};
use crate::handler;
use crate::manifest::defaults::StaticPod;
use crate::metrics::Metrics;
use crate::reconcile::observe::{ContainerKind, ObservedPod};
use crate::verdicts::ProbeVerdicts;
use kept::KeptVerdicts;
use staticpod_runtime::clock::Clock;
use staticpod_runtime::{ContainerRuntime, ContainerState};
use worker::Worker;

/// Keeps one probe worker per running container that has probes.
pub struct Prober {
    runtime: Arc<dyn ContainerRuntime>,
    clock: Arc<dyn Clock>,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    verdicts: Arc<Mutex<ProbeVerdicts>>,
    kept: KeptVerdicts,
    workers: BTreeMap<String, JoinHandle<()>>,
    changed: mpsc::Sender<()>,
}

impl Prober {
    /// A prober that nudges `changed` whenever a verdict changes; initial delays count on
    /// `clock` from a container's start. `kept` holds the verdicts of the agent before
    /// this one, which the containers it left running start from.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        clock: Arc<dyn Clock>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        changed: mpsc::Sender<()>,
        kept: KeptVerdicts,
    ) -> Self {
        Prober {
            runtime,
            clock,
            recorder,
            metrics,
            http: handler::client(),
            verdicts: Arc::default(),
            kept,
            workers: BTreeMap::new(),
            changed,
        }
    }

    /// Starts workers for running containers with probes that have none, and stops the
    /// workers (and forgets the verdicts) of containers that no longer run.
    pub fn sync(
        &mut self,
        desired: &[Arc<StaticPod>],
        observed: &BTreeMap<String, ObservedPod>,
        host_ip: &str,
    ) {
        let mut wanted = BTreeMap::new();
        for pod in desired {
            let Some(current) = observed
                .get(pod.uid())
                .filter(|o| o.config_hash == pod.config_hash)
            else {
                continue;
            };
            let Some(sandbox) = current.ready_sandbox() else {
                continue;
            };
            let address = sandbox
                .info
                .ip
                .clone()
                .unwrap_or_else(|| host_ip.to_string());
            let spec = &pod.pod.spec;
            // App containers, and the sidecars among the init containers: plain init
            // containers cannot have probes (validation refuses them).
            let probed = spec
                .init_containers
                .iter()
                .filter(|c| c.is_sidecar())
                .map(|c| (ContainerKind::Init, c))
                .chain(spec.containers.iter().map(|c| (ContainerKind::App, c)))
                .filter(|(_, c)| {
                    c.liveness_probe.is_some()
                        || c.readiness_probe.is_some()
                        || c.startup_probe.is_some()
                });
            for (kind, container) in probed {
                let running = current
                    .instances(&container.name, &sandbox.info.id)
                    .find_map(|c| match c.info.state {
                        ContainerState::Running { started_at } if c.kind == kind => {
                            Some((c, started_at))
                        }
                        _ => None,
                    });
                if let Some((instance, started_at)) = running {
                    let object = ObjectReference::pod(pod.namespace(), pod.full_name(), pod.uid())
                        .container(kind == ContainerKind::Init, &container.name);
                    wanted.insert(
                        instance.info.id.clone(),
                        (container.clone(), address.clone(), started_at, object),
                    );
                }
            }
        }
        self.workers.retain(|id, worker| {
            let keep = wanted.contains_key(id);
            if !keep {
                worker.abort();
            }
            keep
        });
        self.verdicts
            .lock()
            .expect("probe verdicts lock")
            .retain(|id, _| wanted.contains_key(id));
        for (id, (container, address, started_at, object)) in wanted {
            if self.workers.contains_key(&id) {
                continue;
            }
            let worker = Worker {
                runtime: self.runtime.clone(),
                kept: self.kept.take(&id),
                container_id: id.clone(),
                container,
                address,
                started_at,
                clock: self.clock.clone(),
                recorder: self.recorder.clone(),
                metrics: self.metrics.clone(),
                http: self.http.clone(),
                object,
                verdicts: self.verdicts.clone(),
                changed: self.changed.clone(),
            };
            self.workers.insert(id, tokio::spawn(worker.run()));
        }
    }

    /// The verdicts of every probed container, by container id; kept for the next agent
    /// when they changed.
    pub fn verdicts(&mut self) -> ProbeVerdicts {
        let verdicts = self.verdicts.lock().expect("probe verdicts lock").clone();
        self.kept.keep(&verdicts);
        verdicts
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        for worker in self.workers.values() {
            worker.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::events::Events;
    use crate::model::Container;
    use crate::verdicts::Verdicts;
    use staticpod_runtime::clock::SystemClock;
    use staticpod_testkit::fake::FakeRuntime;

    fn container(yaml: &str) -> Container {
        serde_saphyr::from_str(yaml).unwrap()
    }

    async fn wait_for(
        verdicts: &Arc<Mutex<ProbeVerdicts>>,
        check: impl Fn(&Verdicts) -> bool,
    ) -> Verdicts {
        for _ in 0..300 {
            if let Some(v) = verdicts.lock().unwrap().get("c1").filter(|v| check(v)) {
                return v.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "verdict never reached: {:?}",
            verdicts.lock().unwrap().get("c1")
        );
    }

    fn worker(
        runtime: Arc<FakeRuntime>,
        container: Container,
        verdicts: &Arc<Mutex<ProbeVerdicts>>,
    ) -> Worker {
        Worker {
            runtime,
            kept: None,
            container_id: "c1".into(),
            container,
            address: "127.0.0.1".into(),
            started_at: SystemTime::now(),
            clock: Arc::new(SystemClock),
            recorder: Recorder::new(Arc::new(Events::new("node0")), Arc::new(SystemClock)),
            metrics: Arc::default(),
            http: handler::client(),
            object: ObjectReference::pod("default", "web-node0", "u1").container(false, "web"),
            verdicts: verdicts.clone(),
            changed: mpsc::channel(8).0,
        }
    }

    #[tokio::test]
    async fn readiness_follows_a_tcp_probe_on_a_named_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = format!(
            "name: web\nimage: x\nports: [{{name: http, containerPort: {port}}}]\nreadinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1, failureThreshold: 1}}\n"
        );
        let verdicts = Arc::default();
        let task = tokio::spawn(
            worker(
                Arc::new(FakeRuntime::default()),
                container(&spec),
                &verdicts,
            )
            .run(),
        );
        let ready = wait_for(&verdicts, |v| v.ready).await;
        assert!(ready.started && ready.failed.is_none());
        drop(listener);
        wait_for(&verdicts, |v| !v.ready).await;
        task.abort();
    }

    #[tokio::test]
    async fn a_failing_exec_liveness_probe_is_reported_once_its_threshold_is_reached() {
        let runtime = Arc::new(FakeRuntime::default());
        runtime.set_exec_exit_code(1);
        let spec = "name: web\nimage: x\nlivenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}\n";
        let verdicts = Arc::default();
        let task = tokio::spawn(worker(runtime.clone(), container(spec), &verdicts).run());
        let failed = wait_for(&verdicts, |v| v.failed.is_some()).await;
        assert_eq!(
            failed.failed.unwrap(),
            "Liveness probe failed: command [\"cat\", \"/tmp/healthy\"] exited with 1: exit 1"
        );
        let execs = runtime
            .calls()
            .iter()
            .filter(|c| c.starts_with("exec_sync c1 cat /tmp/healthy"))
            .count();
        assert_eq!(execs, 2, "two failures in a row make the verdict");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_redirect_not_followed_passes_the_probe_with_a_probe_warning_event() {
        let server = staticpod_testkit::servers::HttpsServer::start(0).await;
        server.answer(302);
        let spec = format!(
            "name: web\nimage: x\nlivenessProbe: {{httpGet: {{scheme: HTTPS, path: /, port: {}}}, periodSeconds: 1, failureThreshold: 1}}\n",
            server.port
        );
        let verdicts = Arc::default();
        let events = Arc::new(Events::new("node0"));
        let mut probing = worker(
            Arc::new(FakeRuntime::default()),
            container(&spec),
            &verdicts,
        );
        probing.recorder = Recorder::new(events.clone(), Arc::new(SystemClock));
        let task = tokio::spawn(probing.run());
        let mut warnings = Vec::new();
        for _ in 0..300 {
            warnings = events
                .list()
                .into_iter()
                .filter(|e| e.reason == "ProbeWarning")
                .collect();
            if !warnings.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let [warning] = &warnings[..] else {
            panic!("one ProbeWarning event: {:?}", events.list());
        };
        assert_eq!(
            warning.message,
            "Liveness probe warning: Probe terminated redirects, Response body: "
        );
        assert!(events.list().iter().all(|e| e.reason != "Unhealthy"));
        let now = verdicts.lock().unwrap().get("c1").cloned().unwrap();
        assert!(now.failed.is_none(), "a warning is no failure: {now:?}");
        task.abort();
    }

    #[tokio::test]
    async fn readiness_goes_on_after_liveness_failed_and_liveness_is_not_run_again() {
        let runtime = Arc::new(FakeRuntime::default());
        runtime.set_exec_exit_code(1);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = format!(
            "name: web\nimage: x\nlivenessProbe: {{exec: {{command: [false]}}, periodSeconds: 1, failureThreshold: 1}}\nreadinessProbe: {{tcpSocket: {{port: {port}}}, periodSeconds: 1, failureThreshold: 1}}\n"
        );
        let verdicts = Arc::default();
        let task = tokio::spawn(worker(runtime.clone(), container(&spec), &verdicts).run());
        wait_for(&verdicts, |v| v.failed.is_some() && v.ready).await;
        // The container is being killed (its preStop hook may run for long): readiness
        // still follows it.
        drop(listener);
        let unready = wait_for(&verdicts, |v| !v.ready).await;
        assert!(unready.failed.is_some());
        let livenesses = runtime
            .calls()
            .iter()
            .filter(|c| c.starts_with("exec_sync c1 false"))
            .count();
        assert_eq!(livenesses, 1, "a failed liveness probe is not run again");
        assert!(
            !task.is_finished(),
            "the worker runs until its container stops"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_kept_verdict_is_where_the_worker_starts_and_a_passed_startup_probe_is_not_run_again()
    {
        let runtime = Arc::new(FakeRuntime::default());
        let spec = "name: web\nimage: x\nstartupProbe: {exec: {command: [startup]}, periodSeconds: 1}\nreadinessProbe: {exec: {command: [ready]}, periodSeconds: 1}\n";
        let verdicts = Arc::default();
        let mut kept = worker(runtime.clone(), container(spec), &verdicts);
        kept.kept = Some(kept::Kept {
            started: true,
            ready: true,
        });
        let task = tokio::spawn(kept.run());
        for _ in 0..300 {
            if runtime
                .calls()
                .iter()
                .any(|c| c.starts_with("exec_sync c1 ready"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let calls = runtime.calls();
        assert!(
            calls.iter().any(|c| c.starts_with("exec_sync c1 ready")),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("exec_sync c1 startup")),
            "{calls:?}"
        );
        let now = verdicts.lock().unwrap().get("c1").cloned().unwrap();
        assert!(now.started && now.ready && now.failed.is_none());
        task.abort();
    }

    #[tokio::test]
    async fn a_startup_probe_holds_back_readiness_until_it_passes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = format!(
            "name: web\nimage: x\nstartupProbe: {{httpGet: {{port: {port}}}, periodSeconds: 1, failureThreshold: 30}}\nreadinessProbe: {{tcpSocket: {{port: {port}}}, periodSeconds: 1}}\n"
        );
        let verdicts = Arc::default();
        let task = tokio::spawn(
            worker(
                Arc::new(FakeRuntime::default()),
                container(&spec),
                &verdicts,
            )
            .run(),
        );
        let first = wait_for(&verdicts, |_| true).await;
        assert!(!first.started && !first.ready);
        // Answer the startup probe's GET once.
        let (mut stream, _) = listener.accept().unwrap();
        use std::io::{Read, Write};
        let mut request = [0u8; 512];
        let _ = stream.read(&mut request).unwrap();
        stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        drop(stream);
        let started = wait_for(&verdicts, |v| v.started && v.ready).await;
        assert!(started.failed.is_none());
        task.abort();
    }
}
