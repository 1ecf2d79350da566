//! Fixtures for the backends' tests: the configs the agent would hand a backend for a test
//! pod, polling until something holds, an HTTP GET on 127.0.0.1, removing what a test
//! created from the runtime, even from a `Drop`, and the cases every backend's integration
//! tests run the same way against its real runtime.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use crate::labels::{
    CONTAINER_NAME, MANAGED_BY, MANAGED_BY_VALUE, NODE, POD_NAME, POD_NAMESPACE, POD_UID,
};
use crate::runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, PortMapping, PullPolicy,
    ResourceConfig, RuntimeError, SandboxConfig, SandboxInfo, SandboxState, SecurityConfig,
};

/// The node a suite's test objects claim, `<suite>-<pid>`: one no agent runs as, so an agent
/// sharing the runtime (a demo, the cli's tests) leaves them alone.
pub fn test_node(suite: &str) -> String {
    format!("{suite}-{}", std::process::id())
}

/// The sandbox config the agent would hand over for pod `name` on `node` with `uid`: full
/// name `<name>-<node>`, namespace `default`, hostname `name`, the pod's own namespaces, no
/// hostPorts, the agent's pod labels (managed-by, pod name, namespace and UID, node), a
/// `kubernetes.io/config.source` annotation, and the kubelet's log directory.
pub fn sandbox_config(name: &str, node: &str, uid: &str) -> SandboxConfig {
    let full_name = format!("{name}-{node}");
    SandboxConfig {
        name: full_name.clone(),
        namespace: "default".into(),
        uid: uid.into(),
        attempt: 0,
        hostname: name.into(),
        host_network: false,
        host_pid: false,
        host_ipc: false,
        privileged: false,
        port_mappings: vec![],
        labels: BTreeMap::from([
            (MANAGED_BY.into(), MANAGED_BY_VALUE.into()),
            (POD_NAME.into(), full_name),
            (POD_NAMESPACE.into(), "default".into()),
            (POD_UID.into(), uid.into()),
            (NODE.into(), node.into()),
        ]),
        annotations: BTreeMap::from([("kubernetes.io/config.source".into(), "file".into())]),
        log_directory: PathBuf::from(format!("/var/log/pods/default_{name}_{uid}")),
    }
}

/// The config the agent would hand over for container `name` from `image` in `pod`: the
/// image's own command, no env or mounts, privilege escalation allowed (the Kubernetes
/// default), the pod's labels with the container's name, and its first attempt's log at
/// `<name>/0.log`.
pub fn container_config(name: &str, image: &str, pod: &SandboxConfig) -> ContainerConfig {
    let mut labels = pod.labels.clone();
    labels.insert(CONTAINER_NAME.into(), name.into());
    ContainerConfig {
        name: name.into(),
        attempt: 0,
        image: image.into(),
        command: vec![],
        args: vec![],
        working_dir: None,
        env: vec![],
        mounts: vec![],
        security: SecurityConfig {
            allow_privilege_escalation: true,
            ..Default::default()
        },
        resources: ResourceConfig::default(),
        labels,
        annotations: BTreeMap::new(),
        log_path: PathBuf::from(format!("{name}/0.log")),
    }
}

/// A cleanup a test registers with its [`TestPod`].
type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One test's pod on a real runtime: a UID unique to the test and this process, a node no
/// agent runs as, a log directory of its own, and a guard that removes every object carrying
/// that UID (then whatever else the test registered) when dropped, even when the test fails.
pub struct TestPod<R: ContainerRuntime + Clone + 'static> {
    /// The runtime under test.
    pub runtime: R,
    /// The pod's UID.
    pub uid: String,
    /// The sandbox's log directory.
    pub logs: PathBuf,
    node: String,
    cleanups: Mutex<Vec<Cleanup>>,
}

impl<R: ContainerRuntime + Clone + 'static> TestPod<R> {
    /// The pod of test `test` in the integration suite `suite` (see [`test_node`]).
    pub fn new(runtime: R, suite: &str, test: &str) -> Self {
        let uid = format!("{}-{}", test.replace('_', "-"), std::process::id());
        let logs = std::env::temp_dir().join(format!("staticpod-{suite}-{uid}"));
        std::fs::create_dir_all(&logs).expect("the pod's log directory");
        TestPod {
            runtime,
            uid,
            logs,
            node: test_node(suite),
            cleanups: Mutex::default(),
        }
    }

    /// The pod's sandbox config (pod `sptest`) with `port_mappings`.
    pub fn sandbox(&self, port_mappings: Vec<PortMapping>) -> SandboxConfig {
        SandboxConfig {
            port_mappings,
            log_directory: self.logs.clone(),
            ..sandbox_config("sptest", &self.node, &self.uid)
        }
    }

    /// Container `name` of the pod from `image`, running `command` (none: the image's), with
    /// `GREETING=hello` in its environment.
    pub fn container(&self, name: &str, image: &str, command: &[&str]) -> ContainerConfig {
        ContainerConfig {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            env: vec![("GREETING".into(), "hello".into())],
            ..container_config(name, image, &self.sandbox(vec![]))
        }
    }

    /// The pod's sandboxes as listed.
    pub async fn sandboxes(&self) -> Vec<SandboxInfo> {
        sandboxes_of(&self.runtime, &self.uid).await
    }

    /// The pod's containers as listed.
    pub async fn containers(&self) -> Vec<ContainerInfo> {
        containers_of(&self.runtime, &self.uid).await
    }

    /// Runs `cleanup` too when the pod is dropped: for objects the test made outside the
    /// trait (a foreign container holding a name, say).
    pub fn on_drop(&self, cleanup: impl Future<Output = ()> + Send + 'static) {
        self.cleanups.lock().unwrap().push(Box::pin(cleanup));
    }
}

impl<R: ContainerRuntime + Clone + 'static> Drop for TestPod<R> {
    fn drop(&mut self) {
        let runtime = self.runtime.clone();
        let uid = self.uid.clone();
        let cleanups = std::mem::take(&mut *self.cleanups.lock().unwrap());
        let _ = std::fs::remove_dir_all(&self.logs);
        block_on_thread(async move {
            remove_pod(&runtime, &uid).await;
            for cleanup in cleanups {
                cleanup.await;
            }
        });
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` naming
/// `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A hostPort for this test process: `base` plus an offset from the pid (0 to 899), so two
/// runs of a suite at once (a developer's and CI's) do not fight over one port.
pub fn host_port(base: u16) -> u16 {
    base + (std::process::id() % 900) as u16
}

/// A plain HTTP/1.0 `GET /` on 127.0.0.1:`port`; the whole response as text.
pub fn http_get(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The sandboxes of the pod with `uid`; panics when the runtime cannot list them.
pub async fn sandboxes_of(runtime: &dyn ContainerRuntime, uid: &str) -> Vec<SandboxInfo> {
    let all = runtime.list_sandboxes().await.expect("list sandboxes");
    all.into_iter()
        .filter(|s| has_uid(&s.labels, uid))
        .collect()
}

/// The containers of the pod with `uid`; panics when the runtime cannot list them.
pub async fn containers_of(runtime: &dyn ContainerRuntime, uid: &str) -> Vec<ContainerInfo> {
    let all = runtime.list_containers().await.expect("list containers");
    all.into_iter()
        .filter(|c| has_uid(&c.labels, uid))
        .collect()
}

/// Removes every container, then every sandbox, of the pod with `uid`, as far as the runtime
/// lets it: cleanup after a test, pass or fail, that touches nothing else.
pub async fn remove_pod(runtime: &dyn ContainerRuntime, uid: &str) {
    if let Ok(containers) = runtime.list_containers().await {
        for c in containers.iter().filter(|c| has_uid(&c.labels, uid)) {
            let _ = runtime.remove_container(&c.id).await;
        }
    }
    if let Ok(sandboxes) = runtime.list_sandboxes().await {
        for s in sandboxes.iter().filter(|s| has_uid(&s.labels, uid)) {
            let _ = runtime.remove_sandbox(&s.id).await;
        }
    }
}

/// Runs `cleanup` to its end on a runtime of its own in a thread of its own: a `Drop` cannot
/// await, and may run inside the test's runtime, where blocking on it is not allowed.
pub fn block_on_thread(cleanup: impl Future<Output = ()> + Send + 'static) {
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cleanup runtime")
            .block_on(cleanup);
    });
    let _ = thread.join();
}

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
    runtime
        .ensure_image(present, PullPolicy::IfNotPresent)
        .await
        .expect("present");
    runtime
        .ensure_image(present, PullPolicy::Never)
        .await
        .expect("present, no pull needed");

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

fn has_uid(labels: &BTreeMap<String, String>, uid: &str) -> bool {
    labels.get(POD_UID).is_some_and(|value| value == uid)
}
