//! The `ContainerRuntime` trait against a real containerd through CRI. Each test needs the
//! endpoint of a containerd with the CRI plugin and the offline test images (`nginx:1.25`,
//! `busybox:1.36`, the pause image) in env `STATICPOD_TEST_CRI_ENDPOINT`: run them through
//! `cargo xtask test`, or by hand with `cargo test -p staticpod-backend-cri -- --ignored`.
//! Every test creates objects with its own pod uid and removes them on drop, pass or fail.
//! Besides the trait's calls: the CRI log files, their reading, and their rotation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use staticpod_backend_cri::CriRuntime;
use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::labels;
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LogRotation};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, PortMapping, Protocol,
    PullPolicy, RuntimeError, SandboxConfig, SandboxInfo, SandboxState, SecurityConfig,
};
use staticpod_testkit::{cases, eventually, http_get};

const ENDPOINT_VAR: &str = "STATICPOD_TEST_CRI_ENDPOINT";

fn endpoint() -> Endpoint {
    let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: it must name the socket of a containerd with the CRI \
             plugin and the test images (`cargo xtask runtime up containerd` prints it)"
        )
    });
    endpoint
        .parse()
        .unwrap_or_else(|err| panic!("{ENDPOINT_VAR}: {err}"))
}

/// A hostPort for this run: 21080-21479, away from the Docker backend's 18080+ and 19080+
/// ranges, and different per test process so parallel runs do not collide.
fn host_port(offset: u16) -> u16 {
    21080 + (std::process::id() % 200) as u16 * 2 + offset
}

/// Connects and registers what the test creates, removing it all on drop, and whatever else
/// carries its pod uid (what the shared cases create). The removal reconnects: the
/// runtime's channel is served by a task of the test's runtime, which the drop blocks.
struct Fixture {
    runtime: CriRuntime,
    endpoint: Endpoint,
    uid: String,
    logs: tempfile::TempDir,
    sandboxes: Mutex<Vec<String>>,
    containers: Mutex<Vec<String>>,
}

impl Fixture {
    async fn new(test: &str) -> Self {
        let endpoint = endpoint();
        let runtime = CriRuntime::connect(&endpoint, None)
            .await
            .unwrap_or_else(|err| panic!("cannot reach containerd at {endpoint}: {err:?}"));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Fixture {
            runtime,
            endpoint,
            uid: format!("{test}-{}-{nanos}", std::process::id()),
            logs: tempfile::tempdir().unwrap(),
            sandboxes: Mutex::new(Vec::new()),
            containers: Mutex::new(Vec::new()),
        }
    }

    /// The sandbox of pod `name`, its logs under the fixture's directory. CRI keeps
    /// annotations apart from labels, so it carries two, to see them merged when listed.
    fn sandbox_config(&self, name: &str, host_port: Option<u16>) -> SandboxConfig {
        let node = staticpod_testkit::test_node("backend-cri-test");
        let pod = staticpod_testkit::sandbox_config(name, &node, &self.uid);
        let log_directory = self.logs.path().join(&pod.name);
        std::fs::create_dir_all(&log_directory).unwrap();
        SandboxConfig {
            port_mappings: host_port
                .map(|host_port| PortMapping {
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port,
                    host_ip: String::new(),
                })
                .into_iter()
                .collect(),
            annotations: BTreeMap::from([
                (labels::CONFIG_HASH.into(), "hash-1".into()),
                (labels::SANDBOX_ATTEMPT.into(), "0".into()),
            ]),
            log_directory,
            ..pod
        }
    }

    /// Container `name` of `sandbox`, with CRI's default security settings and two
    /// annotations, to see them merged when listed.
    fn container_config(
        &self,
        name: &str,
        image: &str,
        command: &[&str],
        sandbox: &SandboxConfig,
    ) -> ContainerConfig {
        ContainerConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            env: vec![("GREETING".into(), "hello".into())],
            security: SecurityConfig::default(),
            annotations: BTreeMap::from([
                (labels::CONTAINER_HASH.into(), "c0ffee".into()),
                (labels::CONTAINER_RESTART_COUNT.into(), "0".into()),
            ]),
            ..staticpod_testkit::container_config(name, image, sandbox)
        }
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> String {
        let id = self.runtime.run_sandbox(config).await.unwrap();
        self.sandboxes.lock().unwrap().push(id.clone());
        id
    }

    async fn start_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> String {
        self.runtime
            .ensure_image(&config.image, PullPolicy::IfNotPresent)
            .await
            .unwrap();
        let id = self
            .runtime
            .create_container(sandbox_id, config, sandbox)
            .await
            .unwrap();
        self.containers.lock().unwrap().push(id.clone());
        self.runtime.start_container(&id).await.unwrap();
        id
    }

    async fn container(&self, id: &str) -> Option<ContainerInfo> {
        let all = self.runtime.list_containers().await.unwrap();
        all.into_iter().find(|c| c.id == id)
    }

    async fn sandbox(&self, id: &str) -> Option<SandboxInfo> {
        let all = self.runtime.list_sandboxes().await.unwrap();
        all.into_iter().find(|s| s.id == id)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let endpoint = self.endpoint.clone();
        let uid = self.uid.clone();
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        let sandboxes = std::mem::take(&mut *self.sandboxes.lock().unwrap());
        staticpod_testkit::block_on_thread(async move {
            let Ok(runtime) = CriRuntime::connect(&endpoint, None).await else {
                return;
            };
            for id in &containers {
                let _ = runtime.stop_container(id, Duration::ZERO).await;
                let _ = runtime.remove_container(id).await;
            }
            for id in &sandboxes {
                let _ = runtime.stop_sandbox(id).await;
                let _ = runtime.remove_sandbox(id).await;
            }
            staticpod_testkit::remove_pod(&runtime, &uid).await;
        });
    }
}

fn read_log(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().filter(|s| !s.is_empty())
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn pod_with_host_port_serves_http_and_is_listed_with_its_labels() {
    let fx = Fixture::new("web").await;
    let port = host_port(0);
    let sandbox = fx.sandbox_config("static-web", Some(port));
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let web = fx.container_config("web", "nginx:1.25", &[], &sandbox);
    let container_id = fx.start_container(&sandbox_id, &web, &sandbox).await;

    let listed = fx.sandbox(&sandbox_id).await.expect("sandbox listed");
    assert_eq!(listed.state, SandboxState::Ready);
    assert!(listed.ip.is_some(), "own-network pod has an IP: {listed:?}");
    assert_eq!(listed.labels[labels::POD_UID], fx.uid);
    assert_eq!(listed.labels[labels::POD_NAME], sandbox.name);
    assert_eq!(
        listed.labels[labels::CONFIG_HASH],
        "hash-1",
        "annotation merged"
    );

    let info = fx.container(&container_id).await.expect("container listed");
    assert!(
        matches!(info.state, ContainerState::Running { started_at } if started_at > UNIX_EPOCH),
        "{info:?}"
    );
    assert_eq!(info.sandbox_id.as_deref(), Some(sandbox_id.as_str()));
    assert_eq!(info.image, "nginx:1.25");
    assert_eq!(info.labels[labels::CONTAINER_NAME], "web");
    assert_eq!(
        info.labels[labels::CONTAINER_HASH],
        "c0ffee",
        "annotation merged"
    );
    assert!(info.created_at > UNIX_EPOCH);

    let answer = eventually(
        Duration::from_secs(10),
        "HTTP answer on the hostPort",
        || std::future::ready(http_get(port).ok().filter(|answer| !answer.is_empty())),
    )
    .await;
    assert!(answer.starts_with("HTTP/1."), "{answer}");

    let log = sandbox.log_directory.join(&web.log_path);
    eventually(Duration::from_secs(5), "log file", || {
        std::future::ready(log.exists().then_some(()))
    })
    .await;
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn exit_code_and_cri_log_lines_are_reported() {
    let fx = Fixture::new("exit").await;
    let sandbox = fx.sandbox_config("exit", None);
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let job = fx.container_config(
        "job",
        "busybox:1.36",
        &["sh", "-c", "echo $GREETING; exit 3"],
        &sandbox,
    );
    let id = fx.start_container(&sandbox_id, &job, &sandbox).await;

    let state = eventually(Duration::from_secs(10), "exit", || async {
        fx.container(&id)
            .await
            .map(|c| c.state)
            .filter(|s| matches!(s, ContainerState::Exited { .. }))
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
    assert!(started_at > UNIX_EPOCH);
    assert!(finished_at >= started_at);

    // CRI log format: `<RFC 3339 time> <stream> <P|F> <text>`.
    let log = sandbox.log_directory.join("job/0.log");
    let text = eventually(Duration::from_secs(5), "log line", || {
        std::future::ready(read_log(&log))
    })
    .await;
    let line = text.lines().next().unwrap();
    let fields: Vec<&str> = line.splitn(4, ' ').collect();
    assert_eq!(fields[1..], ["stdout", "F", "hello"], "{line}");
    assert!(fields[0].contains('T') && fields[0].len() > 20, "{line}");
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn host_network_pod_runs_without_a_hostname() {
    let fx = Fixture::new("hostnet").await;
    let mut sandbox = fx.sandbox_config("hostnet", Some(host_port(1)));
    sandbox.host_network = true;
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let sleeper = fx.container_config("sleep", "busybox:1.36", &["sleep", "300"], &sandbox);
    let id = fx.start_container(&sandbox_id, &sleeper, &sandbox).await;

    let listed = fx.sandbox(&sandbox_id).await.expect("sandbox listed");
    assert_eq!(listed.state, SandboxState::Ready);
    let info = fx.container(&id).await.expect("container listed");
    assert!(
        matches!(info.state, ContainerState::Running { .. }),
        "{info:?}"
    );
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn stopped_and_removed_objects_vanish_and_removal_is_idempotent() {
    let fx = Fixture::new("remove").await;
    let sandbox = fx.sandbox_config("remove", None);
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let sleeper = fx.container_config("sleep", "busybox:1.36", &["sleep", "300"], &sandbox);
    let id = fx.start_container(&sandbox_id, &sleeper, &sandbox).await;

    // `sleep` as PID 1 ignores SIGTERM: a zero grace kills it at once.
    fx.runtime
        .stop_container(&id, Duration::ZERO)
        .await
        .unwrap();
    let info = fx.container(&id).await.expect("stopped container listed");
    assert!(
        matches!(info.state, ContainerState::Exited { .. }),
        "{info:?}"
    );
    fx.runtime.remove_container(&id).await.unwrap();
    assert!(fx.container(&id).await.is_none());

    fx.runtime.stop_sandbox(&sandbox_id).await.unwrap();
    let listed = fx
        .sandbox(&sandbox_id)
        .await
        .expect("stopped sandbox listed");
    assert_eq!(listed.state, SandboxState::NotReady);
    fx.runtime.remove_sandbox(&sandbox_id).await.unwrap();
    assert!(fx.sandbox(&sandbox_id).await.is_none());

    // Idempotent: a second time, on what is gone, is fine.
    fx.runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    fx.runtime.remove_container(&id).await.unwrap();
    fx.runtime.stop_sandbox(&sandbox_id).await.unwrap();
    fx.runtime.remove_sandbox(&sandbox_id).await.unwrap();

    // Starting what is gone is an error the reconciler can recognise.
    let err = fx.runtime.start_container(&id).await.unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::NotFound {
                kind: "container",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn images_resolve_short_names_and_never_does_not_pull() {
    let fx = Fixture::new("images").await;
    fx.runtime
        .ensure_image("nginx:1.25", PullPolicy::Never)
        .await
        .expect("nginx:1.25 resolves to docker.io/library/nginx:1.25");
    fx.runtime
        .ensure_image("busybox:1.36", PullPolicy::IfNotPresent)
        .await
        .unwrap();

    let err = fx
        .runtime
        .ensure_image("staticpod-test/absent:0", PullPolicy::Never)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::ImagePull { image, .. } if image == "staticpod-test/absent:0"),
        "{err:?}"
    );
    let reason = std::error::Error::source(&err).unwrap().to_string();
    assert!(reason.contains("Never"), "{reason}");

    // No registry is reachable: the pull fails, as an image error, not a dead runtime.
    let err = fx
        .runtime
        .ensure_image("registry.invalid/absent:0", PullPolicy::IfNotPresent)
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ImagePull { .. }), "{err:?}");
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn an_exit_is_seen_through_the_runtimes_events() {
    let fx = Fixture::new("watch").await;
    let version = fx.runtime.version().await.unwrap();
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.api_version, "v1");

    let mut rx = fx.runtime.watch().await.unwrap();
    let sandbox = fx.sandbox_config("watch", None);
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let job = fx.container_config(
        "job",
        "busybox:1.36",
        &["sh", "-c", "sleep 3; exit 3"],
        &sandbox,
    );
    let id = fx.start_container(&sandbox_id, &job, &sandbox).await;

    // The starts nudge (containerd 1.6: at once and a second after the last); then the feed
    // is quiet, which a relist every second would not be.
    let quiet = Duration::from_millis(1500);
    let mut nudges = 0;
    while tokio::time::timeout(quiet, rx.recv()).await.is_ok() {
        nudges += 1;
        assert!(nudges < 10, "the feed nudges while nothing changes");
    }
    assert!(nudges > 0, "the starts nudged");
    let running = fx.container(&id).await.expect("listed");
    assert!(
        matches!(running.state, ContainerState::Running { .. }),
        "{running:?}"
    );

    // The exit nudges, and a relist at one of its nudges sees it.
    let exited = async {
        loop {
            rx.recv().await.expect("the feed stays open");
            let listed = fx.container(&id).await.map(|c| c.state);
            if let Some(ContainerState::Exited { exit_code, .. }) = listed {
                break exit_code;
            }
        }
    };
    let exit_code = tokio::time::timeout(Duration::from_secs(20), exited)
        .await
        .expect("a nudge after the exit lists it exited");
    assert_eq!(exit_code, 3);
}

#[tokio::test]
async fn missing_socket_is_one_unavailable_error() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::Unix(dir.path().join("absent.sock"));
    let err = CriRuntime::connect(&endpoint, None).await.unwrap_err();
    match &err {
        RuntimeError::Unavailable { endpoint: e, .. } => assert_eq!(e, &endpoint.to_string()),
        other => panic!("{other:?}"),
    }
    let reason = std::error::Error::source(&err).unwrap().to_string();
    assert!(reason.contains("Version"), "{reason}");
}

#[tokio::test]
async fn a_socket_that_is_not_cri_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-cri.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    // Speaks HTTP/1 and hangs up, as a non-gRPC daemon would.
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = conn
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let err = CriRuntime::connect(&Endpoint::Unix(path), None)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn env_working_dir_mounts_and_limits_reach_the_process() {
    let fx = Fixture::new("settings").await;
    let data = fx.logs.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("file"), "from-the-host\n").unwrap();
    let sandbox = fx.sandbox_config("settings", None);
    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let mut job = fx.container_config(
        "job",
        "busybox:1.36",
        &[
            "sh",
            "-c",
            "echo env=$GREETING; echo pwd=$(pwd); cat /data/file; \
             echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us); \
             echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
             touch /data/written 2>/dev/null && echo rw || echo ro",
        ],
        &sandbox,
    );
    job.working_dir = Some("/tmp".into());
    job.mounts = vec![staticpod_runtime::Mount {
        host_path: data.clone(),
        container_path: "/data".into(),
        read_only: true,
        propagation: Default::default(),
    }];
    job.resources = staticpod_runtime::ResourceConfig {
        cpu_limit_millis: Some(500),
        cpu_request_millis: Some(250),
        memory_limit_bytes: Some(64 * 1024 * 1024),
        ..Default::default()
    };
    let id = fx.start_container(&sandbox_id, &job, &sandbox).await;
    eventually(Duration::from_secs(10), "exit", || async {
        fx.container(&id)
            .await
            .filter(|c| matches!(c.state, ContainerState::Exited { exit_code: 0, .. }))
    })
    .await;

    let text = read_log(&sandbox.log_directory.join("job/0.log")).expect("log written");
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.splitn(4, ' ').nth(3).unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        [
            "env=hello",
            "pwd=/tmp",
            "from-the-host",
            "quota=50000",
            "mem=67108864",
            "ro"
        ],
        "{text}"
    );
    assert!(!data.join("written").exists());
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn creation_errors_say_what_is_missing_or_taken() {
    let fx = Fixture::new("conflict").await;
    let sandbox = fx.sandbox_config("conflict", None);
    let sleeper = fx.container_config("sleep", "busybox:1.36", &["sleep", "300"], &sandbox);

    let err = fx
        .runtime
        .create_container("no-such-sandbox", &sleeper, &sandbox)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::NotFound { kind: "sandbox", id } if id == "no-such-sandbox"),
        "{err:?}"
    );

    let sandbox_id = fx.run_sandbox(&sandbox).await;
    let mut absent = sleeper.clone();
    absent.image = "staticpod-test/absent:0".into();
    let err = fx
        .runtime
        .create_container(&sandbox_id, &absent, &sandbox)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::NotFound { kind: "image", id } if id == "staticpod-test/absent:0"),
        "{err:?}"
    );

    fx.start_container(&sandbox_id, &sleeper, &sandbox).await;
    // Same name and attempt in the same pod: containerd reserves the name.
    let err = fx
        .runtime
        .create_container(&sandbox_id, &sleeper, &sandbox)
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Rejected { .. }), "{err:?}");
}

#[tokio::test]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn logs_are_read_as_kubectl_reads_them() {
    let fx = Fixture::new("logs").await;
    let sandbox = fx.sandbox_config("logs", None);
    cases::logs_read_as_kubectl_does(&fx.runtime, &sandbox, "busybox:1.36").await;
}

/// The shared case (`staticpod_testkit::log_rotation`) on containerd, rotating at the
/// kubelet's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs containerd: run through cargo xtask test"]
async fn a_verbose_containers_log_is_rotated_within_max_size_and_max_files() {
    let fx = Fixture::new("rotation").await;
    let rotation = LogRotation {
        directory: fx.logs.path().to_owned(),
        max_size: DEFAULT_MAX_SIZE,
        max_files: DEFAULT_MAX_FILES,
    };
    let runtime = CriRuntime::connect(&endpoint(), Some(rotation))
        .await
        .unwrap();
    let sandbox = fx.sandbox_config("rotation", None);
    staticpod_testkit::log_rotation::a_verbose_containers_log_is_rotated_within_max_size_and_max_files(
        &runtime,
        &sandbox,
        "busybox:1.36",
    )
    .await;
}
