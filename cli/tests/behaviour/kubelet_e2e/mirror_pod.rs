//! `test/e2e_node/mirror_pod_test.go`, translated. The mirror pod is what the agent shows
//! at `/pods` (what `kubectl get pod` reads from it): its UID, phase, container states,
//! annotations and owner. Creating, updating and deleting the static pod is writing,
//! rewriting and removing its file, as the kubelet's test does too.
//!
//! The checks are the file's (`checkMirrorPodRunning`, `validateMirrorPod`, ...), with its
//! timings: every `Eventually` polls every 4 s for 2 minutes. `validateMirrorPod` is held
//! once the pod runs, and fails the case at once: a mirror pod's annotations and owner do
//! not change while it runs, so waiting on would only delay the same failure.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{MINUTE, OnePod, POD_START_TIMEOUT, consistently_every, eventually};
use crate::support::Node;

/// How long the file's `Eventually`s wait.
pub(super) const MIRROR_WAIT: Duration = Duration::from_secs(2 * 60);
/// How often they look.
pub(super) const MIRROR_POLL: Duration = Duration::from_secs(4);

/// `imageutils.Nginx`: the offline nginx stand-in.
const NGINX: &str = "nginx:1.25";
/// `GetPauseImageName()`.
pub(super) const PAUSE: &str = "registry.k8s.io/pause:3.9";

/// The manifest file of static pod `name` (the kubelet's test names it
/// `<namespace>-<name>.yaml`; the name does not matter, [`OnePod`]'s is taken).
pub(super) fn file(name: &str) -> String {
    format!("{name}.yaml")
}

/// `createStaticPod`: one container `test` of `image`, with `spec` more lines of the
/// spec (each indented by two spaces).
pub(super) fn static_pod(name: &str, image: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  restartPolicy: Always\n{spec}  containers:\n  - {{name: test, image: '{image}'}}\n"
    )
}

/// The mirror pod of static pod `name`, as the agent's API lists it (what `kubectl get pod`
/// reads; the kubelet's own `/pods` shows the static pod, without the mirror's annotation and
/// owner), as JSON (every field the agent gives), if it is listed.
pub(super) fn mirror(node: &Node, name: &str) -> Option<Value> {
    let body = node
        .http_get("/api/v1/namespaces/default/pods")
        .expect("GET /api/v1/namespaces/default/pods");
    let list: Value = serde_json::from_str(&body).expect("a PodList");
    let full = node.pod_name(name);
    list["items"]
        .as_array()?
        .iter()
        .find(|p| p["metadata"]["name"] == full.as_str())
        .cloned()
}

/// The mirror pod's UID.
pub(super) fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The mirror pod of `name`, or "expected the mirror pod to appear".
fn get(node: &Node, name: &str) -> Result<Value, String> {
    mirror(node, name).ok_or_else(|| format!("expected the mirror pod {name:?} to appear"))
}

/// The pod is `Running`.
fn running(pod: &Value) -> Result<(), String> {
    match pod["status"]["phase"].as_str() {
        Some("Running") => Ok(()),
        phase => Err(format!(
            "expected the mirror pod to be running, got {phase:?}"
        )),
    }
}

/// Every container of the pod runs.
fn containers_running(pod: &Value) -> Result<(), String> {
    for status in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if status["state"]["running"].is_null() {
            return Err(format!(
                "expected container {} to be running (got {})",
                status["name"], status["state"]
            ));
        }
    }
    Ok(())
}

/// `validateMirrorPod`: the hash and mirror annotations, equal; a source that is not the
/// API; one owner reference, to the node, as its controller.
fn validate(node: &Node, pod: &Value) -> Result<(), String> {
    let annotations = &pod["metadata"]["annotations"];
    let hash = annotations["kubernetes.io/config.hash"]
        .as_str()
        .unwrap_or_default();
    if hash.is_empty() {
        return Err("expected the mirror pod to have a hash annotation".into());
    }
    let mirror_hash = annotations["kubernetes.io/config.mirror"]
        .as_str()
        .unwrap_or_default();
    if mirror_hash.is_empty() {
        return Err(
            "expected the mirror pod to have a mirror pod annotation (kubernetes.io/config.mirror)"
                .into(),
        );
    }
    if hash != mirror_hash {
        return Err(format!(
            "expected the mirror pod to have a matching mirror pod hash: got {mirror_hash:?}; expected {hash:?}"
        ));
    }
    match annotations["kubernetes.io/config.source"].as_str() {
        None => return Err("expected the mirror pod to have a source annotation".into()),
        Some("api") => return Err("expected the mirror pod's source to not be 'api'".into()),
        Some(_) => {}
    }
    let owners = pod["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let [owner] = &owners[..] else {
        return Err(format!(
            "expected the mirror pod to have a single owner reference: got {}",
            owners.len()
        ));
    };
    let body = node
        .http_get(&format!("/api/v1/nodes/{}", node.name))
        .map_err(|e| format!("failed to fetch the node: {e}"))?;
    let node_object: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let expected = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "name": node.name,
        "uid": node_object["metadata"]["uid"],
        "controller": true,
    });
    if *owner != expected {
        return Err(format!(
            "unexpected mirror pod owner ref: {owner}, expected {expected}"
        ));
    }
    Ok(())
}

/// Waits (`MIRROR_WAIT`, every `MIRROR_POLL`) for `check` to accept the mirror pod of
/// `name`, then holds it to `validateMirrorPod`; returns it.
pub(super) fn wait_valid(
    node: &Node,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Value {
    let pod = eventually(MIRROR_WAIT, MIRROR_POLL, what, || {
        let pod = get(node, name)?;
        check(&pod)?;
        Ok(pod)
    });
    if let Err(error) = validate(node, &pod) {
        panic!("{what}: {error}\n{pod:#}");
    }
    pod
}

/// `checkMirrorPodRunning`, waited for: the pod and its containers run.
pub(super) fn wait_running(node: &Node, name: &str) -> Value {
    wait_valid(node, name, "the mirror pod to be running", |pod| {
        running(pod)?;
        containers_running(pod)
    })
}

/// `checkMirrorPodRecreatedAndRunning`, waited for: a pod of another UID than `old`
/// runs.
pub(super) fn wait_recreated_and_running(node: &Node, name: &str, old: &str) -> Value {
    wait_valid(node, name, "the mirror pod to be updated", |pod| {
        recreated(pod, old)?;
        running(pod)
    })
}

/// `checkMirrorPodRecreated`: the pod's UID is not `old`.
fn recreated(pod: &Value, old: &str) -> Result<(), String> {
    match uid(pod) {
        now if now == old => Err(format!(
            "expected the uid of the mirror pod to be changed, got {now:?}"
        )),
        _ => Ok(()),
    }
}

/// `checkMirrorPodRunningWithUID`: the pod of UID `old` is listed and running.
pub(super) fn running_with_uid(node: &Node, name: &str, old: &str) -> Result<(), String> {
    let pod = get(node, name)?;
    if uid(&pod) != old {
        return Err(format!(
            "expected the uid of the mirror pod to be the same, got {:?}",
            uid(&pod)
        ));
    }
    running(&pod)
}

/// The `AfterEach`: removes the manifest (`deleteStaticPod`) and waits for the mirror pod
/// to disappear (`checkMirrorPodDisappear`).
pub(super) fn delete_and_wait_gone(node: &Node, name: &str) {
    let path = node.manifests.join(file(name));
    if path.exists() {
        node.remove_manifest(&file(name));
    }
    eventually(
        MIRROR_WAIT,
        MIRROR_POLL,
        "the mirror pod to disappear",
        || match mirror(node, name) {
            None => Ok(()),
            Some(_) => Err(format!("mirror pod {name} still exists")),
        },
    );
}

/// The image of the pod's only container, which there must be (`HaveLen(1)`).
pub(super) fn only_image(pod: &Value) -> String {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(containers.len(), 1, "{pod:#}");
    containers[0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The `BeforeEach` of "when create a mirror pod" and of "mirror pod updates": the static
/// nginx pod `static-pod` runs, its mirror pod valid. Returns the node and the mirror pod.
fn nginx_running(case: &str) -> (Node, Value) {
    let mut node = Node::new(super::backend(), case);
    node.write_manifest(&file("static-pod"), &static_pod("static-pod", NGINX, ""));
    node.start_agent();
    let pod = wait_running(&node, "static-pod");
    (node, pod)
}

/// "when create a mirror pod": "should be updated when static pod updated".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_mirror_pod_is_updated_when_its_static_pod_is() {
    let (node, pod) = nginx_running("e2e-mirror-update");
    let old = uid(&pod);
    node.write_manifest(&file("static-pod"), &static_pod("static-pod", PAUSE, ""));
    let updated = wait_recreated_and_running(&node, "static-pod", &old);
    assert_eq!(only_image(&updated), PAUSE);
    delete_and_wait_gone(&node, "static-pod");
}

/// "when create a mirror pod without changes": "should successfully recreate when file is
/// removed and recreated": the same pod runs again, its container restarted once, and
/// stays running for 30 s.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_static_pod_removed_and_written_again_runs_again_restarted_once() {
    let (node, _) = nginx_running("e2e-mirror-recreate");
    node.remove_manifest(&file("static-pod"));
    node.write_manifest(&file("static-pod"), &static_pod("static-pod", NGINX, ""));
    // `checkMirrorPodRunningWithRestartCount`, every 2 s: a waiting container is looked at
    // again, a running one must have been restarted once.
    wait_valid(
        &node,
        "static-pod",
        "the mirror pod to run with a restart count of 1",
        |pod| {
            running(pod)?;
            let statuses = pod["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for status in &statuses {
                if !status["state"]["waiting"].is_null() {
                    return Err("a container waits".into());
                }
                if status["state"]["running"].is_null() {
                    return Err(format!("container {} is not running", status["name"]));
                }
                if status["restartCount"] == 1 {
                    return Ok(());
                }
            }
            Err(format!("no container restarted once: {statuses:?}"))
        },
    );
    consistently_every(
        Duration::from_secs(30),
        MIRROR_POLL,
        "the mirror pod should stay running",
        || {
            let pod = get(&node, "static-pod")?;
            running(&pod)?;
            containers_running(&pod)?;
            validate(&node, &pod)
        },
    );
    delete_and_wait_gone(&node, "static-pod");
}

/// "MirrorPod (Pod Generation)": the static pod rewritten as `manifest` is a new mirror pod,
/// whose `generation` is 1 and whose status has no `observedGeneration`.
fn generation_stays_1(case: &str, manifest: &str) {
    let (node, pod) = nginx_running(case);
    let old = uid(&pod);
    node.write_manifest(&file("static-pod"), manifest);
    eventually(
        MIRROR_WAIT,
        MIRROR_POLL,
        "the mirror pod to be updated",
        || recreated(&get(&node, "static-pod")?, &old),
    );
    let pod = get(&node, "static-pod").unwrap();
    assert_eq!(
        pod["metadata"]["generation"], 1,
        "generation remains at 1: {pod:#}"
    );
    let observed = &pod["status"]["observedGeneration"];
    assert!(
        observed.is_null() || *observed == 0,
        "observedGeneration is always empty: {pod:#}"
    );
    delete_and_wait_gone(&node, "static-pod");
}

/// "mirror pod updates": "mirror pod: update activeDeadlineSeconds".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_mirror_pods_generation_stays_1_when_its_active_deadline_is_updated() {
    generation_stays_1(
        "e2e-mirror-gen-deadline",
        &static_pod("static-pod", PAUSE, "  activeDeadlineSeconds: 3000\n"),
    );
}

/// "mirror pod updates": "mirror pod: update container image".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_mirror_pods_generation_stays_1_when_its_image_is_updated() {
    generation_stays_1("e2e-mirror-gen-image", &static_pod("static-pod", PAUSE, ""));
}

/// "mirror pod updates": "mirror pod: update initContainer image"
/// (`createStaticPodWithInitContainer`: an init container `init-test` of the pause image).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_mirror_pods_generation_stays_1_when_its_init_container_image_is_updated() {
    generation_stays_1(
        "e2e-mirror-gen-init",
        &static_pod(
            "static-pod",
            PAUSE,
            &format!("  initContainers:\n  - {{name: init-test, image: '{PAUSE}'}}\n"),
        ),
    );
}

/// "MirrorPod with EnvFiles": "should be able to consume variables from a file": an init
/// container writes `config.env` to an emptyDir, the container reads two variables of it
/// through `fileKeyRef`.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_static_pod_consumes_variables_from_an_env_file() {
    let file_key = |key: &str| {
        format!(
            "    - {{name: {key}, valueFrom: {{fileKeyRef: {{volumeName: config, path: config.env, key: {key}}}}}}}\n"
        )
    };
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: static-pod-envfiles, namespace: default}}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: setup-envfile\n    image: busybox:1.36\n    command: [sh, -c, \"echo CONFIG_1=\\\\'value1\\\\' > /data/config.env && echo CONFIG_2=\\\\'value2\\\\' >> /data/config.env\"]\n    volumeMounts: [{{name: config, mountPath: /data}}]\n  containers:\n  - name: use-envfile\n    image: busybox:1.36\n    command: [sh, -c, \"env | grep -E '(CONFIG_1|CONFIG_2)' | sort\"]\n    env:\n{}{}  volumes:\n  - {{name: config, emptyDir: {{}}}}\n",
        file_key("CONFIG_1"),
        file_key("CONFIG_2"),
    );
    let run = OnePod::start("e2e-mirror-envfiles", "static-pod-envfiles", &manifest);
    run.client().wait_success(POD_START_TIMEOUT);
    let logs = run.client().logs("use-envfile");
    for wanted in ["CONFIG_1=value1", "CONFIG_2=value2"] {
        assert!(logs.contains(wanted), "{wanted:?} in the logs:\n{logs}");
    }
    delete_and_wait_gone(&run.node, "static-pod-envfiles");
}

/// "MirrorPod when kubelet restarts": "should not change container status": a running,
/// ready pod whose readiness probe takes 30 s to answer keeps every status the restarted
/// agent gives it running, started, ready and not restarted.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn an_agent_restart_does_not_change_the_container_status() {
    let name = "static-pod";
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: static-pod, namespace: default}\nspec:\n  containers:\n  - name: container\n    image: busybox:1.36\n    command: [sleep, '3600']\n    startupProbe: {exec: {command: [/bin/true]}, initialDelaySeconds: 1, periodSeconds: 1}\n    readinessProbe: {exec: {command: [/bin/sh, -c, 'sleep 30; /bin/true']}, initialDelaySeconds: 1, periodSeconds: 1, timeoutSeconds: 60}\n";
    let mut node = Node::new(super::backend(), "e2e-mirror-restart");
    node.write_manifest(&file(name), manifest);
    node.start_agent();
    wait_running(&node, name);
    eventually(
        POD_START_TIMEOUT,
        MIRROR_POLL,
        "the pod to be running and ready",
        || {
            let pod = get(&node, name)?;
            running(&pod)?;
            let ready = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            ready.then_some(()).ok_or_else(|| "not ready".to_string())
        },
    );
    let unchanged = |pod: &Value| -> Result<(), String> {
        running(pod)
            .map_err(|_| format!("pod phase is {}, expected Running", pod["status"]["phase"]))?;
        let statuses = pod["status"]["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if statuses.is_empty() {
            return Err("no container status".into());
        }
        for status in &statuses {
            let name = &status["name"];
            if status["restartCount"] != 0 {
                return Err(format!(
                    "container {name} restarted {} times",
                    status["restartCount"]
                ));
            }
            if status["started"] != true {
                return Err(format!("container {name} started status is not true"));
            }
            if status["ready"] != true {
                return Err(format!("container {name} ready status is not true"));
            }
        }
        Ok(())
    };
    unchanged(&get(&node, name).unwrap()).expect("the initial state");
    // The kubelet's startup grace period is 10 s.
    std::thread::sleep(Duration::from_secs(11));
    node.terminate_agent();
    node.start_agent();
    // The API keeps the mirror pod while the kubelet restarts; a restarted agent lists its
    // pods once it has read its manifests: each status it gives from then on is checked.
    eventually(
        MINUTE,
        Duration::from_millis(100),
        "the pod to be listed again",
        || get(&node, name).map(drop),
    );
    // "Allow status updates to reach the API before the delayed readiness probe succeeds."
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Some(pod) = mirror(&node, name)
            && let Err(error) = unchanged(&pod)
        {
            panic!("pod status check failed during the agent restart: {error}\n{pod:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    delete_and_wait_gone(&node, name);
}
