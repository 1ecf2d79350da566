//! The `ContainerRuntime` trait against a real Podman service: pods with published hostPorts,
//! containers in them, listing, exit codes, the Kubernetes command/args rule, security
//! settings, host network, the event feed, logs, images, and cleanup.
//!
//! The tests that need Podman are ignored by plain `cargo test`; `cargo xtask test` brings the
//! service up, loads the test images (`registry.k8s.io/pause:3.9`, `nginx:1.25`,
//! `busybox:1.36`) and runs them with `STATICPOD_TEST_PODMAN_ENDPOINT` set. Each test uses its
//! own pod UID, names and hostPorts, and a node label no agent runs as, and removes only what
//! it created, so they run concurrently beside anything else on the service.

use std::time::Duration;

use podman_api::Podman;
use podman_api::opts::PodCreateOpts;
use staticpod_backend_podman::PodmanRuntime;
use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::labels::CONTAINER_NAME;
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LogRotation};
use staticpod_runtime::naming;
use staticpod_runtime::{
    ContainerConfig, ContainerRuntime, ContainerState, PortMapping, Protocol, ResourceConfig,
    RuntimeError, SandboxConfig, SecurityConfig,
};
use staticpod_testkit::{TestPod, cases, eventually, host_port, http_get};

const ENDPOINT_VAR: &str = "STATICPOD_TEST_PODMAN_ENDPOINT";
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.9";
const WEB_IMAGE: &str = "nginx:1.25";
const BUSYBOX_IMAGE: &str = "busybox:1.36";

fn endpoint() -> Endpoint {
    let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: run these tests through `cargo xtask test`, or set it \
             to a running Podman service's endpoint (the last line of \
             `cargo xtask runtime up podman`)"
        )
    });
    endpoint
        .parse()
        .unwrap_or_else(|err| panic!("{ENDPOINT_VAR}: {err}"))
}

async fn runtime() -> PodmanRuntime {
    let endpoint = endpoint();
    PodmanRuntime::connect(&endpoint, PAUSE_IMAGE.to_owned(), None)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to Podman at {endpoint}: {err:?}"))
}

/// A bare podman-api client for the checks the trait does not cover (names, foreign pods).
fn podman() -> Podman {
    Podman::new(endpoint().to_string()).expect("a unix endpoint")
}

/// The pod of test `test`, removed with all it holds when dropped.
async fn test_pod(test: &str) -> TestPod<PodmanRuntime> {
    TestPod::new(runtime().await, "backend-podman-test", test)
}

/// Runs `command` in a busybox container of a fresh pod and waits for its exit.
async fn run_to_exit(pod: &TestPod<PodmanRuntime>, config: ContainerConfig) -> ContainerState {
    let rt = &pod.runtime;
    let (_, id) = cases::start_pod(rt, &pod.sandbox(vec![]), &config).await;
    eventually(Duration::from_secs(20), "the exit", || async {
        let containers = pod.containers().await;
        let state = containers.iter().find(|c| c.id == id)?.state;
        matches!(state, ContainerState::Exited { .. }).then_some(state)
    })
    .await
}

#[tokio::test]
async fn connecting_to_a_missing_socket_is_unavailable() {
    let endpoint = "unix:///nonexistent/staticpod-test/podman.sock";
    let err = PodmanRuntime::connect(&endpoint.parse().unwrap(), PAUSE_IMAGE.into(), None)
        .await
        .expect_err("no service there");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains(endpoint), "{err}");
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn version_reports_the_libpod_api() {
    let version = runtime().await.version().await.unwrap();
    assert_eq!(version.runtime_name, "podman");
    assert!(version.runtime_version.starts_with("4."), "{version:?}");
    // libpod's own API version, not the Docker-compatible one ("1.41").
    assert!(version.api_version.starts_with("4."), "{version:?}");
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn web_pod_serves_on_its_host_port_then_goes_away() {
    let pod = test_pod("web_pod").await;
    let rt = &pod.runtime;
    let host_port = host_port(24080);
    let sandbox = pod.sandbox(vec![PortMapping {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_port,
        host_ip: String::new(),
    }]);

    let web = pod.container("web", WEB_IMAGE, &[]);
    let (sandbox_id, web_id) = cases::start_pod(rt, &sandbox, &web).await;

    // A native pod with the kubelet's names: `podman pod ps` and `podman ps --pod` read well.
    let podman = podman();
    let inspected = podman
        .pods()
        .get(naming::sandbox_name(&sandbox))
        .inspect()
        .await
        .expect("pod found by its kubelet name");
    assert_eq!(inspected.id.as_deref(), Some(sandbox_id.as_str()));
    assert_eq!(inspected.hostname.as_deref(), Some("sptest"));
    let inspected = podman
        .containers()
        .get(naming::container_name(&web, &sandbox))
        .inspect()
        .await
        .expect("container found by its kubelet name");
    assert_eq!(inspected.id.as_deref(), Some(web_id.as_str()));
    assert_eq!(inspected.pod.as_deref(), Some(sandbox_id.as_str()));

    // The infra container carries the pod's labels but is not listed as a container.
    let (_, web_listed) = cases::listed_running(rt, &sandbox, &sandbox_id, &web_id).await;
    assert!(web_listed.image.ends_with(WEB_IMAGE), "{web_listed:?}");
    assert_eq!(web_listed.labels[CONTAINER_NAME], "web");

    let page = eventually(
        Duration::from_secs(10),
        "the page on the hostPort",
        || async { http_get(host_port).ok().filter(|r| r.contains("200")) },
    )
    .await;
    assert!(page.contains("nginx"), "{page}");

    cases::stop_then_remove(rt, &sandbox, &sandbox_id, &web_id).await;
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn logs_are_read_as_kubectl_reads_them() {
    let pod = test_pod("logs").await;
    let sandbox = pod.sandbox(vec![]);
    cases::logs_read_as_kubectl_does(&pod.runtime, &sandbox, BUSYBOX_IMAGE).await;
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn exit_code_is_reported_and_the_watch_yields() {
    let pod = test_pod("exit_code").await;
    let sandbox = pod.sandbox(vec![]);
    let config = cases::exit_is_reported_and_watched(&pod.runtime, &sandbox, BUSYBOX_IMAGE).await;

    // The log is where the kubelet keeps it, in the CRI format.
    let log = std::fs::read_to_string(pod.logs.join(&config.log_path)).expect("the log file");
    assert!(log.contains(" stdout F hello"), "{log}");
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn command_without_args_drops_the_images_cmd() {
    let pod = test_pod("command_only").await;
    // nginx:1.25's cmd has five words after `httpd`; appended to `sh -c 'exit $#'` they would
    // make it exit 5. Kubernetes drops the image's cmd when `command` is given.
    let config = pod.container("count", WEB_IMAGE, &["sh", "-c", "exit $#"]);
    let state = run_to_exit(&pod, config).await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "{state:?}"
    );

    // With args only, the image's entrypoint (`/docker-entrypoint.sh`) stays.
    let pod = test_pod("args_only").await;
    let mut config = pod.container("args", WEB_IMAGE, &[]);
    config.args = vec!["sh".into(), "-c".into(), "exit 7".into()];
    let state = run_to_exit(&pod, config).await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 7, .. }),
        "{state:?}"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn settings_reach_the_container() {
    let pod = test_pod("settings").await;
    let data = pod.logs.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in"), "from the host").unwrap();
    let mut config = pod.container(
        "settings",
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            // Each check failing sets one bit of the exit code.
            "code=0; \
             [ \"$(cat /data/in)\" = 'from the host' ] || code=$((code|1)); \
             [ \"$(pwd)\" = /work/new ] || code=$((code|2)); \
             [ \"$GREETING\" = hello ] || code=$((code|4)); \
             [ \"$(id -u):$(id -g)\" = 1000:3000 ] || code=$((code|8)); \
             grep NoNewPrivs /proc/self/status | grep -q 1 || code=$((code|16)); \
             touch /rootfs-file 2>/dev/null && code=$((code|32)); \
             echo out > /data/out || code=$((code|64)); \
             exit $code",
        ],
    );
    config.working_dir = Some("/work/new".into());
    config.mounts = vec![staticpod_runtime::Mount {
        host_path: data.clone(),
        container_path: "/data".into(),
        read_only: false,
        propagation: Default::default(),
    }];
    config.security = SecurityConfig {
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        read_only_root_filesystem: true,
        allow_privilege_escalation: false,
        ..Default::default()
    };
    // Writable by uid 1000.
    std::process::Command::new("chmod")
        .args(["0777"])
        .arg(&data)
        .status()
        .unwrap();
    let state = run_to_exit(&pod, config).await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "failed checks are the bits of the exit code: {state:?}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("out")).unwrap().trim(),
        "out"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn limits_reach_the_containers_cgroup() {
    let pod = test_pod("limits").await;
    let mut config = pod.container(
        "limits",
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            // cgroup v1 (this machine's hybrid layout) or v2.
            "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                   || cat /sys/fs/cgroup/memory.max); \
             quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null \
                   || cut -d' ' -f1 /sys/fs/cgroup/cpu.max); \
             [ \"$mem\" = 67108864 ] || exit 1; [ \"$quota\" = 50000 ] || exit 2",
        ],
    );
    config.resources = ResourceConfig {
        cpu_limit_millis: Some(500),
        cpu_request_millis: Some(250),
        memory_limit_bytes: Some(64 * 1024 * 1024),
        ..Default::default()
    };
    let state = run_to_exit(&pod, config).await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "1: memory limit, 2: CPU quota: {state:?}"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn a_privileged_container_runs_in_an_ordinary_pod() {
    let pod = test_pod("privileged").await;
    // Privileged, it sees the node's devices, far more than a container's dozen or so.
    let mut config = pod.container(
        "privileged",
        BUSYBOX_IMAGE,
        &["sh", "-c", "[ $(ls /dev | wc -l) -gt 30 ]"],
    );
    config.security.privileged = true;
    let state = run_to_exit(&pod, config).await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "{state:?}"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn container_that_cannot_start_reads_as_created() {
    let pod = test_pod("cannot_start").await;
    let rt = &pod.runtime;
    let sandbox = pod.sandbox(vec![]);
    let sandbox_id = rt.run_sandbox(&sandbox).await.expect("run sandbox");
    let config = pod.container("broken", BUSYBOX_IMAGE, &["/no/such/program"]);
    let id = rt
        .create_container(&sandbox_id, &config, &sandbox)
        .await
        .expect("create");
    let containers = pod.containers().await;
    assert_eq!(containers[0].state, ContainerState::Created);

    let err = rt.start_container(&id).await.expect_err("no such program");
    assert!(matches!(err, RuntimeError::Failed { .. }), "{err:?}");
    assert!(
        format!("{:?}", err).contains("/no/such/program"),
        "the cause names the program: {err:?}"
    );
    // libpod keeps it "created": the planner reads that as a failed start.
    let containers = pod.containers().await;
    assert_eq!(containers[0].state, ContainerState::Created);
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn host_network_pod_has_no_ip_of_its_own() {
    let pod = test_pod("host_network").await;
    let rt = &pod.runtime;
    let mut sandbox = pod.sandbox(vec![]);
    sandbox.host_network = true;
    sandbox.hostname = String::new();
    let port = host_port(25080);
    let sandbox_id =
        cases::host_network_pod_serves_on_the_node(rt, &sandbox, WEB_IMAGE, port).await;

    // And sees the node's hostname, as on a kubelet node.
    let mut config = pod.container("hostname", BUSYBOX_IMAGE, &["sh", "-c"]);
    config.args = vec!["[ \"$(hostname)\" = \"$NODE_HOSTNAME\" ]".into()];
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    config
        .env
        .push(("NODE_HOSTNAME".into(), node.trim().to_owned()));
    let id = rt
        .create_container(&sandbox_id, &config, &sandbox)
        .await
        .expect("create");
    rt.start_container(&id).await.expect("start");
    let state = eventually(Duration::from_secs(10), "the hostname check", || async {
        let containers = pod.containers().await;
        let state = containers.iter().find(|c| c.id == id)?.state;
        matches!(state, ContainerState::Exited { .. }).then_some(state)
    })
    .await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "{state:?}"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn a_leftover_of_ours_is_replaced_but_a_foreign_pod_is_not() {
    let pod = test_pod("leftover").await;
    let rt = &pod.runtime;
    let sandbox = pod.sandbox(vec![]);
    let first = rt.run_sandbox(&sandbox).await.expect("first sandbox");
    let second = rt
        .run_sandbox(&sandbox)
        .await
        .expect("the leftover holding the name is replaced");
    assert_ne!(first, second);
    let ids: Vec<String> = pod.sandboxes().await.into_iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![second.clone()]);

    // The same for a container.
    let config = pod.container("c", BUSYBOX_IMAGE, &["sleep", "60"]);
    let c1 = rt
        .create_container(&second, &config, &sandbox)
        .await
        .expect("create");
    let c2 = rt
        .create_container(&second, &config, &sandbox)
        .await
        .expect("the leftover container is replaced");
    assert_ne!(c1, c2);
    let ids: Vec<String> = pod.containers().await.into_iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![c2]);

    // A pod we did not create holds the next attempt's name: refuse, touch nothing.
    let mut next = sandbox.clone();
    next.attempt = 1;
    let podman = podman();
    let name = naming::sandbox_name(&next);
    podman
        .pods()
        .create(
            &PodCreateOpts::builder()
                .name(&name)
                .infra_image(PAUSE_IMAGE)
                .build(),
        )
        .await
        .expect("create the foreign pod");
    let foreign = name.clone();
    // A client of its own: the cleanup runs on a runtime of its own.
    pod.on_drop(async move {
        let _ = crate::podman().pods().get(&foreign).remove().await;
    });
    let err = rt.run_sandbox(&next).await.expect_err("name taken");
    assert!(matches!(err, RuntimeError::Rejected { .. }), "{err:?}");
    assert!(
        podman.pods().get(&name).exists().await.unwrap(),
        "the foreign pod was touched"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn a_taken_host_port_is_refused_and_leaves_nothing_behind() {
    let first = test_pod("port_first").await;
    let second = test_pod("port_second").await;
    let mapping = PortMapping {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_port: host_port(26080),
        host_ip: String::new(),
    };
    first
        .runtime
        .run_sandbox(&first.sandbox(vec![mapping.clone()]))
        .await
        .expect("the first pod takes the port");
    let err = second
        .runtime
        .run_sandbox(&second.sandbox(vec![mapping]))
        .await
        .expect_err("the port is taken");
    assert!(matches!(err, RuntimeError::Rejected { .. }), "{err:?}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("address already in use"), "{cause}");
    assert!(
        second.sandboxes().await.is_empty(),
        "the pod that could not start was removed"
    );
}

#[tokio::test]
#[ignore = "needs podman: run through cargo xtask test"]
async fn ensure_image_by_policy() {
    cases::ensure_image_by_policy(&runtime().await, BUSYBOX_IMAGE).await;
}

/// The shared case (`staticpod_testkit::log_rotation`) on Podman, rotating at the kubelet's
/// defaults: conmon writes the file, the agent rotates it and has conmon reopen it, and
/// reads it itself (libpod's follow skipped the lines of the rotated files it had not read
/// yet: lines 49 333 to 428 831 of this case, before `log_files` read Podman's logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs podman: run through cargo xtask test"]
async fn a_verbose_containers_log_is_rotated_within_max_size_and_max_files() {
    let logs = tempfile::tempdir().unwrap();
    let rotation = LogRotation {
        directory: logs.path().to_owned(),
        max_size: DEFAULT_MAX_SIZE,
        max_files: DEFAULT_MAX_FILES,
    };
    let runtime = PodmanRuntime::connect(&endpoint(), PAUSE_IMAGE.to_owned(), Some(rotation))
        .await
        .unwrap();
    let pod = TestPod::new(runtime, "backend-podman-test", "rotation");
    let sandbox = SandboxConfig {
        log_directory: logs.path().join("pod"),
        ..pod.sandbox(vec![])
    };
    std::fs::create_dir_all(&sandbox.log_directory).unwrap();
    staticpod_testkit::log_rotation::a_verbose_containers_log_is_rotated_within_max_size_and_max_files(
        &pod.runtime,
        &sandbox,
        BUSYBOX_IMAGE,
    )
    .await;
}
