//! `test/e2e/common/node/container_probe.go`, translated: "Probing container" and its
//! copy "Probing restartable init container", where the probed container is a sidecar
//! (a restartable init container) beside a regular container `main`. Each scenario is
//! written once and run for both ([`Probed`]).
//!
//! The kubelet's `RunLivenessTest` is [`run_liveness_test`]: wait for the container to be
//! out of waiting, then watch its restart count every 2 s for the timeout, stopping early
//! once the expected restarts are seen; no restart expected means the whole timeout is
//! watched (4 minutes: those cases are long).

use std::time::{Duration, Instant, SystemTime};

use staticpod_core::status::{ContainerStatus, PodView};

use super::{MINUTE, POD_START_TIMEOUT, POLL, PodClient, backend, eventually};
use crate::support::{Node, pod_watch};

/// `probeTestInitialDelaySeconds`.
const INITIAL_DELAY: u64 = 15;

/// `defaultObservationTimeout`.
const OBSERVATION: Duration = Duration::from_secs(4 * 60);

/// The pod's regular container when the probed one is a sidecar: agnhost `pause`.
const MAIN: &str = "  - {name: main, image: 'registry.k8s.io/pause:3.9'}\n";

/// Where the probed container is in its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probed {
    /// The pod's only container ("Probing container").
    Container,
    /// A restartable init container before `main` ("Probing restartable init container").
    Sidecar,
}

impl Probed {
    /// A pod `name` whose probed container is `container` with `fields` (a YAML flow
    /// mapping's inside), `spec` more lines of its spec.
    fn pod(self, name: &str, container: &str, fields: &str, spec: &str) -> String {
        let probed = format!("  - {{name: {container}, {fields}");
        let lists = match self {
            Probed::Container => format!("  containers:\n{probed}}}\n"),
            Probed::Sidecar => {
                format!(
                    "  initContainers:\n{probed}, restartPolicy: Always}}\n  containers:\n{MAIN}"
                )
            }
        };
        format!("kind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}{lists}")
    }

    /// `busyBoxPodSpec` / `busyBoxSidecarPodSpec` (`startupPodSpec` /
    /// `startupSidecarPodSpec` name theirs `sidecar`): busybox running `cmd`, with `probes`.
    fn busybox(self, container: &str, cmd: &str, probes: &str, spec: &str) -> String {
        self.pod(
            "busybox",
            container,
            &format!("image: busybox:1.36, command: [/bin/sh, -c, '{cmd}']{probes}"),
            spec,
        )
    }

    /// `testWebServerPodSpec` / `testWebServerSidecarPodSpec`: a web server on port 80
    /// (the nginx stand-in), named `test-webserver`, with `probes`.
    fn web_server(self, probes: &str) -> String {
        self.pod(
            "test-webserver",
            "test-webserver",
            &format!("image: 'nginx:1.25', ports: [{{containerPort: 80}}]{probes}"),
            "",
        )
    }
}

/// A node running `manifest`, the pod's file written and the agent started.
fn node_with(case: &str, manifest: &str) -> Node {
    let mut node = Node::new(backend(), case);
    node.write_manifest("pod.yaml", manifest);
    node.start_agent();
    node
}

/// The status of container `name` of `pod`, init or regular.
fn status<'a>(pod: &'a PodView, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .init_container_statuses
        .iter()
        .chain(&pod.status.container_statuses)
        .find(|s| s.name == name)
}

/// The pod's `Ready` condition is `True` (`podutil.IsPodReady`).
fn is_ready(pod: &PodView) -> bool {
    pod.status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The current status of pod `pod` of `node`.
fn current(node: &Node, pod: &str) -> PodView {
    pod_watch::within(node, pod, POD_START_TIMEOUT, |_| Ok(true))
        .pop()
        .expect("a status")
}

/// The kubelet's `runLivenessTest`: container `container` of pod `pod` (`manifest`) is
/// restarted `expected` times within `timeout` (0: never, over the whole timeout); the
/// node, still running the pod.
fn run_liveness_test(
    case: &str,
    (pod, manifest): (&str, String),
    container: &str,
    expected: u32,
    timeout: Duration,
) -> Node {
    let node = node_with(case, &manifest);
    pod_watch::within(&node, pod, timeout, |p| {
        Ok(status(p, container)
            .is_some_and(|s| s.state.running.is_some() || s.state.terminated.is_some()))
    });
    let initial = status(&current(&node, pod), container)
        .expect("its status")
        .restart_count;
    let deadline = Instant::now() + timeout + Duration::from_secs(u64::from(initial) * 10);
    let mut last = initial;
    let mut observed = 0;
    while Instant::now() < deadline {
        let now = current(&node, pod);
        let count = status(&now, container).expect("its status").restart_count;
        assert!(
            count >= last,
            "Restart count should increment monotonically: from {last} to {count}"
        );
        observed = count - initial;
        if expected > 0 && observed >= expected {
            break;
        }
        last = count;
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        (expected == 0 && observed == 0) || (expected > 0 && observed >= expected),
        "expected number of restarts: {expected}, found restarts: {observed}: {:#?}",
        current(&node, pod).status
    );
    node
}

/// Defines `container_<name>` and `sidecar_<name>`, each running `body` with its
/// [`Probed`].
macro_rules! both {
    ($(#[doc = $doc:literal])* $container:ident, $sidecar:ident, $body:expr) => {
        $(#[doc = $doc])*
        #[test]
        #[ignore = "needs the runtime: run through cargo xtask test"]
        fn $container() {
            ($body)(Probed::Container)
        }
        $(#[doc = $doc])*
        #[test]
        #[ignore = "needs the runtime: run through cargo xtask test"]
        fn $sidecar() {
            ($body)(Probed::Sidecar)
        }
    };
}

/// The case name on `probed`'s side: `e2e-probe-<short>` or `e2e-sprobe-<short>`.
fn case(probed: Probed, short: &str) -> String {
    match probed {
        Probed::Container => format!("e2e-probe-{short}"),
        Probed::Sidecar => format!("e2e-sprobe-{short}"),
    }
}

/// Parses a status time (RFC 3339).
fn time(text: &str) -> SystemTime {
    humantime::parse_rfc3339_weak(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

both!(
    /// "with readiness probe should not be ready before initial delay and never restart".
    container_with_readiness_probe_is_not_ready_before_its_initial_delay,
    sidecar_with_readiness_probe_is_not_ready_before_its_initial_delay,
    |probed: Probed| {
        let manifest = probed.web_server(&format!(
            ", readinessProbe: {{httpGet: {{path: /, port: 80}}, initialDelaySeconds: {INITIAL_DELAY}}}"
        ));
        let node = node_with(&case(probed, "ready-delay"), &manifest);
        let ready = pod_watch::within(&node, "test-webserver", POD_START_TIMEOUT, |p| {
            Ok(is_ready(p))
        });
        let p = ready.last().unwrap();
        assert_eq!(p.status.phase, "Running");
        let ready_at = p
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .and_then(|c| c.last_transition_time.as_deref())
            .map(time)
            .expect("a Ready transition time");
        let s = status(p, "test-webserver").unwrap();
        let started = time(&s.state.running.as_ref().expect("running").started_at);
        let delay = ready_at.duration_since(started).unwrap_or_default();
        assert!(
            delay >= Duration::from_secs(INITIAL_DELAY),
            "Pod became ready before its {INITIAL_DELAY} s initial delay: {delay:?}"
        );
        assert_eq!(s.restart_count, 0);
    }
);

both!(
    /// "with readiness probe that fails should never be ready and never restart".
    container_with_failing_readiness_probe_is_never_ready,
    sidecar_with_failing_readiness_probe_is_never_ready,
    |probed: Probed| {
        let manifest = probed.web_server(", readinessProbe: {httpGet: {path: /, port: 81}}");
        let node = node_with(&case(probed, "ready-fails"), &manifest);
        let end = Instant::now() + MINUTE;
        while Instant::now() < end {
            let p = current(&node, "test-webserver");
            assert!(!is_ready(&p), "pod should not be ready: {:#?}", p.status);
            std::thread::sleep(Duration::from_secs(1));
        }
        let p = current(&node, "test-webserver");
        assert!(!is_ready(&p));
        assert_eq!(status(&p, "test-webserver").unwrap().restart_count, 0);
    }
);

/// The kubelet's exec probe of `cmd` (a YAML flow sequence), `timing` its other fields.
fn exec(kind: &str, cmd: &str, timing: &str) -> String {
    format!(", {kind}: {{exec: {{command: {cmd}}}, {timing}}}")
}

both!(
    /// "should be restarted with a exec \"cat /tmp/health\" liveness probe".
    container_is_restarted_by_an_exec_liveness_probe,
    sidecar_is_restarted_by_an_exec_liveness_probe,
    |probed: Probed| {
        let probe = exec(
            "livenessProbe",
            "[cat, /tmp/health]",
            "initialDelaySeconds: 15, timeoutSeconds: 5, failureThreshold: 1",
        );
        let cmd = "echo ok >/tmp/health; sleep 10; rm -rf /tmp/health; sleep 600";
        let manifest = probed.busybox("busybox", cmd, &probe, "");
        run_liveness_test(&case(probed, "exec-restart"), ("busybox", manifest), "busybox", 1, OBSERVATION);
    }
);

both!(
    /// "should *not* be restarted with a exec \"cat /tmp/health\" liveness probe" (long:
    /// 4 minutes).
    container_is_not_restarted_by_a_passing_exec_liveness_probe,
    sidecar_is_not_restarted_by_a_passing_exec_liveness_probe,
    |probed: Probed| {
        let probe = exec(
            "livenessProbe",
            "[cat, /tmp/health]",
            "initialDelaySeconds: 15, timeoutSeconds: 5, failureThreshold: 1",
        );
        let manifest = probed.busybox("busybox", "echo ok >/tmp/health; sleep 600", &probe, "");
        run_liveness_test(&case(probed, "exec-alive"), ("busybox", manifest), "busybox", 0, OBSERVATION);
    }
);

both!(
    /// "should *not* be restarted with a /healthz http liveness probe" (its web server's
    /// `/`; long: 4 minutes).
    container_is_not_restarted_by_a_passing_http_liveness_probe,
    sidecar_is_not_restarted_by_a_passing_http_liveness_probe,
    |probed: Probed| {
        let manifest = probed.web_server(
            ", livenessProbe: {httpGet: {path: /, port: 80}, initialDelaySeconds: 15, timeoutSeconds: 5, failureThreshold: 5}",
        );
        run_liveness_test(&case(probed, "http-alive"), ("test-webserver", manifest), "test-webserver", 0, OBSERVATION);
    }
);

both!(
    /// "should be restarted with an exec liveness probe with timeout".
    container_is_restarted_by_an_exec_liveness_probe_that_times_out,
    sidecar_is_restarted_by_an_exec_liveness_probe_that_times_out,
    |probed: Probed| {
        let probe = exec(
            "livenessProbe",
            "[/bin/sh, -c, 'sleep 10']",
            "initialDelaySeconds: 15, timeoutSeconds: 1, failureThreshold: 1",
        );
        let manifest = probed.busybox("busybox", "sleep 600", &probe, "");
        run_liveness_test(&case(probed, "exec-timeout"), ("busybox", manifest), "busybox", 1, OBSERVATION);
    }
);

both!(
    /// "should not be ready with an exec readiness probe timeout".
    container_is_not_ready_when_its_exec_readiness_probe_times_out,
    sidecar_is_not_ready_when_its_exec_readiness_probe_times_out,
    |probed: Probed| {
        let probe = exec(
            "readinessProbe",
            "[/bin/sh, -c, 'sleep 10']",
            "initialDelaySeconds: 15, timeoutSeconds: 1, failureThreshold: 1",
        );
        let manifest = probed.busybox("busybox", "sleep 600", &probe, "");
        let node = node_with(&case(probed, "ready-timeout"), &manifest);
        if probed == Probed::Container {
            // `WaitForPodNotPending`.
            pod_watch::within(&node, "busybox", POD_START_TIMEOUT, |p| {
                Ok(p.status.phase != "Pending")
            });
        }
        let end = Instant::now() + MINUTE;
        while Instant::now() < end {
            let p = current(&node, "busybox");
            assert!(!is_ready(&p), "expected to be not ready: {:#?}", p.status);
            std::thread::sleep(Duration::from_secs(2));
        }
    }
);

both!(
    /// "should be restarted with a failing exec liveness probe that took longer than the
    /// timeout".
    container_is_restarted_by_a_failing_exec_liveness_probe_slower_than_its_timeout,
    sidecar_is_restarted_by_a_failing_exec_liveness_probe_slower_than_its_timeout,
    |probed: Probed| {
        let probe = exec(
            "livenessProbe",
            "[/bin/sh, -c, 'sleep 10 & exit 1']",
            "initialDelaySeconds: 15, timeoutSeconds: 1, failureThreshold: 1",
        );
        let manifest = probed.busybox("busybox", "sleep 600", &probe, "");
        run_liveness_test(&case(probed, "exec-slow-fail"), ("busybox", manifest), "busybox", 1, OBSERVATION);
    }
);

/// `startupPodSpec`'s container name on `probed`'s side.
fn startup_name(probed: Probed) -> &'static str {
    match probed {
        Probed::Container => "busybox",
        Probed::Sidecar => "sidecar",
    }
}

/// A startup-probed busybox running `cmd` with a liveness probe running `liveness` and a
/// startup probe running `startup`, each with `initialDelaySeconds: 15`.
fn startup_pod(probed: Probed, cmd: &str, liveness: &str, startup: &str, threshold: u32) -> String {
    let probes = [
        exec(
            "livenessProbe",
            liveness,
            "initialDelaySeconds: 15, failureThreshold: 1",
        ),
        exec(
            "startupProbe",
            startup,
            &format!("initialDelaySeconds: 15, failureThreshold: {threshold}"),
        ),
    ]
    .concat();
    probed.busybox(startup_name(probed), cmd, &probes, "")
}

both!(
    /// "should be restarted startup probe fails".
    container_is_restarted_when_its_startup_probe_fails,
    sidecar_is_restarted_when_its_startup_probe_fails,
    |probed: Probed| {
        let manifest = startup_pod(probed, "sleep 600", "[/bin/true]", "[/bin/false]", 3);
        let name = startup_name(probed);
        run_liveness_test(&case(probed, "startup-fails"), ("busybox", manifest), name, 1, OBSERVATION);
    }
);

both!(
    /// "should *not* be restarted by liveness probe because startup probe delays it"
    /// (long: 4 minutes).
    container_is_not_restarted_by_liveness_while_its_startup_probe_runs,
    sidecar_is_not_restarted_by_liveness_while_its_startup_probe_runs,
    |probed: Probed| {
        let manifest = startup_pod(probed, "sleep 600", "[/bin/false]", "[/bin/false]", 60);
        let name = startup_name(probed);
        run_liveness_test(&case(probed, "startup-delays"), ("busybox", manifest), name, 0, OBSERVATION);
    }
);

both!(
    /// "should be restarted by liveness probe after startup probe enables it".
    container_is_restarted_by_liveness_once_its_startup_probe_succeeds,
    sidecar_is_restarted_by_liveness_once_its_startup_probe_succeeds,
    |probed: Probed| {
        let cmd = "sleep 10; echo ok >/tmp/startup; sleep 600";
        let manifest = startup_pod(probed, cmd, "[/bin/false]", "[cat, /tmp/startup]", 60);
        let name = startup_name(probed);
        run_liveness_test(&case(probed, "startup-then-live"), ("busybox", manifest), name, 1, OBSERVATION);
    }
);

both!(
    /// "should be ready immediately after startupProbe succeeds": ready within 25 s of
    /// the container's start.
    container_is_ready_right_after_its_startup_probe_succeeds,
    sidecar_is_ready_right_after_its_startup_probe_succeeds,
    |probed: Probed| {
        let probes = [
            exec("readinessProbe", "[/bin/cat, /tmp/health]", "initialDelaySeconds: 0, periodSeconds: 30"),
            exec(
                "startupProbe",
                "[/bin/cat, /tmp/startup]",
                "initialDelaySeconds: 0, failureThreshold: 120, periodSeconds: 5",
            ),
        ]
        .concat();
        let name = startup_name(probed);
        let cmd = "echo ok >/tmp/health; sleep 32; echo ok >/tmp/startup; sleep 600";
        let manifest = probed.busybox(name, cmd, &probes, "");
        let node = node_with(&case(probed, "ready-after-startup"), &manifest);
        // `WaitForPodContainerStarted`, then `WaitTimeoutForPodReadyInNamespace`.
        pod_watch::within(&node, "busybox", POD_START_TIMEOUT, |p| {
            Ok(status(p, name).is_some_and(|s| s.started))
        });
        let started = Instant::now();
        let ready = pod_watch::within(&node, "busybox", POD_START_TIMEOUT, |p| Ok(is_ready(p)));
        let ready_in = started.elapsed();
        assert_eq!(ready.last().unwrap().status.phase, "Running");
        assert!(
            ready_in <= Duration::from_secs(25),
            "Pod became ready in {ready_in:?}, more than 25s after startupProbe succeeded"
        );
    }
);

both!(
    /// "should override timeoutGracePeriodSeconds when LivenessProbe field is set": the
    /// probe's 5 s, not the pod's 500 s (`sleep` as PID 1 ignores SIGTERM).
    container_killed_by_liveness_gets_the_probes_grace_period,
    sidecar_killed_by_liveness_gets_the_probes_grace_period,
    |probed: Probed| {
        let probe = ", livenessProbe: {httpGet: {path: /healthz, port: 8080}, initialDelaySeconds: 10, failureThreshold: 1, terminationGracePeriodSeconds: 5}";
        let manifest = probed.busybox("busybox", "sleep 1000", probe, "  terminationGracePeriodSeconds: 500\n");
        let timeout = Duration::from_secs(40) + OBSERVATION;
        run_liveness_test(&case(probed, "liveness-grace"), ("busybox", manifest), "busybox", 1, timeout);
    }
);

both!(
    /// "should override timeoutGracePeriodSeconds when StartupProbe field is set".
    container_killed_by_its_startup_probe_gets_the_probes_grace_period,
    sidecar_killed_by_its_startup_probe_gets_the_probes_grace_period,
    |probed: Probed| {
        let probes = [
            exec("livenessProbe", "[/bin/true]", "initialDelaySeconds: 15, failureThreshold: 1"),
            exec(
                "startupProbe",
                "[/bin/cat, /tmp/startup]",
                "initialDelaySeconds: 10, failureThreshold: 1, terminationGracePeriodSeconds: 5",
            ),
        ]
        .concat();
        let manifest = probed.busybox("busybox", "sleep 1000", &probes, "  terminationGracePeriodSeconds: 500\n");
        let timeout = Duration::from_secs(40) + OBSERVATION;
        run_liveness_test(&case(probed, "startup-grace"), ("busybox", manifest), "busybox", 1, timeout);
    }
);

/// `gRPCServerPodSpec` / `gRPCServerSidecarPodSpec`: a gRPC health server on port 5000
/// (agnhost `grpc-health-checking`, answering `SERVING`), container `agnhost`, with the
/// liveness probe `probe` (a flow mapping). etcd stands in for it: its client port serves
/// `grpc.health.v1.Health` with `SERVING` for the service "", as agnhost's does.
fn grpc_server_pod(probed: Probed, probe: &str) -> String {
    probed.pod(
        "test-grpc",
        "agnhost",
        &format!(
            "image: 'registry.k8s.io/etcd:3.5.16-0', command: [etcd, --data-dir=/tmp/etcd, --listen-client-urls=http://0.0.0.0:5000, --advertise-client-urls=http://127.0.0.1:5000, --listen-peer-urls=http://127.0.0.1:2380, --initial-advertise-peer-urls=http://127.0.0.1:2380, --initial-cluster=default=http://127.0.0.1:2380], ports: [{{containerPort: 5000}}, {{containerPort: 8080}}], livenessProbe: {probe}"
        ),
        "",
    )
}

both!(
    /// "should *not* be restarted with a GRPC liveness probe" (long: 4 minutes).
    container_is_not_restarted_by_a_grpc_liveness_probe,
    sidecar_is_not_restarted_by_a_grpc_liveness_probe,
    |probed: Probed| {
        let probe = format!("{{grpc: {{port: 5000}}, initialDelaySeconds: {INITIAL_DELAY}, timeoutSeconds: 5, failureThreshold: 1}}");
        let manifest = grpc_server_pod(probed, &probe);
        run_liveness_test(&case(probed, "grpc-alive"), ("test-grpc", manifest), "agnhost", 0, OBSERVATION);
    }
);

both!(
    /// "should be restarted with a GRPC liveness probe": the probe's port (2333) is not
    /// the server's.
    container_is_restarted_by_a_grpc_liveness_probe_of_a_wrong_port,
    sidecar_is_restarted_by_a_grpc_liveness_probe_of_a_wrong_port,
    |probed: Probed| {
        let probe = format!("{{grpc: {{port: 2333}}, initialDelaySeconds: {}, timeoutSeconds: 5, failureThreshold: 1}}", INITIAL_DELAY * 4);
        let manifest = grpc_server_pod(probed, &probe);
        run_liveness_test(&case(probed, "grpc-restart"), ("test-grpc", manifest), "agnhost", 1, OBSERVATION);
    }
);

/// `livenessPodSpec` / `livenessSidecarPodSpec`: agnhost's `liveness` server (HTTP on
/// 8080; its `/healthz` answers 500 from 10 s after its start), named `agnhost-container`
/// (`sidecar` beside `main`), with the liveness probe `probe` (a flow mapping); its
/// container's name and the manifest. The stand-in image is `xtask/src/images.rs`'s.
fn liveness_pod(probed: Probed, probe: &str) -> (&'static str, String) {
    let container = match probed {
        Probed::Container => "agnhost-container",
        Probed::Sidecar => "sidecar",
    };
    let fields = format!(
        "image: '{}', args: [liveness], livenessProbe: {probe}",
        super::AGNHOST_IMAGE
    );
    (container, probed.pod("liveness", container, &fields, ""))
}

/// A liveness probe of agnhost's `liveness` server: `handler` with `initialDelaySeconds:
/// delay, failureThreshold: 1`.
fn liveness_probe(handler: &str, delay: u32) -> String {
    format!("{{{handler}, initialDelaySeconds: {delay}, failureThreshold: 1}}")
}

both!(
    /// "should be restarted with a /healthz http liveness probe".
    container_is_restarted_by_an_http_liveness_probe,
    sidecar_is_restarted_by_an_http_liveness_probe,
    |probed: Probed| {
        let probe = liveness_probe("httpGet: {path: /healthz, port: 8080}", 15);
        let (container, manifest) = liveness_pod(probed, &probe);
        run_liveness_test(&case(probed, "http-restart"), ("liveness", manifest), container, 1, OBSERVATION);
    }
);

both!(
    /// "should *not* be restarted with a tcp:8080 liveness probe": the server answers 500
    /// after 10 s, its port stays open (long: 4 minutes).
    container_is_not_restarted_by_a_tcp_liveness_probe,
    sidecar_is_not_restarted_by_a_tcp_liveness_probe,
    |probed: Probed| {
        let probe = liveness_probe("tcpSocket: {port: 8080}", 15);
        let (container, manifest) = liveness_pod(probed, &probe);
        run_liveness_test(&case(probed, "tcp-alive"), ("liveness", manifest), container, 0, OBSERVATION);
    }
);

both!(
    /// "should have monotonically increasing restart count": 5 restarts, each checked to
    /// count up, within the kubelet's 2 minutes of back-off, 4 of observation and 2 per
    /// restart (slow: about 5 minutes of back-off here, 14 at most).
    container_restart_count_increases_monotonically,
    sidecar_restart_count_increases_monotonically,
    |probed: Probed| {
        let probe = liveness_probe("httpGet: {path: /healthz, port: 8080}", 5);
        let (container, manifest) = liveness_pod(probed, &probe);
        let timeout = 2 * MINUTE + OBSERVATION + 4 * 2 * MINUTE;
        run_liveness_test(&case(probed, "monotonic"), ("liveness", manifest), container, 5, timeout);
    }
);

both!(
    /// "should be restarted with a local redirect http liveness probe": `/redirect` sends
    /// the probe to `/healthz` on the same host, which is followed.
    container_is_restarted_by_a_local_redirect_http_liveness_probe,
    sidecar_is_restarted_by_a_local_redirect_http_liveness_probe,
    |probed: Probed| {
        let probe = liveness_probe("httpGet: {path: '/redirect?loc=%2Fhealthz', port: 8080}", 15);
        let (container, manifest) = liveness_pod(probed, &probe);
        run_liveness_test(&case(probed, "local-redirect"), ("liveness", manifest), container, 1, OBSERVATION);
    }
);

both!(
    /// "should *not* be restarted with a non-local redirect http liveness probe": the
    /// redirect to `http://0.0.0.0/` is not followed, a success told by a `ProbeWarning`
    /// event with the answer's body, waited for `PodEventTimeout` (long: 4 minutes).
    container_is_not_restarted_by_a_non_local_redirect_http_liveness_probe,
    sidecar_is_not_restarted_by_a_non_local_redirect_http_liveness_probe,
    |probed: Probed| {
        let probe =
            liveness_probe("httpGet: {path: '/redirect?loc=http%3A%2F%2F0.0.0.0%2F', port: 8080}", 15);
        let (container, manifest) = liveness_pod(probed, &probe);
        let node = run_liveness_test(&case(probed, "far-redirect"), ("liveness", manifest), container, 0, OBSERVATION);
        let client = PodClient { node: &node, pod: "liveness" };
        let expected = "Probe terminated redirects, Response body: <a href=\"http://0.0.0.0/\">Found</a>.";
        eventually(2 * MINUTE, POLL, "a ProbeWarning event", || {
            let events = client.events();
            events
                .iter()
                .find(|e| e.reason == "ProbeWarning" && e.message.contains(expected))
                .map(|_| ())
                .ok_or_else(|| format!("{events:?}"))
        });
    }
);

/// The script of the "in progress of terminating" cases: on SIGTERM it removes `files`
/// and takes `seconds` to exit.
fn terminating_script(files: &[&str], seconds: u32) -> String {
    let rm: String = files.iter().map(|f| format!("rm -f /tmp/{f}; ")).collect();
    let touch: String = files.iter().map(|f| format!("touch /tmp/{f}; ")).collect();
    format!(
        "_term() {{ {rm}sleep {seconds} & wait $!; exit 0; }}; trap _term TERM; {touch}while true; do echo hello; sleep 10 & wait $!; done"
    )
}

/// Deletes the pod (its manifest) and waits, within the framework's `PodDelete` timeout,
/// for a status of it that is not ready; fails if the pod is gone first.
fn goes_unready_while_terminating(node: &Node, pod: &str) {
    node.remove_manifest("pod.yaml");
    let full = node.pod_name(pod);
    let deadline = Instant::now() + Duration::from_secs(5 * 60);
    loop {
        let pods = node.pods();
        let Some(p) = pods.items.iter().find(|p| p.metadata.name == full) else {
            panic!("{full} left /pods without being seen not ready while it terminated");
        };
        if !is_ready(p) {
            return;
        }
        assert!(Instant::now() < deadline, "{full} is still ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pod of the "in progress of terminating" cases, `probes` on its container
/// `probe-test` running [`terminating_script`].
fn terminating_pod(probed: Probed, script: &str, probes: &str) -> String {
    probed.pod(
        "probe-test",
        "probe-test",
        &format!("image: busybox:1.36, command: [/bin/sh], args: [-c, '{script}']{probes}"),
        "  terminationGracePeriodSeconds: 30\n",
    )
}

both!(
    /// "should mark readiness on pods to false while pod is in progress of terminating
    /// when a pod has a readiness probe".
    container_goes_unready_while_its_pod_terminates,
    sidecar_goes_unready_while_its_pod_terminates,
    |probed: Probed| {
        let probes = exec("readinessProbe", "[cat, /tmp/ready]", "failureThreshold: 1, initialDelaySeconds: 5, periodSeconds: 2");
        let manifest = terminating_pod(probed, &terminating_script(&["ready"], 30), &probes);
        let node = node_with(&case(probed, "unready-terminating"), &manifest);
        pod_watch::within(&node, "probe-test", POD_START_TIMEOUT, |p| {
            Ok(p.status.phase == "Running" && is_ready(p))
        });
        goes_unready_while_terminating(&node, "probe-test");
    }
);

both!(
    /// "should mark readiness on pods to false and disable liveness probes while pod is
    /// in progress of terminating": no liveness failure is told in the minute after.
    container_is_not_liveness_probed_while_its_pod_terminates,
    sidecar_is_not_liveness_probed_while_its_pod_terminates,
    |probed: Probed| {
        let probes = [
            exec("readinessProbe", "[cat, /tmp/ready]", "failureThreshold: 1, initialDelaySeconds: 5, periodSeconds: 2"),
            exec("livenessProbe", "[cat, /tmp/liveness]", "failureThreshold: 1, initialDelaySeconds: 5, periodSeconds: 1"),
        ]
        .concat();
        let script = terminating_script(&["ready", "liveness"], 20);
        let manifest = terminating_pod(probed, &script, &probes);
        let node = node_with(&case(probed, "no-liveness-terminating"), &manifest);
        pod_watch::within(&node, "probe-test", POD_START_TIMEOUT, |p| {
            Ok(p.status.phase == "Running" && is_ready(p))
        });
        goes_unready_while_terminating(&node, "probe-test");
        let end = Instant::now() + MINUTE;
        while Instant::now() < end {
            let events = node.kubectl(&["get", "events", "-o", "json"]);
            assert!(events.success, "{events:?}");
            for needle in ["failed liveness probe", "Liveness probe failed"] {
                assert!(
                    !events.stdout.contains(needle),
                    "should not see liveness probe failures: {}",
                    events.stdout
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
);
