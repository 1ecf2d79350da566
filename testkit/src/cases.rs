//! The integration cases every backend runs the same way against its real runtime: each
//! drives the trait as the agent does and checks what the runtime then lists.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use staticpod_runtime::labels::{CONTAINER_NAME, MANAGED_BY, MANAGED_BY_VALUE};
use staticpod_runtime::logs::{LogOptions, LogStream};
use staticpod_runtime::timestamp;
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ImageEnsured, PullPolicy,
    RuntimeError, SandboxConfig, SandboxInfo, SandboxState,
};

use crate::fixtures::container_config;
use crate::guard::{containers_of, sandboxes_of};
use crate::net::http_get;
use crate::wait::eventually;

/// Runs sandbox `pod`, makes sure `container`'s image is there, and creates and starts the
/// container in it; returns the sandbox's id and the container's.
pub async fn start_pod(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    container: &ContainerConfig,
) -> (String, String) {
    let sandbox_id = runtime.run_sandbox(pod).await.expect("run sandbox");
    runtime
        .ensure_image(&container.image, PullPolicy::IfNotPresent)
        .await
        .expect("the image is loaded");
    let id = runtime
        .create_container(&sandbox_id, container, pod)
        .await
        .expect("create");
    runtime.start_container(&id).await.expect("start");
    (sandbox_id, id)
}

/// The one sandbox and the one container of `pod` as listed, checked to be `sandbox_id`,
/// Ready with an IP and the pod's labels, and `container_id`, running in it with its name;
/// returned for the runtime's own checks.
pub async fn listed_running(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    sandbox_id: &str,
    container_id: &str,
) -> (SandboxInfo, ContainerInfo) {
    let mut sandboxes = sandboxes_of(runtime, &pod.uid).await;
    assert_eq!(sandboxes.len(), 1, "{sandboxes:?}");
    let sandbox = sandboxes.remove(0);
    assert_eq!(sandbox.id, sandbox_id);
    assert_eq!(sandbox.state, SandboxState::Ready);
    assert!(
        sandbox.ip.as_deref().is_some_and(|ip| !ip.is_empty()),
        "{sandbox:?}"
    );
    assert_eq!(sandbox.labels[MANAGED_BY], MANAGED_BY_VALUE);
    assert_eq!(sandbox.labels["kubernetes.io/config.source"], "file");

    let mut containers = containers_of(runtime, &pod.uid).await;
    assert_eq!(containers.len(), 1, "{containers:?}");
    let container = containers.remove(0);
    assert_eq!(container.id, container_id);
    assert_eq!(container.sandbox_id.as_deref(), Some(sandbox_id));
    assert!(
        container.labels.contains_key(CONTAINER_NAME),
        "{container:?}"
    );
    assert!(
        matches!(container.state, ContainerState::Running { .. }),
        "{container:?}"
    );
    (sandbox, container)
}

/// Stops the running container `container_id` (it exits on SIGTERM, well within its grace
/// period) and then the sandbox, then removes both, checking each step in the listing; then
/// that all four calls are idempotent and that the removed container is not found.
pub async fn stop_then_remove(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    sandbox_id: &str,
    container_id: &str,
) {
    let stopping = tokio::time::Instant::now();
    runtime
        .stop_container(container_id, Duration::from_millis(1500))
        .await
        .expect("stop the container");
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let containers = containers_of(runtime, &pod.uid).await;
    assert!(
        matches!(containers[0].state, ContainerState::Exited { .. }),
        "{containers:?}"
    );
    runtime
        .stop_sandbox(sandbox_id)
        .await
        .expect("stop sandbox");
    let sandboxes = sandboxes_of(runtime, &pod.uid).await;
    assert_eq!(sandboxes[0].state, SandboxState::NotReady);
    assert_eq!(sandboxes[0].ip, None);

    runtime
        .remove_container(container_id)
        .await
        .expect("remove the container");
    runtime
        .remove_sandbox(sandbox_id)
        .await
        .expect("remove sandbox");
    assert!(containers_of(runtime, &pod.uid).await.is_empty());
    assert!(sandboxes_of(runtime, &pod.uid).await.is_empty());

    // All of these are idempotent.
    runtime
        .stop_container(container_id, Duration::from_secs(1))
        .await
        .unwrap();
    runtime.remove_container(container_id).await.unwrap();
    runtime.stop_sandbox(sandbox_id).await.unwrap();
    runtime.remove_sandbox(sandbox_id).await.unwrap();
    let err = runtime
        .start_container(container_id)
        .await
        .expect_err("removed");
    assert!(
        matches!(&err, RuntimeError::NotFound { kind: "container", id } if id == container_id),
        "{err:?}"
    );
}

/// Runs sandbox `pod`, which must be on the host network, with a container from `image` (a
/// busybox) serving HTTP on the node's `port`: the sandbox is Ready with no IP of its own,
/// and the page answers on the node. Returns the sandbox's id.
pub async fn host_network_pod_serves_on_the_node(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    image: &str,
    port: u16,
) -> String {
    assert!(pod.host_network, "{pod:?}");
    let port_arg = port.to_string();
    let config = ContainerConfig {
        command: ["httpd", "-f", "-p", &port_arg, "-h", "/"]
            .map(String::from)
            .to_vec(),
        ..container_config("web", image, pod)
    };
    let (sandbox_id, _) = start_pod(runtime, pod, &config).await;
    let sandboxes = sandboxes_of(runtime, &pod.uid).await;
    assert_eq!(sandboxes[0].state, SandboxState::Ready);
    assert_eq!(sandboxes[0].ip, None);
    eventually(
        Duration::from_secs(10),
        "httpd on the host network",
        || async { http_get(port).ok() },
    )
    .await;
    sandbox_id
}

/// Runs container `fails` from `image` (a busybox) in a new sandbox `pod`: it says `hello`,
/// sleeps a second and exits 3. Checks that the runtime's watch nudges for the exit and that
/// the listing reports the code and the times; returns the container's config, for checks of
/// its log.
pub async fn exit_is_reported_and_watched(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    image: &str,
) -> ContainerConfig {
    let mut events = runtime.watch().await.expect("watch");
    let config = ContainerConfig {
        command: ["sh", "-c", "echo $GREETING; sleep 1; exit 3"]
            .map(String::from)
            .to_vec(),
        env: vec![("GREETING".into(), "hello".into())],
        ..container_config("fails", image, pod)
    };
    start_pod(runtime, pod, &config).await;

    // The feed nudges for the sandbox's and the container's start; drain those, then the
    // exit must nudge.
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the watch yields after the sandbox and container start")
        .expect("feed open");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while events.try_recv().is_ok() {}
    let running = containers_of(runtime, &pod.uid).await;
    assert!(
        matches!(running[0].state, ContainerState::Running { .. }),
        "still sleeping: {running:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the watch yields after the container exits")
        .expect("feed open");

    let state = eventually(Duration::from_secs(5), "the exit", || async {
        let containers = containers_of(runtime, &pod.uid).await;
        let state = containers.first()?.state;
        matches!(state, ContainerState::Exited { .. }).then_some(state)
    })
    .await;
    let ContainerState::Exited {
        exit_code,
        started_at,
        finished_at,
        oom_killed,
    } = state
    else {
        unreachable!()
    };
    assert_eq!(exit_code, 3);
    assert!(!oom_killed);
    let ran = finished_at
        .duration_since(started_at)
        .expect("finished after start");
    assert!(ran >= Duration::from_millis(900), "{ran:?}");
    assert!(ran < Duration::from_secs(10), "{ran:?}");
    config
}

/// `ensure_image` by pull policy on a runtime that holds `present` and reaches no registry:
/// a present image needs no pull; an absent one is this pod's [`RuntimeError::ImagePull`],
/// saying so for `Never` and after a failed pull for `IfNotPresent`.
pub async fn ensure_image_by_policy(runtime: &dyn ContainerRuntime, present: &str) {
    for policy in [PullPolicy::IfNotPresent, PullPolicy::Never] {
        let ensured = runtime.ensure_image(present, policy).await;
        assert_eq!(ensured.ok(), Some(ImageEnsured::Present), "{policy:?}");
    }

    let absent = "staticpod.invalid/absent-image:0";
    let err = runtime
        .ensure_image(absent, PullPolicy::Never)
        .await
        .expect_err("absent and never pulled");
    let RuntimeError::ImagePull { image, source } = &err else {
        panic!("expected ImagePull, got {err:?}");
    };
    assert_eq!(image, absent);
    assert!(source.to_string().contains("policy Never"), "{source}");

    // No registry answers here: a pull is attempted and fails as this pod's error.
    let err = runtime
        .ensure_image(absent, PullPolicy::IfNotPresent)
        .await
        .expect_err("no registry");
    assert!(
        matches!(&err, RuntimeError::ImagePull { image, .. } if image == absent),
        "{err:?}"
    );
}

/// Everything a stream gives until it ends, which must be within `timeout`; panics on an
/// error item.
pub async fn read_log(mut stream: LogStream, timeout: Duration) -> String {
    let read = async {
        let mut text = Vec::new();
        while let Some(chunk) = stream.next().await {
            text.extend_from_slice(&chunk.expect("a log chunk"));
        }
        String::from_utf8(text).expect("UTF-8 log")
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| panic!("the log stream did not end within {timeout:?}"))
}

/// The log of `id` as `options` ask, read to its end (within 10 s).
pub async fn log_of(runtime: &dyn ContainerRuntime, id: &str, options: &LogOptions) -> String {
    let stream = runtime.logs(id, options).await.expect("open the log");
    read_log(stream, Duration::from_secs(10)).await
}

/// `kubectl logs` on container `talker` from `image` (a busybox) in a new sandbox `pod`: it
/// writes `one` (stdout), `two` (stderr) and `three` (stdout), then, seconds later, `four`
/// (stderr) and `five` (stdout), and exits. Its log holds all five lines in order;
/// `tail_lines`, `limit_bytes`, `timestamps` (RFC 3339 with nine digits, in order) and
/// `since` (just after `three`) cut it as asked; a log followed before `four` sees `four`
/// and `five` come and ends when the container exits; and after a restart the first
/// instance's log is still read by its id beside the new one's. An unknown id is not found.
pub async fn logs_read_as_kubectl_does(
    runtime: &dyn ContainerRuntime,
    pod: &SandboxConfig,
    image: &str,
) {
    let script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 3; \
                  echo four >&2; sleep 0.2; echo five";
    let config = ContainerConfig {
        command: ["sh", "-c", script].map(String::from).to_vec(),
        ..container_config("talker", image, pod)
    };
    let started = SystemTime::now();
    let (sandbox_id, id) = start_pod(runtime, pod, &config).await;
    let all = LogOptions::default();
    let first = eventually(Duration::from_secs(10), "three lines", || async {
        let text = log_of(runtime, &id, &all).await;
        (text.lines().count() >= 3).then_some(text)
    })
    .await;
    assert_eq!(first, "one\ntwo\nthree\n", "stdout and stderr, in order");

    let tail = LogOptions {
        tail_lines: Some(2),
        ..LogOptions::default()
    };
    assert_eq!(log_of(runtime, &id, &tail).await, "two\nthree\n");
    let limited = LogOptions {
        limit_bytes: Some(6),
        ..LogOptions::default()
    };
    assert_eq!(log_of(runtime, &id, &limited).await, "one\ntw");
    let stamped = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let stamped = log_of(runtime, &id, &stamped).await;
    let times: Vec<SystemTime> = stamped
        .lines()
        .map(|line| {
            let (time, _) = line.split_once(' ').expect("a time, a space, the line");
            assert_eq!(time.len(), 30, "nine fraction digits in UTC: {line}");
            timestamp::parse(time).unwrap_or_else(|err| panic!("{err}: {line}"))
        })
        .collect();
    let texts: Vec<&str> = stamped
        .lines()
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(texts, ["one", "two", "three"], "{stamped}");
    assert!(times.is_sorted(), "{stamped}");
    let slack = Duration::from_secs(5);
    assert!(
        times[0] + slack > started && times[2] < SystemTime::now() + slack,
        "{stamped}"
    );

    // Followed before `four` is written: it comes, then the stream ends with the container.
    let follow = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let followed = runtime.logs(&id, &follow).await.expect("follow the log");
    let followed = read_log(followed, Duration::from_secs(20)).await;
    assert_eq!(followed, "one\ntwo\nthree\nfour\nfive\n");
    let exited = containers_of(runtime, &pod.uid).await;
    assert!(
        matches!(exited[0].state, ContainerState::Exited { exit_code: 0, .. }),
        "the stream ended with the container: {exited:?}"
    );

    let since = LogOptions {
        since: Some(times[2] + Duration::from_nanos(1)),
        ..LogOptions::default()
    };
    assert_eq!(log_of(runtime, &id, &since).await, "four\nfive\n");

    // The next instance, as after a restart: the previous one's log is still its own.
    let restarted = ContainerConfig {
        attempt: 1,
        command: ["sh", "-c", "echo second life"].map(String::from).to_vec(),
        log_path: "talker/1.log".into(),
        ..config
    };
    let next = runtime
        .create_container(&sandbox_id, &restarted, pod)
        .await
        .expect("create the next instance");
    runtime.start_container(&next).await.expect("start it");
    let again = eventually(
        Duration::from_secs(10),
        "the new instance's line",
        || async {
            let text = log_of(runtime, &next, &all).await;
            (!text.is_empty()).then_some(text)
        },
    )
    .await;
    assert_eq!(again, "second life\n");
    assert_eq!(
        log_of(runtime, &id, &tail).await,
        "four\nfive\n",
        "the previous instance, by its id"
    );

    let err = runtime.logs("0123456789abcdef", &all).await.err();
    assert!(
        matches!(
            err,
            Some(RuntimeError::NotFound {
                kind: "container",
                ..
            })
        ),
        "{err:?}"
    );
}
