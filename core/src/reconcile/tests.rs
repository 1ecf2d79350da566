//! Planner and executor scenarios on the fake runtime: the decisions, step by step, as a
//! user would describe them.

// `&[pod.clone()]` reads as "the desired set is this one pod", which is what the tests say.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use expect_test::{Expect, expect};

use super::configs::{self, Dirs};
use super::execute::Executor;
use super::history::History;
use super::observe;
use super::plan::{CrashBackoff, Plan, Step, Timing, plan};
use crate::error_chain::describe;
use crate::events::{Events, Recorder};
use crate::manifest::{self, defaults::StaticPod};
use crate::metrics::Metrics;
use crate::source::SourceKind;
use crate::status::{PodView, StatusInputs, pod_list, printed};
use crate::verdicts::{ProbeVerdicts, Verdicts};
use staticpod_runtime::clock::{Clock, SystemClock, TokioClock};
use staticpod_runtime::{ContainerRuntime, ContainerState};
use staticpod_testkit::fake::FakeRuntime;

const WEB: &str = "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: web, image: nginx:1.25, ports: [{containerPort: 80, hostPort: 8080}]}\n  - {name: sidecar, image: busybox:1.36}\n";

/// A pod with two init containers, `one` and `two`, before its app container `web`.
const TWO_INITS: &str = "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - {name: one, image: busybox:1.36}\n  - {name: two, image: busybox:1.36}\n  containers: [{name: web, image: nginx:1.25}]\n";

fn pod(text: &str) -> Arc<StaticPod> {
    Arc::new(manifest::test_pod(text))
}

struct World {
    runtime: Arc<FakeRuntime>,
    events: Arc<Events>,
    metrics: Arc<Metrics>,
    executor: Executor,
    history: History,
    verdicts: ProbeVerdicts,
    backoff: CrashBackoff,
    root: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self::on_clock(Arc::new(SystemClock))
    }

    /// A world whose runtime stamps starts and exits with `clock`'s time.
    fn on_clock(clock: Arc<dyn Clock>) -> Self {
        let runtime = Arc::new(
            FakeRuntime::with_images(&["nginx:1.25", "busybox:1.36"]).with_clock(clock.clone()),
        );
        let root = tempfile::tempdir().unwrap();
        let events = Arc::new(Events::new("node0"));
        let metrics = Arc::new(Metrics::new());
        let executor = Executor::new(
            runtime.clone(),
            Dirs {
                root: root.path().to_path_buf(),
                pod_logs: root.path().join("logs"),
            },
            "192.0.2.10".into(),
            Recorder::new(events.clone(), clock),
            metrics.clone(),
        );
        World {
            runtime,
            events,
            metrics,
            executor,
            history: History::default(),
            verdicts: ProbeVerdicts::default(),
            backoff: CrashBackoff::default(),
            root,
        }
    }

    /// The reason of the last failure of `pod`'s work, as the history keeps it.
    fn failure_reason(&self, pod: &StaticPod) -> Option<&'static str> {
        let key = observe::PodKey {
            namespace: pod.namespace().to_string(),
            name: pod.full_name().to_string(),
        };
        self.history
            .failure(&key, Some(pod.uid()))
            .map(|f| f.reason)
    }

    async fn plan(&self, desired: &[Arc<StaticPod>], now: SystemTime) -> Plan {
        let sandboxes = self.runtime.list_sandboxes().await.unwrap();
        let containers = self.runtime.list_containers().await.unwrap();
        plan(
            desired,
            &observe::group("node0", sandboxes, containers),
            &self.history,
            &self.verdicts,
            Timing {
                now,
                backoff: self.backoff,
            },
        )
    }

    /// Plans and executes once; returns the plan rendered.
    async fn step(&mut self, desired: &[Arc<StaticPod>], now: SystemTime) -> String {
        let plan = self.plan(desired, now).await;
        let rendered = render(&plan, now);
        for work in plan.work {
            let key = work.key.clone();
            let uid = work.pod.as_ref().map(|p| p.uid().to_string());
            match self.executor.run(work).await {
                Ok(()) => self.history.record_success(&key),
                Err(error) => self.history.record_failure(
                    &key,
                    uid.as_deref(),
                    error.container(),
                    error.reason(),
                    describe(&error),
                    now,
                ),
            }
        }
        rendered
    }

    /// The pod's status as `GET /pods` would show it now, the previous pass at `previous`.
    async fn status(
        &self,
        pod: &Arc<StaticPod>,
        now: SystemTime,
        previous: Option<SystemTime>,
    ) -> PodView {
        let sandboxes = self.runtime.list_sandboxes().await.unwrap();
        let containers = self.runtime.list_containers().await.unwrap();
        let observed = observe::group("node0", sandboxes, containers);
        let inputs = StatusInputs {
            history: &self.history,
            verdicts: &self.verdicts,
            messages: &BTreeMap::new(),
            host_ip: "192.0.2.10",
            runtime_name: "fake",
            now,
            previous_pass: previous,
            backoff: CrashBackoff::default(),
        };
        let mut list = pod_list(std::slice::from_ref(pod), &observed, &inputs);
        list.items.remove(0)
    }

    /// Makes instance `attempt` of container `name` exit with `code` at `at`.
    fn exit(&self, name: &str, attempt: &str, code: i32, at: SystemTime) {
        self.runtime
            .exit_container(&self.container_id(name, attempt), code, at);
    }

    /// Runs the pod of [`with_sidecar`] until its app container starts: the sidecar, then
    /// `migrate` to its end, then the app.
    async fn initialize_with_sidecar(&mut self, web: &Arc<StaticPod>, now: SystemTime) {
        self.step(&[web.clone()], now).await;
        self.step(&[web.clone()], now).await;
        self.exit("migrate", "0", 0, now);
        self.step(&[web.clone()], now).await;
    }

    /// The pod's status, rendered by [`describe_status`], with no previous pass.
    async fn describe(&self, pod: &Arc<StaticPod>, now: SystemTime) -> String {
        describe_status(&self.status(pod, now, None).await)
    }

    fn container_id(&self, name: &str, attempt: &str) -> String {
        self.runtime
            .containers()
            .into_iter()
            .find(|c| {
                c.labels[staticpod_runtime::labels::CONTAINER_NAME] == name
                    && c.labels[staticpod_runtime::labels::CONTAINER_RESTART_COUNT] == attempt
            })
            .unwrap()
            .id
    }
}

fn render(plan: &Plan, now: SystemTime) -> String {
    let mut lines = Vec::new();
    for work in &plan.work {
        for step in &work.steps {
            let line = match step {
                Step::KillPod {
                    containers,
                    sandboxes,
                    grace,
                    forget,
                    ..
                } => format!(
                    "kill {} containers={} sandboxes={} grace={}s forget={forget}",
                    work.key,
                    containers.len(),
                    sandboxes.len(),
                    grace.as_secs()
                ),
                Step::StopSandbox { id } => format!("stop sandbox {id}"),
                Step::RemoveContainer { id, log } => format!("remove {id} ({})", log.display()),
                Step::StopContainer {
                    container,
                    reason,
                    grace,
                    ..
                } => {
                    format!(
                        "stop {} grace={}s: {reason}",
                        container.name,
                        grace.as_secs()
                    )
                }
                Step::RunSandbox { attempt } => format!("run sandbox {} #{attempt}", work.key),
                Step::StartContainer { instance, .. } => {
                    let pod = work.pod.as_ref().unwrap();
                    let name = &super::plan::container_of(pod, instance.kind, instance.index).name;
                    format!("start {} #{}", name, instance.attempt)
                }
            };
            lines.push(line);
        }
    }
    if let Some(at) = plan.wake_at {
        lines.push(format!(
            "wake in {}s",
            at.duration_since(now).unwrap().as_secs()
        ));
    }
    lines.join("\n")
}

fn check(actual: String, expected: Expect) {
    expected.assert_eq(&actual);
}

#[tokio::test]
async fn a_new_pod_starts_and_is_then_left_alone() {
    let mut world = World::new();
    let web = pod(WEB);
    let now = SystemTime::now();
    check(
        world.step(&[web.clone()], now).await,
        expect![[r#"
            run sandbox default/web-node0 #0
            start web #0
            start sidecar #0"#]],
    );
    assert!(
        world
            .runtime
            .containers()
            .iter()
            .all(|c| matches!(c.state, ContainerState::Running { .. }))
    );
    check(world.step(&[web], now).await, expect![""]);
}

#[tokio::test]
async fn a_restarted_agent_adopts_running_pods_without_any_call_that_changes_them() {
    let mut world = World::new();
    let now = SystemTime::now();
    world.step(&[pod(WEB)], now).await;
    world.runtime.clear_calls();
    // A new agent: fresh history and executor, the manifest parsed again (new seen time).
    let reparsed = Arc::new(
        manifest::load(
            Path::new("/m/web.yaml"),
            SourceKind::File,
            WEB,
            "node0",
            "later",
        )
        .pods
        .remove(0),
    );
    let mut fresh = World {
        runtime: world.runtime.clone(),
        ..World::new()
    };
    check(fresh.step(&[reparsed], now).await, expect![""]);
    assert_eq!(world.runtime.calls(), ["list_sandboxes", "list_containers"]);
}

#[tokio::test]
async fn objects_of_another_node_or_without_our_labels_are_never_touched() {
    let mut world = World::new();
    let now = SystemTime::now();
    world.step(&[pod(WEB)], now).await;
    let other_node = World {
        runtime: world.runtime.clone(),
        ..World::new()
    };
    let sandboxes = other_node.runtime.list_sandboxes().await.unwrap();
    let containers = other_node.runtime.list_containers().await.unwrap();
    let seen_by_node1 = observe::group("node1", sandboxes, containers);
    assert!(seen_by_node1.is_empty());
    let plan = plan(
        &[],
        &seen_by_node1,
        &History::default(),
        &ProbeVerdicts::default(),
        Timing {
            now,
            backoff: CrashBackoff::default(),
        },
    );
    check(render(&plan, now), expect![""]);
}

#[tokio::test]
async fn an_exited_container_restarts_at_once_then_with_kubelet_back_off() {
    let mut world = World::new();
    let web = pod(WEB);
    let t0 = SystemTime::now();
    world.step(&[web.clone()], t0).await;
    let first = world.container_id("web", "0");
    world.runtime.exit_container(&first, 1, t0);
    check(
        world.step(&[web.clone()], t0).await,
        expect!["start web #1"],
    );
    let second = world.container_id("web", "1");
    world.runtime.exit_container(&second, 1, t0);
    check(
        world.step(&[web.clone()], t0).await,
        expect![[r#"
            remove container-2 (web/0.log)
            wake in 10s"#]],
    );
    check(
        world
            .step(&[web.clone()], t0 + Duration::from_secs(10))
            .await,
        expect!["start web #2"],
    );
    let third = world.container_id("web", "2");
    world
        .runtime
        .exit_container(&third, 1, t0 + Duration::from_secs(10));
    check(
        world.step(&[web], t0 + Duration::from_secs(10)).await,
        expect![[r#"
            remove container-4 (web/1.log)
            wake in 20s"#]],
    );
}

/// `crashLoopBackOff.maxContainerRestartPeriod` caps the waits, and the first wait too when
/// it is shorter than 10 s (the kubelet's `newCrashLoopBackOff`).
#[tokio::test]
async fn max_container_restart_period_caps_the_back_off() {
    for (max, waits) in [
        (Duration::from_secs(30), [10, 20, 30, 30]),
        (Duration::from_secs(1), [1, 1, 1, 1]),
    ] {
        let mut world = World::new();
        world.backoff = CrashBackoff::default().with_max(max);
        let web = pod(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: busybox:1.36}]\n",
        );
        let mut now = SystemTime::now();
        world.step(&[web.clone()], now).await;
        let mut seen = Vec::new();
        for attempt in 0..5 {
            let id = world.container_id("web", &attempt.to_string());
            world.runtime.exit_container(&id, 1, now);
            let plan = world.plan(&[web.clone()], now).await;
            if let Some(wake) = plan.wake_at {
                let wait = wake.duration_since(now).unwrap();
                seen.push(wait.as_secs());
                now = wake;
            }
            world.step(&[web.clone()], now).await;
        }
        assert_eq!(seen, waits, "the waits (s) with a {max:?} maximum");
    }
}

#[tokio::test]
async fn an_edited_manifest_kills_the_old_pod_before_starting_the_new_one() {
    let mut world = World::new();
    let now = SystemTime::now();
    world.step(&[pod(WEB)], now).await;
    let edited = pod(&WEB.replace("busybox:1.36", "busybox:1.36, env: [{name: A, value: b}]"));
    check(
        world.step(&[edited], now).await,
        expect![[r#"
            kill default/web-node0 containers=2 sandboxes=1 grace=30s forget=true
            run sandbox default/web-node0 #0
            start web #0
            start sidecar #0"#]],
    );
    assert_eq!(world.runtime.sandboxes().len(), 1);
    assert_eq!(world.runtime.containers().len(), 2);
}

#[tokio::test]
async fn a_removed_manifest_kills_its_pod_and_deletes_its_files() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  terminationGracePeriodSeconds: 5\n  containers: [{name: web, image: nginx:1.25, volumeMounts: [{name: scratch, mountPath: /s}]}]\n  volumes: [{name: scratch, emptyDir: {}}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let pod_dir = world.root.path().join("pods").join(web.uid());
    assert!(
        pod_dir
            .join("volumes/kubernetes.io~empty-dir/scratch")
            .is_dir()
    );
    check(
        world.step(&[], now).await,
        expect!["kill default/web-node0 containers=1 sandboxes=1 grace=5s forget=true"],
    );
    assert!(world.runtime.containers().is_empty() && world.runtime.sandboxes().is_empty());
    assert!(!pod_dir.exists());
}

#[tokio::test]
async fn a_container_in_an_unknown_state_is_removed_and_started_again_whatever_the_policy() {
    let mut world = World::new();
    let job = pod(
        "kind: Pod\nmetadata: {name: job}\nspec:\n  restartPolicy: Never\n  containers: [{name: job, image: busybox:1.36}]\n",
    );
    let now = SystemTime::now();
    world.step(&[job.clone()], now).await;
    let first = world.container_id("job", "0");
    world.runtime.lose_container_state(&first);
    let later = now + Duration::from_secs(1);
    check(
        world.step(&[job.clone()], later).await,
        expect![[r#"
            remove container-2 (job/0.log)
            start job #1"#]],
    );
    check(world.step(&[job], later).await, expect![""]);
}

#[tokio::test]
async fn restart_policy_never_leaves_an_exited_container_and_stops_the_sandbox() {
    let mut world = World::new();
    let job = pod(
        "kind: Pod\nmetadata: {name: job}\nspec:\n  restartPolicy: Never\n  containers: [{name: job, image: busybox:1.36}]\n",
    );
    let now = SystemTime::now();
    world.step(&[job.clone()], now).await;
    world.exit("job", "0", 2, now);
    check(
        world.step(&[job.clone()], now).await,
        expect!["stop sandbox sandbox-1"],
    );
    check(world.step(&[job], now).await, expect![""]);
}

#[tokio::test]
async fn init_containers_run_one_after_the_other_before_the_app() {
    let mut world = World::new();
    let web = pod(TWO_INITS);
    let now = SystemTime::now();
    check(
        world.step(&[web.clone()], now).await,
        expect![[r#"
        run sandbox default/web-node0 #0
        start one #0"#]],
    );
    check(world.step(&[web.clone()], now).await, expect![""]);
    world.exit("one", "0", 0, now);
    check(
        world.step(&[web.clone()], now).await,
        expect!["start two #0"],
    );
    world.exit("two", "0", 1, now);
    check(
        world.step(&[web.clone()], now).await,
        expect!["start two #1"],
    );
    world.exit("two", "1", 0, now);
    check(
        world.step(&[web], now).await,
        expect![[r#"
            remove container-3 (two/0.log)
            start web #0"#]],
    );
}

#[tokio::test]
async fn a_dead_sandbox_is_replaced_and_restart_counts_carry_on() {
    let mut world = World::new();
    let web = pod(WEB);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    world.runtime.stop_sandbox("sandbox-1").await.unwrap();
    check(
        world.step(&[web], now).await,
        expect![[r#"
            kill default/web-node0 containers=2 sandboxes=1 grace=30s forget=false
            run sandbox default/web-node0 #1
            start web #1
            start sidecar #1"#]],
    );
}

#[tokio::test]
async fn a_pod_asked_to_restart_starts_over_in_a_new_sandbox_and_its_restart_counts_carry_on() {
    let mut world = World::new();
    let web = pod(WEB);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let key = observe::PodKey {
        namespace: web.namespace().to_string(),
        name: web.full_name().to_string(),
    };
    world
        .history
        .request_restart(key.clone(), "another-uid".to_string());
    check(world.step(&[web.clone()], now).await, expect![""]);
    world
        .history
        .request_restart(key.clone(), web.uid().to_string());
    check(
        world.step(&[web.clone()], now).await,
        expect![[r#"
            kill default/web-node0 containers=2 sandboxes=1 grace=30s forget=false
            run sandbox default/web-node0 #1
            start web #1
            start sidecar #1"#]],
    );
    world.history.restart_started(&key);
    check(world.step(&[web], now).await, expect![""]);
}

#[tokio::test]
async fn a_failed_image_pull_backs_off_and_is_reported() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: 'nginx:9.9'}]}\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    assert_eq!(world.failure_reason(&web), Some("ErrImagePull"));
    check(
        world.step(&[web.clone()], now).await,
        expect!["wake in 10s"],
    );
    let later = now + Duration::from_secs(10);
    let plan = world.plan(&[web], later).await;
    check(render(&plan, later), expect!["start web #0"]);
}

#[tokio::test]
async fn a_missing_env_file_keeps_the_container_from_starting_until_it_is_written() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    env: [{name: A, valueFrom: {fileKeyRef: {volumeName: config, path: config.env, key: A}}}]\n  volumes: [{name: config, emptyDir: {}}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    assert_eq!(
        world.failure_reason(&web),
        Some("CreateContainerConfigError")
    );
    let no_container = world.runtime.containers().is_empty();
    assert!(no_container, "no container is created without its env file");

    let volume = configs::empty_dir(world.root.path(), web.uid(), "config");
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join("config.env"), "A='1'\n").unwrap();
    let later = now + Duration::from_secs(10);
    world.step(&[web], later).await;
    let running = world
        .runtime
        .containers()
        .into_iter()
        .filter(|c| matches!(c.state, ContainerState::Running { .. }));
    assert_eq!(running.count(), 1);
}

#[tokio::test]
async fn an_edit_that_fixes_a_failing_pod_is_not_held_back_by_its_back_off() {
    let mut world = World::new();
    let broken = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: 'nginx:9.9'}]}\n",
    );
    let now = SystemTime::now();
    world.step(&[broken.clone()], now).await;
    check(world.step(&[broken], now).await, expect!["wake in 10s"]);
    let fixed = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: 'nginx:1.25'}]}\n",
    );
    let status = world.status(&fixed, now, None).await;
    assert_eq!(
        printed(&status).status,
        "ContainerCreating",
        "the old pod's ErrImagePull is not the new one's"
    );
    let plan = world.step(&[fixed.clone()], now).await;
    assert!(plan.starts_with("kill default/web-node0"), "{plan}");
    assert!(plan.contains("start web #0"), "{plan}");
    let running =
        world.runtime.containers().into_iter().filter(|c| {
            matches!(c.state, ContainerState::Running { .. }) && c.image == "nginx:1.25"
        });
    assert_eq!(running.count(), 1);
}

/// The lines of `/metrics` naming `family`, without its comments, sorted (a family's
/// series come in no set order).
fn samples(metrics: &Metrics, family: &str) -> Vec<String> {
    let mut lines: Vec<String> = metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(family))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn starts_failures_and_a_pod_put_back_are_counted_as_the_kubelet_counts_them() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers: [{name: setup, image: busybox:1.36}]\n  containers: [{name: web, image: 'nginx:9.9'}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let id = world.container_id("setup", "0");
    world.runtime.exit_container(&id, 0, now);
    // The app container's image cannot be pulled.
    world.step(&[web.clone()], now).await;
    let started = |w: &World| samples(&w.metrics, "kubelet_started_");
    check(
        started(&world).join("\n"),
        expect![[r#"
            kubelet_started_containers_errors_total{container_type="container",code="ErrImagePull"} 1
            kubelet_started_containers_total{container_type="container"} 1
            kubelet_started_containers_total{container_type="init_container"} 1
            kubelet_started_pods_errors_total 0
            kubelet_started_pods_total 1"#]],
    );
    // Removed, then put back with the same content (so the same UID): a restarted pod.
    // The removal is not held back by the failed pull's back-off.
    check(
        world.step(&[], now).await,
        expect!["kill default/web-node0 containers=1 sandboxes=1 grace=30s forget=true"],
    );
    assert_eq!(
        samples(&world.metrics, "kubelet_restarted_pods_total"),
        ["kubelet_restarted_pods_total{static=\"true\"} 0"]
    );
    world.step(&[web.clone()], now).await;
    assert_eq!(
        samples(&world.metrics, "kubelet_restarted_pods_total"),
        ["kubelet_restarted_pods_total{static=\"true\"} 1"]
    );
    assert_eq!(
        samples(&world.metrics, "kubelet_started_pods_total"),
        ["kubelet_started_pods_total 2"]
    );
}

#[tokio::test]
async fn a_failed_liveness_probe_stops_the_container_and_the_restart_policy_restarts_it() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    livenessProbe:\n      httpGet: {path: /healthz, port: 80}\n      terminationGracePeriodSeconds: 2\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let id = world.container_id("web", "0");
    let failed = Verdicts {
        started: true,
        ready: true,
        failed: Some("Liveness probe failed: HTTP probe failed with statuscode: 500".into()),
    };
    world.verdicts = [(id.clone(), failed)].into();
    check(
        world.step(&[web.clone()], now).await,
        expect!["stop web grace=2s: Liveness probe failed: HTTP probe failed with statuscode: 500"],
    );
    world.verdicts.clear();
    check(world.step(&[web], now).await, expect!["wake in 0s"]);
}

#[tokio::test]
async fn a_failed_startup_probe_stops_the_container_with_its_own_grace_period() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    startupProbe:\n      httpGet: {path: /ready, port: 80}\n      terminationGracePeriodSeconds: 3\n    livenessProbe:\n      httpGet: {path: /healthz, port: 80}\n      terminationGracePeriodSeconds: 7\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let id = world.container_id("web", "0");
    let failed = Verdicts {
        started: false,
        ready: false,
        failed: Some("Startup probe failed: HTTP probe failed with statuscode: 500".into()),
    };
    world.verdicts = [(id, failed)].into();
    check(
        world.step(&[web], now).await,
        expect!["stop web grace=3s: Startup probe failed: HTTP probe failed with statuscode: 500"],
    );
}

#[tokio::test(start_paused = true)]
async fn a_container_that_ran_ten_minutes_restarts_at_once_and_its_back_off_starts_again() {
    let clock = Arc::new(TokioClock::starting_at(SystemTime::UNIX_EPOCH));
    let mut world = World::on_clock(clock.clone());
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n",
    );
    world.step(&[web.clone()], clock.now()).await;
    // Runs `attempt` for `ran`, then it exits 1; returns the plan that follows.
    let crash = async |world: &mut World, attempt: &str, ran: u64| {
        tokio::time::sleep(Duration::from_secs(ran)).await;
        let id = world.container_id("web", attempt);
        world.runtime.exit_container(&id, 1, clock.now());
        world.step(&[web.clone()], clock.now()).await
    };
    check(crash(&mut world, "0", 5).await, expect!["start web #1"]);
    check(
        crash(&mut world, "1", 5).await,
        expect![[r#"
            remove container-2 (web/0.log)
            wake in 10s"#]],
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    check(
        world.step(&[web.clone()], clock.now()).await,
        expect!["start web #2"],
    );
    check(
        crash(&mut world, "2", 5).await,
        expect![[r#"
            remove container-3 (web/1.log)
            wake in 20s"#]],
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    check(
        world.step(&[web.clone()], clock.now()).await,
        expect!["start web #3"],
    );
    check(
        crash(&mut world, "3", 600).await,
        expect![[r#"
            remove container-4 (web/2.log)
            start web #4"#]],
    );
    check(
        crash(&mut world, "4", 5).await,
        expect![[r#"
            remove container-5 (web/3.log)
            wake in 10s"#]],
    );
}

#[tokio::test]
async fn completed_init_containers_are_not_run_again_once_the_app_has_started() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - {name: init1, image: busybox:1.36}\n  - {name: init2, image: busybox:1.36}\n  containers: [{name: web, image: nginx:1.25}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    for init in ["init1", "init2"] {
        let id = world.container_id(init, "0");
        world.runtime.exit_container(&id, 0, now);
        world.step(&[web.clone()], now).await;
    }
    let app = world.container_id("web", "0");
    // `docker rm` of the exited init containers behind the agent's back.
    for init in ["init1", "init2"] {
        let id = world.container_id(init, "0");
        world.runtime.remove_container(&id).await.unwrap();
    }
    check(world.step(&[web.clone()], now).await, expect![""]);
    assert_eq!(world.container_id("web", "0"), app);
    // A new agent, with no memory of the pod, decides the same from the runtime alone.
    let mut fresh = World {
        runtime: world.runtime.clone(),
        ..World::new()
    };
    check(fresh.step(&[web], now).await, expect![""]);
}

#[tokio::test]
async fn an_initializing_pod_goes_on_from_its_last_init_container_whatever_is_left_before_it() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - {name: init1, image: busybox:1.36}\n  - {name: init2, image: busybox:1.36}\n  - {name: init3, image: busybox:1.36}\n  containers: [{name: web, image: nginx:1.25}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    for init in ["init1", "init2"] {
        world.exit(init, "0", 0, now);
        world.step(&[web.clone()], now).await;
    }
    // init3 runs; the completed init1 and init2 are removed behind the agent's back.
    for init in ["init1", "init2"] {
        let id = world.container_id(init, "0");
        world.runtime.remove_container(&id).await.unwrap();
    }
    check(world.step(&[web.clone()], now).await, expect![""]);
    check(
        world.describe(&web, now).await,
        expect![[r#"
            STATUS Init:2/3
            init1 restarts=0 state=terminated Completed 0 last=-
            init2 restarts=0 state=terminated Completed 0 last=-
            init3 restarts=0 state=running last=-
            web restarts=0 state=waiting PodInitializing last=-"#]],
    );
    // A completed init container is ready, as the kubelet's prober manager has it.
    let status = world.status(&web, now, None).await;
    let ready: Vec<bool> = status
        .status
        .init_container_statuses
        .iter()
        .map(|c| c.ready)
        .collect();
    assert_eq!(ready, [true, true, false]);
    world.exit("init3", "0", 0, now);
    check(
        world.step(&[web.clone()], now).await,
        expect!["start web #0"],
    );
}

#[tokio::test]
async fn a_removed_sidecar_of_an_initialized_pod_is_started_again() {
    let mut world = World::new();
    let web = with_sidecar("Always");
    let now = SystemTime::now();
    world.initialize_with_sidecar(&web, now).await;
    for init in ["log", "migrate"] {
        let id = world.container_id(init, "0");
        world
            .runtime
            .stop_container(&id, Duration::ZERO)
            .await
            .unwrap();
        world.runtime.remove_container(&id).await.unwrap();
    }
    check(world.step(&[web], now).await, expect!["start log #0"]);
}

/// `STATUS` and, per container, its state and last state, as `kubectl describe` reads them.
fn describe_status(pod: &PodView) -> String {
    let status = &pod.status;
    let mut lines = vec![format!("STATUS {}", printed(pod).status)];
    let statuses = status
        .init_container_statuses
        .iter()
        .chain(&status.container_statuses);
    for c in statuses {
        let state =
            |s: &crate::status::ContainerStateView| match (&s.waiting, &s.running, &s.terminated) {
                (Some(w), _, _) => format!("waiting {}", w.reason),
                (_, Some(_), _) => "running".to_string(),
                (_, _, Some(t)) => format!("terminated {} {}", t.reason, t.exit_code),
                _ => "-".to_string(),
            };
        lines.push(format!(
            "{} restarts={} state={} last={}",
            c.name,
            c.restart_count,
            state(&c.state),
            state(&c.last_state)
        ));
    }
    lines.join("\n")
}

#[tokio::test]
async fn the_status_shows_init_progress_the_last_state_and_the_back_off_as_kubectl_does() {
    let mut world = World::new();
    let web = pod(TWO_INITS);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    world.exit("one", "0", 0, now);
    world.step(&[web.clone()], now).await;
    check(
        world.describe(&web, now).await,
        expect![[r#"
            STATUS Init:1/2
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=0 state=running last=-
            web restarts=0 state=waiting PodInitializing last=-"#]],
    );
    world.exit("two", "0", 3, now);
    check(
        world.describe(&web, now).await,
        expect![[r#"
            STATUS Init:Error
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=0 state=terminated Error 3 last=-
            web restarts=0 state=waiting PodInitializing last=-"#]],
    );
    world.step(&[web.clone()], now).await;
    world.exit("two", "1", 3, now);
    let status = world.status(&web, now, None).await;
    check(
        describe_status(&status),
        expect![[r#"
            STATUS Init:CrashLoopBackOff
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=1 state=waiting CrashLoopBackOff last=terminated Error 3
            web restarts=0 state=waiting PodInitializing last=-"#]],
    );
    let message = status.status.init_container_statuses[1]
        .state
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone();
    assert_eq!(
        message.unwrap(),
        format!(
            "back-off 10s restarting failed container=two pod=web-node0_default({})",
            web.uid()
        )
    );
    let later = now + Duration::from_secs(10);
    world.step(&[web.clone()], later).await;
    world.exit("two", "2", 0, later);
    world.step(&[web.clone()], later).await;
    check(
        world.describe(&web, later).await,
        expect![[r#"
            STATUS Running
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=2 state=terminated Completed 0 last=-
            web restarts=0 state=running last=-"#]],
    );
    // The exited init containers removed behind the agent's back: still initialized.
    for (name, attempt) in [("one", "0"), ("two", "2")] {
        let id = world.container_id(name, attempt);
        world.runtime.remove_container(&id).await.unwrap();
    }
    check(
        world.describe(&web, later).await,
        expect![[r#"
            STATUS Running
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=0 state=terminated Completed 0 last=-
            web restarts=0 state=running last=-"#]],
    );
    let web_id = world.container_id("web", "0");
    world.runtime.exit_container(&web_id, 1, later);
    world.step(&[web.clone()], later).await;
    check(
        world.describe(&web, later).await,
        expect![[r#"
            STATUS Running
            one restarts=0 state=terminated Completed 0 last=-
            two restarts=0 state=terminated Completed 0 last=-
            web restarts=1 state=running last=terminated Error 1"#]],
    );
}

#[tokio::test]
async fn a_failed_pull_is_err_image_pull_in_its_pass_and_image_pull_back_off_after() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:9.99}]}\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let before = now - Duration::from_secs(1);
    let reason = |pod: PodView| printed(&pod).status;
    assert_eq!(
        reason(world.status(&web, now, Some(before)).await),
        "ErrImagePull"
    );
    let next = now + Duration::from_secs(1);
    assert_eq!(
        reason(world.status(&web, next, Some(now)).await),
        "ImagePullBackOff"
    );
}

/// Fault 3b of the matrix: a container that ran exits while its image is gone. Its failed
/// restart is what it waits on (`ErrImagePull`, then `ImagePullBackOff`), its exit the last
/// state, and the pod's other container shows no failure of its own.
#[tokio::test]
async fn a_restart_whose_pull_fails_waits_on_err_image_pull_then_image_pull_back_off() {
    let mut world = World::new();
    let web = pod(WEB);
    let start = SystemTime::now();
    world.step(&[web.clone()], start).await;
    world.exit("web", "0", 1, start);
    world
        .runtime
        .fail_next("ensure_image", "image nginx:1.25 not found");
    let later = start + Duration::from_secs(60);
    world.step(&[web.clone()], later).await;
    let failed = world.status(&web, later, Some(later - Duration::from_secs(1)));
    check(
        describe_status(&failed.await),
        expect![[r#"
            STATUS ErrImagePull
            web restarts=0 state=waiting ErrImagePull last=terminated Error 1
            sidecar restarts=0 state=running last=-"#]],
    );
    let next = world.status(&web, later + Duration::from_secs(1), Some(later));
    check(
        describe_status(&next.await),
        expect![[r#"
            STATUS ImagePullBackOff
            web restarts=0 state=waiting ImagePullBackOff last=terminated Error 1
            sidecar restarts=0 state=running last=-"#]],
    );
}

/// Fault 3c on CRI: the sandbox is torn down behind the agent's back while the agent
/// restarts a container in it (`StartContainer`: sandbox container is not running). Once
/// the sandbox is seen gone, that failure is forgotten and a new sandbox is planned at
/// once, not after the 10 s back-off; a failure in a sandbox still ready is kept.
#[tokio::test]
async fn a_failure_in_a_sandbox_torn_down_since_does_not_hold_back_the_new_sandbox() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n",
    );
    let start = SystemTime::now();
    world.step(&[web.clone()], start).await;
    world.exit("web", "0", 137, start);
    world
        .runtime
        .fail_next("start_container", "sandbox container is not running");
    let later = start + Duration::from_secs(60);
    world.step(&[web.clone()], later).await;
    let soon = later + Duration::from_secs(1);
    let observed = |world: &World| {
        let (sandboxes, containers) = (world.runtime.sandboxes(), world.runtime.containers());
        observe::group("node0", sandboxes, containers)
    };
    world.history.forget_lost_sandboxes(&observed(&world));
    check(
        render(&world.plan(&[web.clone()], soon).await, soon),
        expect!["wake in 9s"],
    );
    let sandbox = world.runtime.sandboxes().remove(0).id;
    world.runtime.remove_sandbox(&sandbox).await.unwrap();
    world.history.forget_lost_sandboxes(&observed(&world));
    check(
        render(&world.plan(&[web.clone()], soon).await, soon),
        expect![[r#"
            kill default/web-node0 containers=2 sandboxes=0 grace=30s forget=false
            run sandbox default/web-node0 #0
            start web #2"#]],
    );
}

#[tokio::test]
async fn failed_work_is_tried_again_every_10_s_as_the_kubelets_pod_worker_does() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n",
    );
    let start = SystemTime::now();
    world.step(&[web.clone()], start).await;
    // The manifest removed: each kill fails in removing the sandbox, and the next is tried
    // 10 s after it, not after a doubling wait.
    for failure in 0..4 {
        world
            .runtime
            .fail_next("remove_sandbox", "sandbox is being removed");
        let at = start + Duration::from_secs(1 + 10 * failure);
        world.step(&[], at).await;
        check(
            render(&world.plan(&[], at).await, at),
            expect!["wake in 10s"],
        );
    }
    let at = start + Duration::from_secs(41);
    check(
        world.step(&[], at).await,
        expect!["kill default/web-node0 containers=0 sandboxes=1 grace=30s forget=true"],
    );
    assert!(world.runtime.sandboxes().is_empty());
}

/// The events, as `kubectl get events` lists them: `REASON OBJECT MESSAGE (xCOUNT)`.
fn render_events(events: &Events) -> String {
    let lines: Vec<String> = events
        .list()
        .into_iter()
        .map(|e| {
            let object = e
                .involved_object
                .field_path
                .unwrap_or(e.involved_object.name);
            let count = if e.count > 1 {
                format!(" (x{})", e.count)
            } else {
                String::new()
            };
            format!(
                "{:?} {} {}: {}{count}",
                e.type_, e.reason, object, e.message
            )
        })
        .collect();
    lines.join("\n")
}

#[tokio::test]
async fn the_executor_tells_what_it_does_as_the_kubelets_events() {
    let mut world = World::new();
    let web = pod(WEB);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    world.step(&[], now).await;
    let broken = pod(
        "kind: Pod\nmetadata: {name: broken}\nspec:\n  containers:\n  - {name: app, image: nginx:9.9, imagePullPolicy: Never}\n",
    );
    world.step(&[broken], now).await;
    check(
        render_events(&world.events),
        expect![[r#"
            Warning MissingClusterDNS web-node0: pod: "web-node0_default(8a60aeea113f364073667ab7bf383622)". The node has no clusterDNS configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.
            Normal Pulled spec.containers{web}: Container image "nginx:1.25" already present on machine
            Normal Created spec.containers{web}: Created container web
            Normal Started spec.containers{web}: Started container web
            Normal Pulled spec.containers{sidecar}: Container image "busybox:1.36" already present on machine
            Normal Created spec.containers{sidecar}: Created container sidecar
            Normal Started spec.containers{sidecar}: Started container sidecar
            Normal Killing spec.containers{sidecar}: Stopping container sidecar
            Normal Killing spec.containers{web}: Stopping container web
            Warning MissingClusterDNS broken-node0: pod: "broken-node0_default(11d52b4e745ca00a5865a558598df547)". The node has no clusterDNS configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.
            Warning ErrImageNeverPull spec.containers{app}: Container image "nginx:9.9" is not present with pull policy of Never"#]],
    );
}

/// A pod with a native sidecar (`log`, `restartPolicy: Always`), a plain init container and
/// an app container, under `policy`.
fn with_sidecar(policy: &str) -> Arc<StaticPod> {
    pod(&format!(
        "kind: Pod\nmetadata: {{name: web}}\nspec:\n  restartPolicy: {policy}\n  initContainers:\n  - {{name: log, image: busybox:1.36, restartPolicy: Always}}\n  - {{name: migrate, image: busybox:1.36}}\n  containers: [{{name: web, image: nginx:1.25}}]\n"
    ))
}

#[tokio::test]
async fn a_sidecar_starts_before_the_next_init_container_and_restarts_whatever_the_policy() {
    let mut world = World::new();
    let web = with_sidecar("Never");
    let now = SystemTime::now();
    check(
        world.step(&[web.clone()], now).await,
        expect![[r#"
            run sandbox default/web-node0 #0
            start log #0"#]],
    );
    check(
        world.step(&[web.clone()], now).await,
        expect!["start migrate #0"],
    );
    world.exit("migrate", "0", 0, now);
    check(
        world.step(&[web.clone()], now).await,
        expect!["start web #0"],
    );
    check(
        world.describe(&web, now).await,
        expect![[r#"
            STATUS Running
            log restarts=0 state=running last=-
            migrate restarts=0 state=terminated Completed 0 last=-
            web restarts=0 state=running last=-"#]],
    );
    // Under restartPolicy Never, the sidecar is still restarted; the app is not touched.
    world.exit("log", "0", 1, now);
    check(
        world.step(&[web.clone()], now).await,
        expect!["start log #1"],
    );
    // The app finishes: the sidecar is stopped, then the sandbox; the pod has completed.
    world.exit("web", "0", 0, now);
    check(
        world.step(&[web.clone()], now).await,
        expect![[r#"
            stop log grace=30s: the pod completed
            stop sandbox sandbox-1"#]],
    );
    check(world.step(&[web.clone()], now).await, expect![""]);
    check(
        world.describe(&web, now).await,
        expect![[r#"
            STATUS Completed
            log restarts=1 state=terminated Error 137 last=terminated Error 1
            migrate restarts=0 state=terminated Completed 0 last=-
            web restarts=0 state=terminated Completed 0 last=-"#]],
    );
}

#[tokio::test]
async fn the_next_init_container_waits_for_the_sidecars_startup_probe() {
    let mut world = World::new();
    let web = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - name: log\n    image: busybox:1.36\n    restartPolicy: Always\n    startupProbe: {exec: {command: [test, -e, /ready]}}\n  containers: [{name: web, image: nginx:1.25}]\n",
    );
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    check(world.step(&[web.clone()], now).await, expect![""]);
    let sidecar = world.container_id("log", "0");
    world.verdicts = [(
        sidecar,
        Verdicts {
            started: true,
            ready: true,
            failed: None,
        },
    )]
    .into();
    check(world.step(&[web], now).await, expect!["start web #0"]);
}

#[tokio::test]
async fn a_killed_pod_stops_its_app_containers_before_its_sidecars() {
    let mut world = World::new();
    let web = with_sidecar("Always");
    let now = SystemTime::now();
    world.initialize_with_sidecar(&web, now).await;
    let (log, web_id) = (
        world.container_id("log", "0"),
        world.container_id("web", "0"),
    );
    world.runtime.clear_calls();
    world.step(&[], now).await;
    let stops: Vec<String> = world
        .runtime
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("stop_container"))
        .collect();
    let web_at = stops.iter().position(|s| s.contains(&web_id)).unwrap();
    let log_at = stops.iter().position(|s| s.contains(&log)).unwrap();
    assert!(
        web_at < log_at,
        "the app stops before the sidecar: {stops:?}"
    );
}

const TWO_SIDECARS: &str = "kind: Pod\nmetadata: {name: web}\nspec:\n  terminationGracePeriodSeconds: 10\n  initContainers:\n  - {name: first, image: busybox:1.36, restartPolicy: Always}\n  - name: second\n    image: busybox:1.36\n    restartPolicy: Always\n    lifecycle: {preStop: {exec: {command: [flush]}}}\n  containers: [{name: web, image: nginx:1.25}]\n";

// Paused, so that the hook takes no time and every stop gets the whole grace period.
#[tokio::test(start_paused = true)]
async fn a_removed_pods_sidecars_stop_after_its_app_in_reverse_order_their_hooks_first() {
    let mut world = World::new();
    let web = pod(TWO_SIDECARS);
    let now = SystemTime::now();
    for _ in 0..3 {
        world.step(&[web.clone()], now).await;
    }
    let [first, second, app] = ["first", "second", "web"].map(|name| world.container_id(name, "0"));
    world.runtime.clear_calls();
    // The manifest is gone: the order comes from what the containers carry.
    world.step(&[], now).await;
    let calls: Vec<String> = world
        .runtime
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("exec_sync") || c.starts_with("stop_container"))
        .collect();
    // The hook and the app's stop start together; the sidecars stop after both.
    let mut together = calls[..2.min(calls.len())].to_vec();
    together.sort();
    assert_eq!(
        together,
        [
            format!("exec_sync {second} flush"),
            format!("stop_container {app} grace=10s"),
        ],
        "{calls:?}"
    );
    assert_eq!(
        calls[2..],
        [
            format!("stop_container {second} grace=10s"),
            format!("stop_container {first} grace=10s"),
        ],
        "then the sidecars, the last declared first: {calls:?}"
    );
}

const HOOKED: &str = "kind: Pod\nmetadata: {name: web}\nspec:\n  terminationGracePeriodSeconds: 10\n  containers:\n  - name: web\n    image: nginx:1.25\n    lifecycle:\n      postStart: {exec: {command: [touch, /started]}}\n      preStop: {exec: {command: [nginx, -s, quit]}}\n";

// Paused, so that the hook takes no time and the stop gets the whole grace period.
#[tokio::test(start_paused = true)]
async fn the_pre_stop_hook_runs_before_the_stop_signal_on_removal_and_on_edit() {
    let mut world = World::new();
    let web = pod(HOOKED);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    let first = world.container_id("web", "0");
    let hooks_and_stops = |world: &World| -> Vec<String> {
        world
            .runtime
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("exec_sync") || c.starts_with("stop_container"))
            .collect()
    };
    assert_eq!(
        hooks_and_stops(&world),
        [format!("exec_sync {first} touch /started")],
        "postStart ran right after the start"
    );
    world.runtime.clear_calls();
    let edited = pod(&HOOKED.replace(
        "    image: nginx:1.25\n",
        "    image: nginx:1.25\n    env: [{name: A, value: b}]\n",
    ));
    world.runtime.clear_calls();
    world.step(&[edited.clone()], now).await;
    let calls = hooks_and_stops(&world);
    assert!(
        calls.starts_with(&[
            format!("exec_sync {first} nginx -s quit"),
            format!("stop_container {first} grace=10s"),
        ]),
        "on an edit, preStop then the stop: {calls:?}"
    );
    let second = world.container_id("web", "0");
    world.runtime.clear_calls();
    world.step(&[], now).await;
    assert_eq!(
        hooks_and_stops(&world),
        [
            format!("exec_sync {second} nginx -s quit"),
            format!("stop_container {second} grace=10s"),
        ],
        "on removal, with no manifest left, the hook stored on the container runs"
    );
}

#[tokio::test]
async fn a_failed_post_start_hook_stops_the_container_and_is_told() {
    let mut world = World::new();
    world.runtime.set_exec_exit_code(1);
    let web = pod(HOOKED);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    assert_eq!(world.failure_reason(&web), Some("PostStartHookError"));
    let web_id = world.container_id("web", "0");
    assert!(
        world
            .runtime
            .calls()
            .contains(&format!("stop_container {web_id} grace=10s"))
    );
    let told: Vec<String> = world
        .events
        .list()
        .into_iter()
        .filter(|e| e.reason == "FailedPostStartHook")
        .map(|e| e.message)
        .collect();
    assert_eq!(
        told,
        [
            "Exec lifecycle hook ([\"touch\", \"/started\"]) for Container \"web\" in Pod \"web-node0\" failed - error: command \"touch /started\" exited with 1, message: \"exit 1\""
        ]
    );
}

#[tokio::test]
async fn conditions_say_why_a_pod_is_not_ready() {
    let mut world = World::new();
    let web = pod(WEB);
    let now = SystemTime::now();
    world.step(&[web.clone()], now).await;
    world.exit("web", "0", 1, now);
    world.step(&[web.clone()], now).await;
    world.exit("web", "1", 1, now);
    let status = world.status(&web, now, None).await.status;
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| {
            let why = c.message.clone().or(c.reason.clone()).unwrap_or_default();
            format!("{} {} {why}", c.type_, c.status)
        })
        .collect();
    check(
        conditions.join("\n"),
        expect![[r#"
            PodReadyToStartContainers True 
            Initialized True 
            Ready False containers with unready status: [web]
            ContainersReady False containers with unready status: [web]
            PodScheduled True "#]],
    );
}

#[tokio::test]
async fn a_pod_the_node_cannot_give_what_it_asks_for_is_refused_before_the_runtime_is_asked() {
    let mut world = World::new();
    let long = pod(
        "kind: Pod\nmetadata: {name: web}\nspec:\n  hostname: a-hostname-long-enough-to-make-the-pods-fqdn-overflow\n  subdomain: db\n  setHostnameAsFQDN: true\n  containers: [{name: web, image: nginx:1.25}]\n",
    );
    let armored = pod(
        "kind: Pod\nmetadata: {name: armored}\nspec:\n  securityContext: {appArmorProfile: {type: RuntimeDefault}}\n  containers: [{name: app, image: busybox:1.36}]\n",
    );
    // The World's node has no AppArmor, as NodePolicy's default says.
    let now = SystemTime::now();
    world.step(&[long.clone(), armored.clone()], now).await;
    assert_eq!(world.failure_reason(&long), Some("CreatePodSandboxError"));
    assert_eq!(world.failure_reason(&armored), Some("AppArmor"));
    let mut told: Vec<String> = world
        .events
        .list()
        .into_iter()
        .filter(|e| e.reason == "FailedCreatePodSandBox" || e.reason == "AppArmor")
        .map(|e| format!("{}: {}", e.reason, e.message))
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            "AppArmor: Cannot enforce AppArmor: AppArmor is not enabled on the host",
            "FailedCreatePodSandBox: Failed to create pod sandbox: failed to construct FQDN from pod hostname and cluster domain, FQDN a-hostname-long-enough-to-make-the-pods-fqdn-overflow.db.default.svc. is too long (64 characters is the max, 69 characters requested)",
        ]
    );
    let calls = world.runtime.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("run_sandbox") && c.contains("web")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("create_container")),
        "{calls:?}"
    );
}
