//! `test/e2e/common/node/lifecycle_hook.go`, translated: hooks that call a handler pod,
//! `sleep` hooks timed against the pod's deletion, and a stop signal.
//!
//! The kubelet's handler pod is agnhost's `netexec`; here it is busybox `httpd` serving a
//! CGI `echo` that appends `GET /echo?<query>` to a file of a hostPath volume (what the
//! kubelet's test reads from the handler's output). As in the kubelet's test, every pod with
//! a hook gets a sidecar (`container-redirect`, a restartable init container on port 8080
//! with a startup probe) that `httpGet` hooks reach at the pod's IP; the kubelet's sidecar
//! relays the request to the handler pod, ours logs it to the same file.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use staticpod_runtime::ContainerState;

use super::{POD_START_TIMEOUT, PodClient, backend};
use crate::support::{Node, pod_watch};

/// `lifecycle_hook.go`'s `postStartWaitTimeout`.
const POST_START_WAIT: Duration = Duration::from_secs(2 * 60);
/// `lifecycle_hook.go`'s `preStopWaitTimeout`.
const PRE_STOP_WAIT: Duration = Duration::from_secs(30);
/// `lifecycle_hook.go`'s `podCheckInterval`.
const POD_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The e2e framework's `PodDelete` timeout, how long `DeleteSync` waits for a pod to go.
const POD_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The handler's CGI (agnhost `netexec`'s `/echo` stand-in): logs the request, answers 200.
const ECHO_CGI: &str = "#!/bin/sh\necho \"GET /echo?$QUERY_STRING\" >> /persistent/requests\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$QUERY_STRING\"\n";

/// The command of a busybox `httpd` on port 8080 serving [`ECHO_CGI`]; it exits at once on
/// SIGTERM, as agnhost does.
const SERVE_ECHO: &str =
    "[sh, -c, 'httpd -f -p 8080 -h /persistent/www & trap \"exit 0\" TERM; wait']";

/// [`SERVE_ECHO`] over TLS, agnhost `netexec --tls-cert-file /localhost.crt
/// --tls-private-key-file /localhost.key` on port 8080: in the agnhost stand-in, `socat`
/// terminates TLS with that certificate in front of the same `httpd` on 127.0.0.1:8081.
const SERVE_ECHO_TLS: &str = "[sh, -c, 'httpd -f -p 127.0.0.1:8081 -h /persistent/www & socat OPENSSL-LISTEN:8080,fork,reuseaddr,cert=/localhost.crt,key=/localhost.key,verify=0 TCP:127.0.0.1:8081 & trap \"exit 0\" TERM; wait']";

/// The `persistent` volume mount of the handler and of the sidecar.
const PERSISTENT: &str = "volumeMounts: [{name: persistent, mountPath: /persistent}]";

/// A busybox container that stays up and exits at once on SIGTERM (agnhost's default).
const AGNHOST: &str =
    "image: busybox:1.36, command: [sh, -c, 'trap \"exit 0\" TERM; sleep 600 & wait']";

/// The pause image, as the kubelet's `GetPauseImageName`.
const PAUSE: &str = "image: 'registry.k8s.io/pause:3.9'";

/// One node with the handler pod (`pod-handle-http-request`) running, and the directory
/// where the requests it gets are written.
struct Hooks {
    node: Node,
    dir: PathBuf,
    /// The handler pod's IP (the kubelet's `targetIP`).
    target_ip: String,
}

impl Hooks {
    /// The node of case `case`, its handler pod created and running (`CreateSync`).
    fn start(case: &str) -> Hooks {
        let mut node = Node::new(backend(), case);
        let dir = node.scratch("handler");
        let cgi = dir.join("www/cgi-bin");
        std::fs::create_dir_all(&cgi).unwrap();
        let echo = cgi.join("echo");
        std::fs::write(&echo, ECHO_CGI).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o755)).unwrap();
        node.write_manifest(
            "handler.yaml",
            &format!(
                "kind: Pod\nmetadata: {{name: pod-handle-http-request}}\nspec:\n  containers:\n  - {{name: container-handle-http-request, image: busybox:1.36, command: {SERVE_ECHO}, {PERSISTENT}}}\n{}",
                volume(&dir)
            ),
        );
        node.start_agent();
        let ready = create_sync(&node, "pod-handle-http-request");
        let target_ip = ready
            .status
            .pod_ip
            .clone()
            .expect("the handler pod has an IP");
        Hooks {
            node,
            dir,
            target_ip,
        }
    }

    /// The exec hook of the kubelet's test: a request for `/echo?msg=<msg>` to the handler.
    fn exec_hook(&self, msg: &str) -> String {
        format!(
            "{{exec: {{command: [sh, -c, 'wget -qO- http://{}:8080/cgi-bin/echo?msg={msg}']}}}}",
            self.target_ip
        )
    }

    /// Runs pod `name`: creates it with the sidecar, waits for the `postStart` request
    /// when `post_start`, deletes it (`DeleteSync`, the pod's grace period 15 s) and waits
    /// for the `preStop` request when `pre_stop`. `init` is the init containers after the
    /// sidecar and `containers` the regular ones (YAML list items), one of them hooked. As
    /// the kubelet's test, the sidecar and its startup probe speak the hook's scheme.
    fn run(&self, name: &str, init: &str, containers: &str, post_start: bool, pre_stop: bool) {
        let https = format!("{init}{containers}").contains(HTTPS);
        let (image, serve, scheme) = if https {
            (super::AGNHOST_IMAGE, SERVE_ECHO_TLS, HTTPS)
        } else {
            ("busybox:1.36", SERVE_ECHO, "")
        };
        let sidecar = format!(
            "  - {{name: container-redirect, image: '{image}', command: {serve}, restartPolicy: Always, startupProbe: {{httpGet: {{{scheme}path: '/cgi-bin/echo?msg=startup', port: 8080}}}}, {PERSISTENT}}}\n"
        );
        let file = format!("{name}.yaml");
        self.node.write_manifest(
            &file,
            &format!(
                "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 15\n  initContainers:\n{sidecar}{init}  containers:\n{containers}{}",
                volume(&self.dir)
            ),
        );
        create_sync(&self.node, name);
        if post_start {
            self.wait_request("msg=poststart", POST_START_WAIT);
        }
        self.node.remove_manifest(&file);
        delete_sync(&self.node, name, Instant::now());
        if pre_stop {
            self.wait_request("msg=prestop", PRE_STOP_WAIT);
        } else {
            assert!(
                !self.requests().contains("msg=prestop"),
                "no preStop hook, no request: {}",
                self.requests()
            );
        }
    }

    /// The requests the handler and the sidecars got.
    fn requests(&self) -> String {
        std::fs::read_to_string(self.dir.join("requests")).unwrap_or_default()
    }

    /// Waits `timeout` at most, checking every `podCheckInterval`, for the request
    /// `GET /echo?<query>` (the kubelet's `MatchContainerOutput`).
    fn wait_request(&self, query: &str, timeout: Duration) {
        let wanted = format!("GET /echo?{query}");
        let deadline = Instant::now() + timeout;
        while !self.requests().lines().any(|l| l == wanted) {
            assert!(
                Instant::now() < deadline,
                "no `{wanted}` within {timeout:?}; requests:\n{}\n--- agent log ---\n{}",
                self.requests(),
                self.node.log()
            );
            std::thread::sleep(POD_CHECK_INTERVAL);
        }
    }
}

/// The `persistent` volume: host directory `dir`.
fn volume(dir: &std::path::Path) -> String {
    crate::support::timeline::volume(dir)
}

/// Waits for pod `name` to be running and ready (`CreateSync`, the framework's
/// `PodStartTimeout`); returns its status then.
fn create_sync(node: &Node, name: &str) -> staticpod_core::status::PodView {
    PodClient { node, pod: name }.running_and_ready(POD_START_TIMEOUT)
}

/// Waits for every container and sandbox of pod `name`, deleted at `deleted`, to be gone
/// (`DeleteSync`, the framework's `PodDelete` timeout); returns how long it took.
fn delete_sync(node: &Node, name: &str, deleted: Instant) -> Duration {
    let full = node.pod_name(name);
    let of_pod = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(staticpod_runtime::labels::POD_NAME) == Some(&full)
    };
    loop {
        let left = node.containers().into_iter().any(|c| of_pod(&c.labels))
            || node.sandboxes().into_iter().any(|s| of_pod(&s.labels))
            || node.pods().items.iter().any(|p| p.metadata.name == full);
        if !left {
            return deleted.elapsed();
        }
        assert!(
            deleted.elapsed() < POD_DELETE_TIMEOUT,
            "{full} was not gone within {POD_DELETE_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A container `name` running `image`, `extra` more of its fields, with the hook `hook` as
/// its `kind` (`postStart`, `preStop`): `getPodWithHook`'s container.
fn hooked(name: &str, image: &str, extra: &str, kind: &str, hook: &str) -> String {
    format!("  - {{name: {name}, {image}, {extra}lifecycle: {{{kind}: {hook}}}}}\n")
}

/// `getPodWithHook`: the hook on the pod's only container.
fn run_pod_with_hook(hooks: &Hooks, name: &str, image: &str, kind: &str, hook: &str) {
    hooks.run(
        name,
        "",
        &hooked(name, image, "", kind, hook),
        kind == "postStart",
        kind == "preStop",
    );
}

/// `getSidecarPodWithHook`: the hook on a restartable init container, the pod's regular
/// container `main` running the pause image.
fn run_sidecar_pod_with_hook(hooks: &Hooks, name: &str, image: &str, kind: &str, hook: &str) {
    let init = hooked(name, image, "restartPolicy: Always, ", kind, hook);
    hooks.run(
        name,
        &init,
        &format!("  - {{name: main, {PAUSE}}}\n"),
        kind == "postStart",
        kind == "preStop",
    );
}

/// The `httpGet` hook of the kubelet's test, to the sidecar at the pod's IP, port 8080.
fn http_hook(_: &Hooks, msg: &str) -> String {
    format!("{{httpGet: {{path: '/cgi-bin/echo?msg={msg}', port: 8080}}}}")
}

/// The `scheme` of an HTTPS `httpGet` (YAML flow mapping entry).
const HTTPS: &str = "scheme: HTTPS, ";

/// The `httpGet` hook of the kubelet's https cases: [`http_hook`] over TLS, to the sidecar
/// serving it, its certificate not verified (the kubelet's `InsecureSkipVerify`).
fn https_hook(_: &Hooks, msg: &str) -> String {
    format!("{{httpGet: {{{HTTPS}path: '/cgi-bin/echo?msg={msg}', port: 8080}}}}")
}

/// The exec hook of the kubelet's test, a request to the handler pod.
fn exec_hook(hooks: &Hooks, msg: &str) -> String {
    hooks.exec_hook(msg)
}

/// One case per scenario: `run` (the hook on a regular container or on a sidecar) of pod
/// `pod` running `image`, its `kind` hook made by `hook` for message `msg`, on a node
/// with a handler pod.
macro_rules! hook_cases {
    ($($(#[doc = $doc:literal])* $test:ident: $run:ident($case:literal, $pod:literal, $image:expr, $kind:literal, $hook:ident($msg:literal));)*) => {
        $(
            $(#[doc = $doc])*
            #[test]
            #[ignore = "needs the runtime: run through cargo xtask test"]
            fn $test() {
                let hooks = Hooks::start($case);
                let hook = $hook(&hooks, $msg);
                $run(&hooks, $pod, $image, $kind, &hook);
            }
        )*
    };
}

hook_cases! {
    /// "Container Lifecycle Hook": "should execute poststart exec hook properly".
    poststart_exec_hook: run_pod_with_hook("e2e-hook-ps-exec", "pod-with-poststart-exec-hook", AGNHOST, "postStart", exec_hook("poststart"));
    /// "Container Lifecycle Hook": "should execute prestop exec hook properly".
    prestop_exec_hook: run_pod_with_hook("e2e-hook-pst-exec", "pod-with-prestop-exec-hook", AGNHOST, "preStop", exec_hook("prestop"));
    /// "Container Lifecycle Hook": "should execute poststart http hook properly".
    poststart_http_hook: run_pod_with_hook("e2e-hook-ps-http", "pod-with-poststart-http-hook", PAUSE, "postStart", http_hook("poststart"));
    /// "Container Lifecycle Hook": "should execute prestop http hook properly".
    prestop_http_hook: run_pod_with_hook("e2e-hook-pst-http", "pod-with-prestop-http-hook", PAUSE, "preStop", http_hook("prestop"));
    /// "Container Lifecycle Hook": "should execute poststart https hook properly".
    poststart_https_hook: run_pod_with_hook("e2e-hook-ps-https", "pod-with-poststart-https-hook", PAUSE, "postStart", https_hook("poststart"));
    /// "Container Lifecycle Hook": "should execute prestop https hook properly".
    prestop_https_hook: run_pod_with_hook("e2e-hook-pst-https", "pod-with-prestop-https-hook", PAUSE, "preStop", https_hook("prestop"));
    /// "Restartable Init Container Lifecycle Hook": "should execute poststart exec hook
    /// properly".
    sidecar_poststart_exec_hook: run_sidecar_pod_with_hook("e2e-shook-ps-exec", "pod-with-poststart-exec-hook", AGNHOST, "postStart", exec_hook("poststart"));
    /// "Restartable Init Container Lifecycle Hook": "should execute prestop exec hook
    /// properly" (the sidecar is stopped after the regular container, before
    /// `container-redirect`, which is before it).
    sidecar_prestop_exec_hook: run_sidecar_pod_with_hook("e2e-shook-pst-exec", "pod-with-prestop-exec-hook", AGNHOST, "preStop", exec_hook("prestop"));
    /// "Restartable Init Container Lifecycle Hook": "should execute poststart http hook
    /// properly".
    sidecar_poststart_http_hook: run_sidecar_pod_with_hook("e2e-shook-ps-http", "pod-with-poststart-http-hook", PAUSE, "postStart", http_hook("poststart"));
    /// "Restartable Init Container Lifecycle Hook": "should execute prestop http hook
    /// properly": the hook reaches `container-redirect`, which is stopped after it.
    sidecar_prestop_http_hook: run_sidecar_pod_with_hook("e2e-shook-pst-http", "pod-with-prestop-http-hook", PAUSE, "preStop", http_hook("prestop"));
    /// "Restartable Init Container Lifecycle Hook": "should execute poststart https hook
    /// properly".
    sidecar_poststart_https_hook: run_sidecar_pod_with_hook("e2e-shook-ps-https", "pod-with-poststart-https-hook", PAUSE, "postStart", https_hook("poststart"));
    /// "Restartable Init Container Lifecycle Hook": "should execute prestop https hook
    /// properly".
    sidecar_prestop_https_hook: run_sidecar_pod_with_hook("e2e-shook-pst-https", "pod-with-prestop-https-hook", PAUSE, "preStop", https_hook("prestop"));
}

/// A node running pod `name`, `spec` its spec's lines, once it is running and ready.
fn sleep_hook_node(case: &str, name: &str, spec: &str, wait_ready: bool) -> Node {
    let mut node = Node::new(backend(), case);
    node.write_manifest(
        "pod.yaml",
        &format!("kind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}"),
    );
    node.start_agent();
    if wait_ready {
        create_sync(&node, name);
    }
    node
}

/// `validDuration`: `low` s <= `duration` <= `high` s.
fn valid_duration(duration: Duration, low: u64, high: u64) -> bool {
    duration >= Duration::from_secs(low) && duration <= Duration::from_secs(high)
}

/// Deletes the pod of `node` (its manifest) and returns how long its container `name`
/// went on running (the kubelet's `finishAt - deletionTS + gracePeriod`).
fn delete_and_time_the_stop(node: &Node, pod: &str, name: &str, limit: Duration) -> Duration {
    node.remove_manifest("pod.yaml");
    let deleted = Instant::now();
    while !node.running(pod, name).is_empty() {
        assert!(
            deleted.elapsed() < limit,
            "{pod}/{name} still runs {limit:?} after its deletion"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    deleted.elapsed()
}

/// "Lifecycle Sleep Hook": "valid prestop hook using sleep action": a 50 s `sleep` hook
/// within a 100 s grace period holds the container 50 to 100 s after the deletion.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn valid_prestop_hook_using_sleep_action() {
    let name = "pod-with-prestop-sleep-hook";
    let node = sleep_hook_node(
        "e2e-sleep-hook",
        name,
        &format!(
            "  terminationGracePeriodSeconds: 100\n  containers:\n  - {{name: {name}, {PAUSE}, lifecycle: {{preStop: {{sleep: {{seconds: 50}}}}}}}}\n"
        ),
        true,
    );
    let cost = delete_and_time_the_stop(&node, name, name, 2 * 50 * Duration::from_secs(1));
    assert!(
        valid_duration(cost, 50, 100),
        "unexpected delay duration before killing the pod: {cost:?}"
    );
}

/// "Lifecycle Sleep Hook": "ignore terminated container": a container that exited on its
/// own is not held by its 10 s `sleep` hook.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_sleep_hook_ignores_a_terminated_container() {
    let name = "pod-with-prestop-sleep-hook";
    let node = sleep_hook_node(
        "e2e-sleep-hook-exited",
        name,
        &format!(
            "  terminationGracePeriodSeconds: 30\n  restartPolicy: Never\n  containers:\n  - {{name: {name}, image: busybox:1.36, command: [/bin/sh], args: [-c, 'sleep 3'], lifecycle: {{preStop: {{sleep: {{seconds: 10}}}}}}}}\n"
        ),
        false,
    );
    // `WaitForContainerTerminated`, 30 s (the grace period).
    pod_watch::within(&node, name, Duration::from_secs(30), |p| {
        Ok(p.status
            .container_statuses
            .first()
            .is_some_and(|s| s.state.terminated.is_some()))
    });
    let exited: Vec<(SystemTime, SystemTime)> = node
        .instances(name, name)
        .into_iter()
        .filter_map(|c| match c.state {
            ContainerState::Exited {
                started_at,
                finished_at,
                ..
            } => Some((started_at, finished_at)),
            _ => None,
        })
        .collect();
    let [(started, finished)] = exited[..] else {
        panic!("one exited instance: {exited:?}")
    };
    let cost = finished.duration_since(started).unwrap_or_default();
    assert!(
        valid_duration(cost, 0, 10),
        "unexpected delay duration before killing the pod, cost = {cost:?}"
    );
    node.remove_manifest("pod.yaml");
    delete_sync(&node, name, Instant::now());
}

/// "Lifecycle sleep action zero value": "prestop hook using sleep action with zero
/// duration": the deletion takes less than the default 30 s grace period.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn prestop_hook_using_sleep_action_with_zero_duration() {
    let name = "pod-with-prestop-sleep-hook-zero-duration";
    let node = sleep_hook_node(
        "e2e-sleep-hook-zero",
        name,
        &format!(
            "  containers:\n  - {{name: {name}, {PAUSE}, lifecycle: {{preStop: {{sleep: {{seconds: 0}}}}}}}}\n"
        ),
        true,
    );
    node.remove_manifest("pod.yaml");
    let cost = delete_sync(&node, name, Instant::now());
    assert!(
        valid_duration(cost, 0, 30),
        "unexpected delay duration before killing the pod, cost = {cost:?}"
    );
}

/// `[Feature:ContainerStopSignals]`: "StopSignal defined with pod.OS": a pod whose
/// container's `lifecycle.stopSignal` is SIGTERM, with `os.name: linux`, runs.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn stop_signal_defined_with_pod_os() {
    let name = "pod-stop-signal";
    let node = sleep_hook_node(
        "e2e-stop-signal",
        name,
        &format!(
            "  os: {{name: linux}}\n  securityContext: {{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {{type: RuntimeDefault}}}}\n  containers:\n  - {{name: test, {PAUSE}, lifecycle: {{stopSignal: SIGTERM}}, securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}}}\n"
        ),
        false,
    );
    // `WaitForPodRunningInNamespace`: the framework's `PodStartTimeout`.
    pod_watch::within(&node, name, POD_START_TIMEOUT, |p| {
        Ok(p.status.phase == "Running")
    });
}
