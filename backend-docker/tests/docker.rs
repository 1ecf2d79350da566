//! The `ContainerRuntime` trait against a real dockerd: sandboxes with published hostPorts,
//! containers joined to them, listing, exit codes, the event feed, logs, images, and cleanup.
//!
//! The tests that need a daemon are ignored by plain `cargo test`; `cargo xtask test` brings
//! Docker up, loads the test images (`registry.k8s.io/pause:3.9`, `nginx:1.25`,
//! `busybox:1.36`) and runs them with `STATICPOD_TEST_DOCKER_ENDPOINT` set. Each test uses
//! its own pod UID, names and hostPorts, and removes only what it created, so they run
//! concurrently beside anything else on the daemon.

use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use staticpod_backend_docker::DockerRuntime;
use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::labels::CONTAINER_NAME;
use staticpod_runtime::naming;
use staticpod_runtime::{ContainerRuntime, ContainerState, PortMapping, Protocol, RuntimeError};
use staticpod_testkit::{TestPod, cases, eventually, host_port, http_get};

const ENDPOINT_VAR: &str = "STATICPOD_TEST_DOCKER_ENDPOINT";
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.9";
const WEB_IMAGE: &str = "nginx:1.25";
const BUSYBOX_IMAGE: &str = "busybox:1.36";

fn endpoint() -> Endpoint {
    let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: run these tests through `cargo xtask test`, or set it \
             to a running Docker's endpoint (e.g. unix:///var/run/docker.sock)"
        )
    });
    endpoint
        .parse()
        .unwrap_or_else(|err| panic!("{ENDPOINT_VAR}: {err}"))
}

async fn runtime() -> DockerRuntime {
    let endpoint = endpoint();
    DockerRuntime::connect(&endpoint, PAUSE_IMAGE.to_owned())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to Docker at {endpoint}: {err:?}"))
}

/// The pod of test `test`, removed with all it holds when dropped.
async fn test_pod(test: &str) -> TestPod<DockerRuntime> {
    TestPod::new(runtime().await, "backend-docker-test", test)
}

/// A bare Docker client for the few checks the trait does not cover (names, foreign
/// containers).
async fn bollard() -> bollard::Docker {
    let Endpoint::Unix(path) = endpoint() else {
        panic!("{ENDPOINT_VAR}: these checks need Docker's unix socket");
    };
    bollard::Docker::connect_with_unix(&path.to_string_lossy(), 60, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

#[tokio::test]
async fn connecting_to_a_missing_socket_is_unavailable() {
    let endpoint = "unix:///nonexistent/staticpod-test/docker.sock";
    let err = DockerRuntime::connect(&endpoint.parse().unwrap(), PAUSE_IMAGE.into())
        .await
        .expect_err("no daemon there");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains(endpoint), "{err}");
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn version_reports_the_negotiated_api() {
    let version = runtime().await.version().await.unwrap();
    assert_eq!(version.runtime_name, "docker");
    assert!(!version.runtime_version.is_empty());
    assert!(version.api_version.starts_with("1."), "{version:?}");
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn web_pod_serves_on_its_host_port_then_goes_away() {
    let pod = test_pod("web_pod").await;
    let rt = &pod.runtime;
    let host_port = host_port(18080);
    let sandbox = pod.sandbox(vec![PortMapping {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_port,
        host_ip: String::new(),
    }]);

    let web = pod.container("web", WEB_IMAGE, &[]);
    let (sandbox_id, web_id) = cases::start_pod(rt, &sandbox, &web).await;

    // Names as the kubelet's Docker integration wrote them.
    let docker = bollard().await;
    let inspected = docker
        .inspect_container(&naming::container_name(&web, &sandbox), None)
        .await
        .expect("container found by its kubelet name");
    assert_eq!(inspected.id.as_deref(), Some(web_id.as_str()));
    let inspected = docker
        .inspect_container(&naming::sandbox_name(&sandbox), None)
        .await
        .expect("sandbox found by its kubelet name");
    assert_eq!(inspected.id.as_deref(), Some(sandbox_id.as_str()));

    let (sandbox_listed, web_listed) =
        cases::listed_running(rt, &sandbox, &sandbox_id, &web_id).await;
    assert_eq!(
        sandbox_listed.labels["io.kubernetes.docker.type"],
        "podsandbox"
    );
    assert_eq!(sandbox_listed.labels[CONTAINER_NAME], "POD");
    assert_eq!(web_listed.image, WEB_IMAGE);
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
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn exit_code_is_reported_and_the_watch_yields() {
    let pod = test_pod("exit_code").await;
    let sandbox = pod.sandbox(vec![]);
    cases::exit_is_reported_and_watched(&pod.runtime, &sandbox, BUSYBOX_IMAGE).await;
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn logs_are_read_as_kubectl_reads_them() {
    let pod = test_pod("logs").await;
    let sandbox = pod.sandbox(vec![]);
    cases::logs_read_as_kubectl_does(&pod.runtime, &sandbox, BUSYBOX_IMAGE).await;
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn the_json_file_driver_rotates_by_the_configured_limits() {
    let runtime = runtime().await.with_log_limits(40 * 1024, 3);
    let pod = TestPod::new(runtime, "backend-docker-test", "log_limits");
    let rt = &pod.runtime;
    let sandbox = pod.sandbox(vec![]);
    let sandbox_id = rt.run_sandbox(&sandbox).await.expect("run sandbox");
    let config = pod.container(
        "chatty",
        BUSYBOX_IMAGE,
        &["sh", "-c", "echo hello; sleep 30"],
    );
    let id = rt
        .create_container(&sandbox_id, &config, &sandbox)
        .await
        .expect("create");
    let inspected = bollard()
        .await
        .inspect_container(&id, None)
        .await
        .expect("inspect");
    let log = inspected.host_config.unwrap().log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    let limits = log.config.unwrap();
    assert_eq!(limits.get("max-size").map(String::as_str), Some("40960"));
    assert_eq!(limits.get("max-file").map(String::as_str), Some("3"));
    // The kubelet's path of the log is a link to the file Docker writes, as cri-dockerd's.
    let link = sandbox.log_directory.join(&config.log_path);
    let target = std::fs::read_link(&link).expect("the log path is a link");
    rt.start_container(&id).await.expect("start");
    // Docker names its log file once the container has started.
    let started = bollard().await.inspect_container(&id, None).await;
    let started = started.expect("inspect");
    assert_eq!(
        Some(target.as_os_str()),
        started.log_path.as_deref().map(std::ffi::OsStr::new)
    );
    let logged = eventually(
        Duration::from_secs(10),
        "a line in the linked log",
        || async {
            std::fs::read_to_string(&link)
                .ok()
                .filter(|text| !text.is_empty())
        },
    )
    .await;
    assert!(
        logged.contains("\"stream\""),
        "Docker's JSON lines: {logged}"
    );
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn container_that_cannot_start_reads_as_exited() {
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
    assert!(
        matches!(
            err,
            RuntimeError::Rejected { .. } | RuntimeError::Failed { .. }
        ),
        "{err:?}"
    );
    let containers = pod.containers().await;
    assert!(
        matches!(containers[0].state, ContainerState::Exited { exit_code, .. } if exit_code != 0),
        "{containers:?}"
    );
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn host_network_pod_has_no_ip_of_its_own() {
    let pod = test_pod("host_network").await;
    let mut sandbox = pod.sandbox(vec![]);
    sandbox.host_network = true;
    sandbox.hostname = String::new();
    let port = host_port(19080);
    cases::host_network_pod_serves_on_the_node(&pod.runtime, &sandbox, WEB_IMAGE, port).await;
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn a_leftover_of_ours_is_replaced_but_a_foreign_container_is_not() {
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

    // A container we did not create holds the next attempt's name: refuse, touch nothing.
    let mut next = sandbox.clone();
    next.attempt = 1;
    let docker = bollard().await;
    let foreign = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&naming::sandbox_name(&next))
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(BUSYBOX_IMAGE.into()),
                ..Default::default()
            },
        )
        .await
        .expect("create the foreign container")
        .id;
    let runtime = pod.runtime.clone();
    let id = foreign.clone();
    pod.on_drop(async move {
        let _ = runtime.remove_container(&id).await;
    });
    let err = rt.run_sandbox(&next).await.expect_err("name taken");
    assert!(matches!(err, RuntimeError::Rejected { .. }), "{err:?}");
    let still_there = docker.inspect_container(&foreign, None).await;
    assert!(still_there.is_ok(), "the foreign container was touched");
    docker
        .remove_container(
            &foreign,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs dockerd: run through cargo xtask test"]
async fn ensure_image_by_policy() {
    cases::ensure_image_by_policy(&runtime().await, BUSYBOX_IMAGE).await;
}
