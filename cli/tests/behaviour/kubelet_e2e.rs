//! The kubelet's node e2e scenarios (`test/e2e_node`, `test/e2e/common/node`) that need no
//! API server, translated: a static pod stands for the pod the tests create, the agent's
//! `/pods` for the API's status, stopping and starting `staticpod run` for restarting the
//! kubelet, and every container logs `<time> <name> Starting|Started|Exiting` to a hostPath
//! file that the case reads (`support::timeline`). Timings and tolerances are the
//! kubelet's. `E2E.md` lists every scenario: translated here, or why not.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use staticpod_core::status::PodView;
use staticpod_runtime::ContainerState;

use super::backend;
use crate::support::timeline::{self, Exec, Timeline};
use crate::support::{Node, pod_watch};

#[path = "kubelet_e2e/lifecycle_hook.rs"]
mod lifecycle_hook;

#[path = "kubelet_e2e/container_probe.rs"]
mod container_probe;

#[path = "kubelet_e2e/mirror_pod.rs"]
mod mirror_pod;

#[path = "kubelet_e2e/mirror_pod_grace_period.rs"]
mod mirror_pod_grace_period;

#[path = "kubelet_e2e/container_restart.rs"]
mod container_restart;

#[path = "kubelet_e2e/security_context.rs"]
mod security_context;

#[path = "kubelet_e2e/sysctl.rs"]
mod sysctl;

#[path = "kubelet_e2e/downward_api.rs"]
mod downward_api;

#[path = "kubelet_e2e/expansion.rs"]
mod expansion;

#[path = "kubelet_e2e/log_rotation.rs"]
mod log_rotation;

const MINUTE: Duration = Duration::from_secs(60);

/// agnhost, the kubelet's test image: the offline stand-in of `xtask/src/images.rs`.
const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

/// The e2e framework's `PodStartTimeout`, how long `init_container.go` watches a pod.
const POD_START_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The kubelet's `gomega.Consistently` window for "no completed init container should be
/// restarted" after its restart.
const CONSISTENTLY: Duration = Duration::from_secs(60);

/// One pod of a case: its name, its volume's host directory, its init containers' names,
/// and the container that runs for good (an app container, or a long-running init one).
struct E2ePod {
    name: &'static str,
    dir: PathBuf,
    inits: Vec<&'static str>,
    running: &'static str,
}

impl E2ePod {
    /// The init containers that have completed while `running` runs.
    fn completed(&self) -> Vec<&'static str> {
        self.inits
            .iter()
            .copied()
            .take_while(|init| *init != self.running)
            .collect()
    }

    fn timeline(&self) -> Timeline {
        Timeline::read(&self.dir)
    }

    /// Removes this pod's init containers that exited 0, as the kubelet's test does
    /// through CRI while the kubelet is stopped; returns how many.
    fn remove_completed_inits(&self, node: &Node) -> usize {
        let mut removed = 0;
        for init in &self.inits {
            for instance in node.instances(self.name, init) {
                if matches!(instance.state, ContainerState::Exited { exit_code: 0, .. }) {
                    node.remove_container(&instance.id);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Every init container that completed was starting once, and the status counts no
    /// restart of any.
    fn no_init_restarted(&self, node: &Node) -> Result<(), String> {
        let timeline = self.timeline();
        for init in self.completed() {
            timeline.has_not_restarted(init)?;
        }
        let full = node.pod_name(self.name);
        let pods = node.pods();
        let pod = pods
            .items
            .iter()
            .find(|p| p.metadata.name == full)
            .ok_or_else(|| format!("{full} is not in /pods"))?;
        match pod
            .status
            .init_container_statuses
            .iter()
            .find(|s| s.restart_count > 0)
        {
            Some(restarted) => Err(format!("{restarted:?}")),
            None => Ok(()),
        }
    }
}

/// Checks `check` every second for `window`, failing at its first error (gomega's
/// `Consistently`).
fn consistently(window: Duration, what: &str, check: impl FnMut() -> Result<(), String>) {
    consistently_every(window, Duration::from_secs(1), what, check);
}

/// Checks `check` every `interval` for `window`, failing at its first error (gomega's
/// `Consistently` with its polling interval).
fn consistently_every(
    window: Duration,
    interval: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<(), String>,
) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Err(error) = check() {
            panic!("{what}: {error}");
        }
        std::thread::sleep(interval);
    }
}

/// Checks `check` every `interval` until it succeeds, and returns what it gave; fails after
/// `timeout` with its last error (gomega's `Eventually`).
fn eventually<T>(
    timeout: Duration,
    interval: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let end = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(error) if Instant::now() >= end => {
                panic!("{what}: gave up after {timeout:?}: {error}")
            }
            Err(_) => std::thread::sleep(interval),
        }
    }
}

/// The e2e framework's `PodStartShortTimeout`.
const POD_START_SHORT_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The e2e framework's `Poll`, how often its waits look.
const POLL: Duration = Duration::from_secs(2);

/// One event of a pod, as `kubectl get events` gives it.
#[derive(Debug, Clone)]
struct PodEvent {
    /// `Normal` or `Warning`.
    type_: String,
    reason: String,
    message: String,
}

/// A node running the pod of a case (or more: [`PodClient`] reads any of them).
struct OnePod {
    node: Node,
    /// The manifest's name (the agent adds the node's).
    pod: String,
}

impl OnePod {
    /// A node for case `case` running `manifest` (pod `pod`, written as `<pod>.yaml`),
    /// once the agent lists the pod. A manifest the agent refuses fails the case at once:
    /// it would never become the pod the case waits for.
    fn start(case: &str, pod: &str, manifest: &str) -> OnePod {
        let run = OnePod::write(case, pod, manifest);
        let node = &run.node;
        let file = node.manifests.join(format!("{pod}.yaml"));
        let full = node.pod_name(pod);
        node.wait_for(&format!("{full} to be listed"), || {
            if node.pods().items.iter().any(|p| p.metadata.name == full) {
                return Ok(());
            }
            let (_, stderr) = node.get_pods();
            if stderr.contains(&file.display().to_string()) {
                panic!("the agent refused the manifest of {full}:\n{stderr}");
            }
            Err("not listed yet".to_string())
        });
        run
    }

    /// A node for case `case` given `manifest` (pod `pod`, written as `<pod>.yaml`),
    /// whether the agent takes it or not.
    fn write(case: &str, pod: &str, manifest: &str) -> OnePod {
        let mut node = Node::new(backend(), case);
        node.write_manifest(&format!("{pod}.yaml"), manifest);
        node.start_agent();
        OnePod {
            node,
            pod: pod.to_string(),
        }
    }

    /// The pod, as the e2e framework's pod client reads it.
    fn client(&self) -> PodClient<'_> {
        PodClient {
            node: &self.node,
            pod: &self.pod,
        }
    }
}

/// A pod of a case as the e2e framework's pod client sees it: created by writing its
/// manifest, its statuses read from `/pods`, its logs (`GetPodLogs`) and events
/// (`Events(ns).Search(pod)`) through kubectl.
#[derive(Clone, Copy)]
struct PodClient<'a> {
    node: &'a Node,
    /// The manifest's name (the agent adds the node's).
    pod: &'a str,
}

impl PodClient<'_> {
    /// The pod's name at `/pods` (the mirror pod's).
    fn full_name(&self) -> String {
        self.node.pod_name(self.pod)
    }

    /// Watches the pod for `timeout` at most until `done` says so; its status then.
    fn wait(
        &self,
        timeout: Duration,
        done: impl FnMut(&PodView) -> Result<bool, String>,
    ) -> PodView {
        let seen = pod_watch::within(self.node, self.pod, timeout, done);
        seen.last().cloned().expect("a status")
    }

    /// `CreateSync`'s wait: the pod is running and ready within `timeout`; its status then.
    fn running_and_ready(&self, timeout: Duration) -> PodView {
        self.wait(timeout, |p| {
            Ok(p.status.phase == "Running"
                && p.status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True"))
        })
    }

    /// `WaitForSuccess`: the pod succeeds within `timeout`; failing fails the case.
    fn wait_success(&self, timeout: Duration) -> PodView {
        self.wait(timeout, |p| match p.status.phase.as_str() {
            "Succeeded" => Ok(true),
            "Failed" => Err(format!("pod failed: {:?}", p.status.message)),
            _ => Ok(false),
        })
    }

    /// `waitForFailure`: the pod fails within `timeout`; succeeding fails the case.
    fn wait_failure(&self, timeout: Duration) -> PodView {
        self.wait(timeout, |p| match p.status.phase.as_str() {
            "Failed" => Ok(true),
            "Succeeded" => Err("pod succeeded".to_string()),
            _ => Ok(false),
        })
    }

    /// `GetPodLogs` of container `container`.
    fn logs(&self, container: &str) -> String {
        let full = self.full_name();
        let logs = self.node.kubectl(&["logs", &full, "-c", container]);
        assert!(logs.success, "kubectl logs {full} -c {container}: {logs:?}");
        logs.stdout
    }

    /// The pod's events, in the order the agent keeps them.
    fn events(&self) -> Vec<PodEvent> {
        let get = self.node.kubectl(&["get", "events", "-o", "json"]);
        assert!(get.success, "kubectl get events: {get:?}");
        let list: serde_json::Value = serde_json::from_str(&get.stdout).expect("an EventList");
        let full = self.full_name();
        let text =
            |e: &serde_json::Value, key: &str| e[key].as_str().unwrap_or_default().to_string();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["involvedObject"]["kind"] == "Pod" && e["involvedObject"]["name"] == full.as_str()
            })
            .map(|e| PodEvent {
                type_: text(e, "type"),
                reason: text(e, "reason"),
                message: text(e, "message"),
            })
            .collect()
    }

    /// `WaitForErrorEventOrSuccess`: every `POLL` for `PodStartTimeout`, the first of the
    /// pod's events that is `Killing`, `Failed` or `SysctlForbidden` (returned), or
    /// `Started` (`None`).
    fn error_event_or_success(&self) -> Option<PodEvent> {
        eventually(
            POD_START_TIMEOUT,
            POLL,
            "an error event or a started container",
            || {
                for event in self.events() {
                    match event.reason.as_str() {
                        "Killing" | "Failed" | "SysctlForbidden" => return Ok(Some(event)),
                        "Started" => return Ok(None),
                        _ => {}
                    }
                }
                Err("none yet".to_string())
            },
        )
    }

    /// `WaitForPodContainerToFail`: container `index` waits with `reason` while the pod is
    /// `Pending`, within `timeout`; an error when the pod is anything but `Pending` first,
    /// or at the timeout.
    fn container_fails(&self, index: usize, reason: &str, timeout: Duration) -> Result<(), String> {
        let full = self.full_name();
        let end = Instant::now() + timeout;
        loop {
            let pod = self
                .node
                .pods()
                .items
                .into_iter()
                .find(|p| p.metadata.name == full);
            if let Some(pod) = pod {
                match pod.status.phase.as_str() {
                    "Pending" => {
                        let waiting = pod
                            .status
                            .container_statuses
                            .get(index)
                            .and_then(|s| s.state.waiting.as_ref());
                        if waiting.is_some_and(|w| w.reason == reason) {
                            return Ok(());
                        }
                    }
                    phase => {
                        return Err(format!(
                            "pod was expected to be pending, but it is in the state: {phase}"
                        ));
                    }
                }
            }
            if Instant::now() >= end {
                return Err(format!(
                    "no container {index} waiting with {reason} in {timeout:?}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// `e2epodoutput.TestContainerOutput`: the pod of `manifest` succeeds within
/// `PodStartTimeout`, and the log of its container `container` holds each of `expected`.
fn container_output(
    case: &str,
    pod: &str,
    manifest: &str,
    container: &str,
    expected: &[&str],
) -> OnePod {
    let run = OnePod::start(case, pod, manifest);
    run.client().wait_success(POD_START_TIMEOUT);
    let logs = run.client().logs(container);
    for wanted in expected {
        assert!(
            logs.contains(wanted),
            "the log of {container} should hold {wanted:?}:\n{logs}"
        );
    }
    run
}

/// `container_lifecycle_test.go`, "The kubelet restarts": for a pod initialized and
/// running, and for one whose long-running third init container runs, "should not restart
/// any completed init container after the kubelet restart" and "..., even after the
/// completed init container statuses have been removed and the kubelet restarted". The
/// four scenarios run side by side as four pods of one node, through one agent restart.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn completed_init_containers_are_not_run_again_after_an_agent_restart() {
    let mut node = Node::new(backend(), "e2e-reinit");
    let pods: Vec<E2ePod> = [
        ("initialized", "init-3"),
        ("initialized-removed", "init-3"),
        ("initializing", "long-running-init-3"),
        ("initializing-removed", "long-running-init-3"),
    ]
    .into_iter()
    .map(|(name, third)| {
        let dir = node.scratch(name);
        let long = third.starts_with("long");
        let inits = [
            ("init-1", Exec::exits(0, 1)),
            ("init-2", Exec::exits(0, 1)),
            (third, Exec::exits(0, if long { 300 } else { 1 })),
        ];
        let init_yaml: Vec<String> = inits.iter().map(|(n, e)| e.container(n, "")).collect();
        let regular = [Exec::exits(0, 300).container("regular-1", "")];
        node.write_manifest(
            &format!("{name}.yaml"),
            &timeline::pod(name, &policy("Always"), &dir, &init_yaml, &regular),
        );
        E2ePod {
            name,
            dir,
            inits: inits.iter().map(|(n, _)| *n).collect(),
            running: if long { third } else { "regular-1" },
        }
    })
    .collect();
    node.start_agent();
    let before: Vec<String> = pods
        .iter()
        .map(|pod| {
            let container = node.wait_running(pod.name, pod.running);
            node.wait_for(
                &format!("{}/{} to log Started", pod.name, pod.running),
                || pod.timeline().index(pod.running, "Started", 0).map(drop),
            );
            container.id
        })
        .collect();

    node.terminate_agent();
    for pod in pods.iter().filter(|p| p.name.ends_with("-removed")) {
        assert_eq!(
            pod.remove_completed_inits(&node),
            pod.completed().len(),
            "{}: every completed init container removed",
            pod.name
        );
    }
    node.start_agent();
    // The kubelet's test waits for the restarted kubelet to be healthy; the API has kept
    // the pods meanwhile, while a restarted agent lists them once it has read its manifests.
    for pod in &pods {
        let full = node.pod_name(pod.name);
        node.wait_for(&format!("{full} to be listed again"), || {
            let listed = node.pods().items.iter().any(|p| p.metadata.name == full);
            listed.then_some(()).ok_or("not in /pods yet".to_string())
        });
    }

    consistently(
        CONSISTENTLY,
        "no completed init container should be restarted",
        || {
            for (pod, id) in pods.iter().zip(&before) {
                pod.no_init_restarted(&node)
                    .map_err(|e| format!("{}: {e}", pod.name))?;
                let now: Vec<String> = node
                    .running(pod.name, pod.running)
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                if now != [id.clone()] {
                    return Err(format!(
                        "{}/{} was {id}, now {now:?}",
                        pod.name, pod.running
                    ));
                }
            }
            Ok(())
        },
    );
    for pod in &pods {
        let timeline = pod.timeline();
        let [one, two, three] = pod.inits[..] else {
            unreachable!("three init containers")
        };
        timeline.ran_one_after_another(&[one, two]).unwrap();
        if pod.running == "regular-1" {
            timeline.ran_one_after_another(&[two, three]).unwrap();
            timeline.starts_before(three, "regular-1").unwrap();
        }
    }
}

/// The pod of `init_container.go`: init containers `init1` and `init2` running `inits`,
/// and the app container `run1`, `run1` being its image and command.
fn init_container_pod(policy: &str, inits: [&str; 2], run1: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: pod-init, labels: {{name: foo}}}}\nspec:\n  restartPolicy: {policy}\n  initContainers:\n  - {{name: init1, image: busybox:1.36, command: [{}]}}\n  - {{name: init2, image: busybox:1.36, command: [{}]}}\n  containers:\n  - {{name: run1, {run1}}}\n",
        inits[0], inits[1]
    )
}

/// A node running the pod of [`init_container_pod`] for case `case`.
fn init_container_node(case: &str, policy: &str, inits: [&str; 2], run1: &str) -> Node {
    let mut node = Node::new(backend(), case);
    node.write_manifest("pod-init.yaml", &init_container_pod(policy, inits, run1));
    node.start_agent();
    node
}

/// `init_container.go`'s app container of its RestartAlways pods: the pause image, with a
/// CPU limit.
const PAUSE_RUN1: &str = "image: 'registry.k8s.io/pause:3.9', resources: {limits: {cpu: 100m}}";

/// The `Initialized` condition of `pod`: (status, reason, message).
fn initialized_condition(pod: &PodView) -> (String, Option<String>, Option<String>) {
    let c = pod
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Initialized")
        .expect("an Initialized condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Every init container of `pod` completed: ready, terminated with 0.
fn assert_inits_completed(pod: &PodView) {
    let inits = &pod.status.init_container_statuses;
    assert_eq!(inits.len(), 2, "{inits:?}");
    for status in inits {
        assert!(
            status.ready,
            "init container {} should be ready",
            status.name
        );
        let terminated = status.state.terminated.as_ref().expect("terminated");
        assert_eq!(terminated.exit_code, 0, "{status:?}");
    }
}

/// `init_container.go`: "should invoke init containers on a RestartNever pod".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_containers_run_on_a_restart_never_pod() {
    let node = init_container_node(
        "e2e-init-never",
        "Never",
        ["/bin/true", "/bin/true"],
        "image: busybox:1.36, command: [/bin/true]",
    );
    let statuses = pod_watch::within(&node, "pod-init", POD_START_TIMEOUT, |p| Ok(completed(p)));
    pod_watch::check_init_invariant(&statuses);
    let end = statuses.last().unwrap();
    assert_eq!(end.status.phase, "Succeeded");
    assert_eq!(initialized_condition(end).0, "True");
    assert_inits_completed(end);
}

/// `init_container.go`: "should invoke init containers on a RestartAlways pod".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_containers_run_on_a_restart_always_pod() {
    let node = init_container_node(
        "e2e-init-always",
        "Always",
        ["/bin/true", "/bin/true"],
        PAUSE_RUN1,
    );
    let statuses = pod_watch::within(&node, "pod-init", POD_START_TIMEOUT, |p| {
        Ok(p.status.phase == "Running")
    });
    pod_watch::check_init_invariant(&statuses);
    let end = statuses.last().unwrap();
    assert_eq!(initialized_condition(end).0, "True");
    assert_inits_completed(end);
}

/// Holds `statuses` to the init invariant; the last one is in `phase`, not initialized for
/// the kubelet's reason and with `incomplete` (`[init1 init2]`) in its message. Returns it.
fn not_initialized<'a>(statuses: &'a [PodView], phase: &str, incomplete: &str) -> &'a PodView {
    pod_watch::check_init_invariant(statuses);
    let end = statuses.last().unwrap();
    assert_eq!(end.status.phase, phase);
    assert_eq!(
        initialized_condition(end),
        (
            "False".to_string(),
            Some("ContainersNotInitialized".to_string()),
            Some(format!("containers with incomplete status: {incomplete}"))
        )
    );
    end
}

/// The kubelet's `conditions.PodCompleted`: the pod succeeded or failed.
fn completed(pod: &PodView) -> bool {
    matches!(pod.status.phase.as_str(), "Succeeded" | "Failed")
}

/// `pod`'s app containers all wait as `PodInitializing`.
fn apps_wait_initializing(pod: &PodView) -> Result<(), String> {
    for status in &pod.status.container_statuses {
        match &status.state.waiting {
            Some(w) if w.reason == "PodInitializing" => {}
            _ => {
                return Err(format!(
                    "container {} should wait as PodInitializing",
                    status.name
                ));
            }
        }
    }
    Ok(())
}

/// `init_container.go`: "should not start app containers if init containers fail on a
/// RestartAlways pod": the failing first init container is restarted (three times, with
/// the back-off), the second one and the app never start.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn app_containers_do_not_start_while_an_init_container_fails_on_a_restart_always_pod() {
    let node = init_container_node(
        "e2e-init-fail-always",
        "Always",
        ["/bin/false", "/bin/true"],
        PAUSE_RUN1,
    );
    let mut restarted_once = false;
    let statuses = pod_watch::within(&node, "pod-init", POD_START_TIMEOUT, |pod| {
        let inits = &pod.status.init_container_statuses;
        if !restarted_once {
            apps_wait_initializing(pod)?;
            match &inits[1].state.waiting {
                Some(w) if w.reason == "PodInitializing" => {}
                _ => return Err("second init container should wait as PodInitializing".into()),
            }
            if inits[0]
                .state
                .terminated
                .as_ref()
                .is_some_and(|t| t.exit_code == 0)
            {
                return Err("first init container should have exitCode != 0".into());
            }
            restarted_once = inits[0].last_state.terminated.is_some();
            return Ok(false);
        }
        Ok(inits[0].restart_count >= 3)
    });
    let end = not_initialized(&statuses, "Pending", "[init1 init2]");
    assert_eq!(end.status.init_container_statuses.len(), 2);
}

/// `init_container.go`: "should not start app containers and fail the pod if init
/// containers fail on a RestartNever pod".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_failed_init_container_fails_a_restart_never_pod() {
    let node = init_container_node(
        "e2e-init-fail-never",
        "Never",
        ["/bin/true", "/bin/false"],
        "image: busybox:1.36, command: [/bin/true], resources: {limits: {cpu: 100m}}",
    );
    let mut second_failed = false;
    let statuses = pod_watch::within(&node, "pod-init", POD_START_TIMEOUT, |pod| {
        let inits = &pod.status.init_container_statuses;
        if !second_failed {
            apps_wait_initializing(pod)?;
            match (&inits[0].state.terminated, &inits[0].state.waiting) {
                (Some(t), _) if t.exit_code != 0 => {
                    return Err("first init container should have exitCode 0".into());
                }
                (None, Some(w)) if w.reason != "PodInitializing" => {
                    return Err("first init container should wait as PodInitializing".into());
                }
                (None, _) => return Ok(false),
                (Some(_), _) => {}
            }
            match &inits[1].state.terminated {
                Some(t) if t.exit_code == 0 => {
                    return Err("second init container should have failed".into());
                }
                Some(_) => second_failed = true,
                None => return Ok(false),
            }
        }
        Ok(completed(pod))
    });
    let end = not_initialized(&statuses, "Failed", "[init2]");
    assert_eq!(end.status.init_container_statuses.len(), 2);
    assert!(end.status.container_statuses[0].state.waiting.is_some());
}

/// A one-pod case of `container_lifecycle_test.go`: the node, the pod's name and its
/// volume's directory.
struct Lifecycle {
    node: Node,
    pod: &'static str,
    dir: PathBuf,
}

impl Lifecycle {
    /// Writes pod `pod` (`spec` as [`timeline::pod`] takes it, init containers and
    /// containers as [`Exec::container`] writes them) and starts the agent.
    fn start(
        case: &str,
        pod: &'static str,
        spec: &str,
        inits: &[String],
        containers: &[String],
    ) -> Lifecycle {
        let mut node = Node::new(backend(), case);
        let dir = node.scratch(pod);
        let manifest = timeline::pod(pod, spec, &dir, inits, containers);
        node.write_manifest(&format!("{pod}.yaml"), &manifest);
        node.start_agent();
        Lifecycle { node, pod, dir }
    }

    /// Waits `timeout` at most for the pod's phase to be one of `phases`; returns its
    /// status then.
    fn wait_phase(&self, phases: &[&str], timeout: Duration) -> PodView {
        let seen = pod_watch::within(&self.node, self.pod, timeout, |p| {
            Ok(phases.contains(&p.status.phase.as_str()))
        });
        seen.last().cloned().expect("a status")
    }

    /// Waits `timeout` at most for the pod to be no longer running (the kubelet's
    /// `WaitTimeoutForPodNoLongerRunningInNamespace`): it succeeded or failed.
    fn wait_finished(&self, timeout: Duration) -> PodView {
        self.wait_phase(&["Succeeded", "Failed"], timeout)
    }

    fn timeline(&self) -> Timeline {
        Timeline::read(&self.dir)
    }
}

/// The kubelet's `init-1`, `init-2` and `init-3`, each running `delay` seconds.
fn three_inits(delay: u32) -> Vec<String> {
    ["init-1", "init-2", "init-3"]
        .iter()
        .map(|n| Exec::exits(0, delay).container(n, ""))
        .collect()
}

/// `name` running `exec`, with a `postStart` exec hook that runs `hook` as
/// `PostStart-<name>`.
fn with_post_start(name: &str, exec: Exec, hook: Exec) -> String {
    let hook_name = format!("PostStart-{name}");
    exec.container(
        name,
        &format!(
            "    lifecycle: {{postStart: {{exec: {{command: {}}}}}}}\n",
            hook.command(&hook_name)
        ),
    )
}

/// The `spec` lines of a pod with restart policy `policy`.
fn policy(policy: &str) -> String {
    format!("  restartPolicy: {policy}\n")
}

/// `container_lifecycle_test.go`, restartPolicy=Never: "should launch init container
/// serially before a regular container" (whose startup probe waits for its `started` file).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_containers_run_serially_before_a_regular_container() {
    let inits = three_inits(1);
    let regular = Exec {
        start_delay: 5,
        ..Exec::exits(0, 1)
    }
    .container(
        "regular-1",
        "    startupProbe: {exec: {command: [test, -f, started]}}\n",
    );
    let case = Lifecycle::start(
        "e2e-serial",
        "initcontainer-test-pod",
        &policy("Never"),
        &inits,
        &[regular],
    );
    case.wait_finished(MINUTE);
    let t = case.timeline();
    t.ran_one_after_another(&["init-1", "init-2", "init-3", "regular-1"])
        .unwrap();
}

/// `container_lifecycle_test.go`, restartPolicy=Never: "should not launch regular
/// containers if an init container fails".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn regular_containers_do_not_start_after_a_failed_init_container() {
    let init = Exec::exits(1, 1).container("init-1", "");
    let regular = Exec::exits(0, 1).container("regular-1", "");
    let case = Lifecycle::start(
        "e2e-init-fails",
        "initcontainer-test-pod-failure",
        &policy("Never"),
        &[init],
        &[regular],
    );
    case.wait_phase(&["Failed"], MINUTE);
    let t = case.timeline();
    t.starts("init-1").unwrap();
    t.exits("init-1").unwrap();
    t.doesnt_start("regular-1").unwrap();
}

/// `container_lifecycle_test.go`, restartPolicy=Never: "should run Init container to
/// completion before call to PostStart of regular container".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_containers_complete_before_a_post_start_hook() {
    let init = Exec::exits(0, 1).container("init-1", "");
    let regular = with_post_start("regular-1", Exec::exits(0, 10), Exec::exits(0, 1));
    let case = Lifecycle::start(
        "e2e-poststart",
        "initcontainer-test-pod-with-post-start",
        &policy("Never"),
        &[init],
        &[regular],
    );
    case.wait_finished(MINUTE);
    let t = case.timeline();
    t.ran_one_after_another(&["init-1", "PostStart-regular-1"])
        .unwrap();
    t.run_together("regular-1", "PostStart-regular-1").unwrap();
}

/// `container_lifecycle_test.go`: "should restart failing container when pod restartPolicy
/// is Always" (three restarts within two minutes).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_failing_container_is_restarted_under_restart_policy_always() {
    let regular = Exec::exits(1, 1).container("regular-1", "");
    let case = Lifecycle::start(
        "e2e-restart",
        "container-must-be-restarted",
        &policy("Always"),
        &[],
        &[regular],
    );
    pod_watch::within(&case.node, case.pod, 2 * MINUTE, |p| {
        Ok(p.status.container_statuses[0].restart_count >= 3)
    });
    let t = case.timeline();
    t.starts("regular-1").unwrap();
    t.ran_one_after_another(&["regular-1", "regular-1"])
        .unwrap();
}

/// `container_lifecycle_test.go`, restartPolicy=Never: "should not launch second container
/// before PostStart of the first container completed".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_second_container_waits_for_the_first_ones_post_start_hook() {
    let first = with_post_start("regular-1", Exec::exits(0, 10), Exec::exits(0, 1));
    let second = Exec::exits(0, 1).container("regular-2", "");
    let case = Lifecycle::start(
        "e2e-poststart-blocks",
        "post-start-blocks-second-container",
        &policy("Never"),
        &[],
        &[first, second],
    );
    case.wait_finished(MINUTE);
    let t = case.timeline();
    t.ran_one_after_another(&["PostStart-regular-1", "regular-2"])
        .unwrap();
}

/// `container_lifecycle_test.go`, restartPolicy=Never: "an init container fails to start
/// because of a bad image": it waits as `ImagePullBackOff`; neither it nor the regular
/// container starts.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn an_init_container_with_a_bad_image_starts_nothing() {
    let image = "invalid.registry.k8s.io/invalid/alpine:3.1";
    let init = Exec::exits(0, 600).container_of(image, "init1-1", "");
    let regular = Exec::exits(0, 1).container("regular-1", "");
    let case = Lifecycle::start(
        "e2e-bad-image",
        "bad-image",
        &policy("Never"),
        &[init],
        &[regular],
    );
    pod_watch::within(&case.node, case.pod, 5 * MINUTE, |p| {
        let waiting = p.status.init_container_statuses[0].state.waiting.as_ref();
        Ok(waiting.is_some_and(|w| w.reason == "ImagePullBackOff"))
    });
    let t = case.timeline();
    t.doesnt_start("init1-1").unwrap();
    t.doesnt_start("regular-1").unwrap();
}

/// `container_lifecycle_test.go`, restartPolicy=Always: "shouldn't restart init containers
/// upon regular container restart".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_containers_are_not_restarted_with_a_regular_container() {
    let inits = three_inits(1);
    let regular = Exec::exits(-1, 10).container("regular-1", "");
    let case = Lifecycle::start(
        "e2e-no-init-restart",
        "initcontainer-test-pod",
        &policy("Always"),
        &inits,
        &[regular],
    );
    pod_watch::within(&case.node, case.pod, 2 * MINUTE, |p| {
        Ok(p.status.container_statuses[0].restart_count >= 3)
    });
    let t = case.timeline();
    t.ran_one_after_another(&["init-1", "init-2", "init-3", "regular-1"])
        .unwrap();
    for init in ["init-1", "init-2", "init-3"] {
        t.has_not_restarted(init).unwrap();
    }
    t.has_restarted("regular-1").unwrap();
}

/// The pod of "a pod cannot terminate gracefully": `sleep 10000` as PID 1 ignores SIGTERM.
fn cannot_terminate_pod(grace: u32, lifecycle: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: pod-termination-grace-period}}\nspec:\n  terminationGracePeriodSeconds: {grace}\n  containers:\n  - name: busybox\n    image: busybox:1.36\n    command: [sleep, '10000']\n{lifecycle}"
    )
}

/// Runs the pod of [`cannot_terminate_pod`], removes its manifest (deleting the pod), and
/// waits for every object of it to be gone within the grace period and the kubelet test's
/// 30 s buffer.
fn respects_the_grace_period(case: &str, lifecycle: &str) {
    let grace = 30;
    let mut node = Node::new(backend(), case);
    node.write_manifest("pod.yaml", &cannot_terminate_pod(grace, lifecycle));
    node.start_agent();
    node.wait_running("pod-termination-grace-period", "busybox");
    node.remove_manifest("pod.yaml");
    let deleted = Instant::now();
    let limit = Duration::from_secs(u64::from(grace) + 30);
    while !(node.containers().is_empty() && node.sandboxes().is_empty()) {
        assert!(
            deleted.elapsed() < limit,
            "the pod was not gone within {limit:?}: {:?}",
            node.containers()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `container_lifecycle_test.go`, "a pod cannot terminate gracefully": "should respect
/// termination grace period seconds".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_pod_that_ignores_sigterm_is_killed_after_its_grace_period() {
    respects_the_grace_period("e2e-grace", "");
}

/// `container_lifecycle_test.go`, "a pod cannot terminate gracefully": "should respect
/// termination grace period seconds with long-running preStop hook".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_long_pre_stop_hook_does_not_outlast_the_grace_period() {
    respects_the_grace_period(
        "e2e-grace-prestop",
        "    lifecycle: {preStop: {exec: {command: [sleep, '10000']}}}\n",
    );
}

/// `regular-1` of the preStop cases: runs 100 s, takes 15 s to exit on SIGTERM, has
/// `probe` (a probe field) and a `preStop` hook running `pre_stop`.
fn probed_with_pre_stop(probe: &str, pre_stop: Exec) -> String {
    let exec = Exec {
        termination_seconds: 15,
        ..Exec::exits(0, 100)
    };
    exec.container(
        "regular-1",
        &format!(
            "{probe}    lifecycle: {{preStop: {{exec: {{command: {}}}}}}}\n",
            pre_stop.command("PreStop-regular-1")
        ),
    )
}

/// Runs `regular-1` of [`probed_with_pre_stop`] under restartPolicy Never until the pod is
/// no longer running, and checks that its preStop hook ran while it did.
fn pre_stop_runs_when_a_probe_fails(case: &str, probe: &str) {
    let regular = probed_with_pre_stop(probe, Exec::exits(0, 1));
    let case = Lifecycle::start(case, "test-pod", &policy("Never"), &[], &[regular]);
    case.wait_finished(5 * MINUTE);
    let t = case.timeline();
    t.run_together("regular-1", "PreStop-regular-1").unwrap();
    t.starts("PreStop-regular-1").unwrap();
    t.exits("regular-1").unwrap();
}

/// `container_lifecycle_test.go`, "A regular container has a PreStop hook": "should call
/// the container's preStop hook and terminate it if its startup probe fails".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_failed_startup_probe_runs_the_pre_stop_hook() {
    pre_stop_runs_when_a_probe_fails(
        "e2e-startup-prestop",
        "    startupProbe: {exec: {command: [sh, -c, 'exit 1']}, initialDelaySeconds: 10, failureThreshold: 1}\n",
    );
}

/// `container_lifecycle_test.go`, "A regular container has a PreStop hook": "should call
/// the container's preStop hook and terminate it if its liveness probe fails".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_failed_liveness_probe_runs_the_pre_stop_hook() {
    pre_stop_runs_when_a_probe_fails(
        "e2e-liveness-prestop",
        "    livenessProbe: {exec: {command: [sh, -c, 'exit 1']}, initialDelaySeconds: 10, failureThreshold: 1}\n",
    );
}

/// `container_lifecycle_test.go`, "a pod is terminating because its liveness probe fails":
/// "should execute readiness probe while in preStop, but not liveness".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn readiness_but_not_liveness_is_probed_during_pre_stop() {
    let probe = |kind: &str, field: &str, exit_code: i32, timing: &str| {
        format!(
            "    {field}: {{exec: {{command: {}}}, {timing}}}\n",
            Exec::exits(exit_code, 0).command(&format!("{kind}-regular-1"))
        )
    };
    let probes = [
        probe(
            "Liveness",
            "livenessProbe",
            1,
            "initialDelaySeconds: 10, periodSeconds: 1, failureThreshold: 1",
        ),
        probe(
            "Readiness",
            "readinessProbe",
            0,
            "initialDelaySeconds: 1, periodSeconds: 1",
        ),
    ]
    .concat();
    let regular = probed_with_pre_stop(&probes, Exec::exits(0, 10));
    let spec = format!("{}  terminationGracePeriodSeconds: 100\n", policy("Never"));
    let case = Lifecycle::start("e2e-probes-prestop", "test-pod", &spec, &[], &[regular]);
    case.wait_finished(5 * MINUTE);
    let t = case.timeline();
    t.run_together("PreStop-regular-1", "Readiness-regular-1")
        .unwrap();
    assert!(
        t.run_together("PreStop-regular-1", "Liveness-regular-1")
            .is_err(),
        "liveness probes are not run during the preStop hook:\n{t}"
    );
}

/// `container_lifecycle_test.go`, "A node reboots": "should restart the containers in
/// right order after the node reboot" (the sandbox stopped while the agent is stopped).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn containers_restart_in_order_after_a_node_reboot() {
    let inits = three_inits(5);
    let regular = Exec::exits(0, 30).container("regular-1", "");
    let mut case = Lifecycle::start(
        "e2e-reboot",
        "initialized-pod",
        &policy("Always"),
        &inits,
        &[regular],
    );
    case.wait_phase(&["Running"], 5 * MINUTE);
    let sandboxes = case.node.sandboxes();
    assert_eq!(sandboxes.len(), 1, "{sandboxes:?}");
    case.node.terminate_agent();
    case.node.stop_sandbox(&sandboxes[0].id);
    case.node.start_agent();
    pod_watch::within(&case.node, case.pod, 5 * MINUTE, |p| {
        Ok(p.status.container_statuses[0].restart_count >= 2 && p.status.phase == "Running")
    });
    let t = case.timeline();
    let order = ["init-1", "init-2", "init-3", "regular-1"];
    let first: Vec<usize> = order
        .iter()
        .map(|n| t.index(n, "Started", 0).unwrap())
        .collect();
    let again: Vec<usize> = order
        .iter()
        .zip(&first)
        .map(|(n, i)| t.index(n, "Started", i + 1).unwrap())
        .collect();
    for starts in [&first, &again] {
        assert!(
            starts.is_sorted(),
            "started out of order ({starts:?}) in\n{t}"
        );
    }
}

/// A restartable init container (a sidecar) `name` running `exec`.
fn sidecar(name: &str, exec: Exec) -> String {
    exec.container(name, "    restartPolicy: Always\n")
}

/// `container_lifecycle_test.go` (SidecarContainers), "using a Pod with
/// restartPolicy=Never, three init container and two restartable init containers": its
/// eight checks of one run ("should finish and produce log", "should run the first init
/// container to completion before starting first restartable init container", ...,
/// "should run both restartable init containers and a regular container together").
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn init_and_restartable_init_containers_start_serially() {
    let inits = [
        Exec::exits(0, 1).container("init-1", ""),
        sidecar("restartable-init-1", Exec::exits(0, 600)),
        Exec::exits(0, 1).container("init-2", ""),
        sidecar("restartable-init-2", Exec::exits(0, 600)),
        Exec::exits(0, 1).container("init-3", ""),
    ];
    let regular = Exec::exits(0, 1).container("regular-1", "");
    let case = Lifecycle::start(
        "e2e-sidecars-serial",
        "restartable-init-containers-start-serially",
        &policy("Never"),
        &inits,
        &[regular],
    );
    let end = case.wait_finished(5 * MINUTE);
    assert_eq!(end.status.phase, "Succeeded");
    let t = case.timeline();
    t.ran_one_after_another(&["init-1", "restartable-init-1"])
        .unwrap();
    t.run_together("restartable-init-1", "init-2").unwrap();
    t.ran_one_after_another(&["init-2", "restartable-init-2"])
        .unwrap();
    t.starts_before("restartable-init-2", "init-3").unwrap();
    for (lhs, rhs) in [
        ("restartable-init-1", "restartable-init-2"),
        ("restartable-init-1", "init-3"),
        ("restartable-init-2", "init-3"),
        ("restartable-init-1", "regular-1"),
        ("restartable-init-2", "regular-1"),
    ] {
        t.run_together_either_first(lhs, rhs).unwrap();
    }
    t.ran_one_after_another(&["init-3", "regular-1"]).unwrap();
}

/// `container_lifecycle_test.go` (SidecarContainers), "a restartable init container runs
/// continuously" under restartPolicy=Never: "should complete a Pod successfully and
/// produce log", "should not restart a restartable init container", "should run a regular
/// container to completion".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_pod_with_a_running_sidecar_completes_when_its_regular_container_does() {
    let case = Lifecycle::start(
        "e2e-sidecar-continuous",
        "restartable-init-container-run-continuously",
        &policy("Never"),
        &[sidecar("restartable-init-1", Exec::exits(0, 600))],
        &[Exec::exits(0, 1).container("regular-1", "")],
    );
    let end = case.wait_finished(5 * MINUTE);
    assert_eq!(end.status.phase, "Succeeded");
    let t = case.timeline();
    t.has_not_restarted("restartable-init-1").unwrap();
    t.exits("regular-1").unwrap();
}
