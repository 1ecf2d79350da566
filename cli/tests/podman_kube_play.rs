//! The same manifest through `podman kube play` and through staticpod on Podman: both give a
//! running pod whose container answers on its hostPort (issue 4, must-show 3).
//!
//! Where `kube play` departs from the kubelet's semantics, staticpod follows the kubelet:
//!
//! - **Names.** `kube play` names the pod `static-web` and its container `static-web-web`
//!   (`<pod>-<container>`), with only the manifest's labels. A kubelet names a static pod
//!   `<name>-<node>` and its objects `k8s_POD_<pod>_<namespace>_<uid>_<attempt>` and
//!   `k8s_<container>_<pod>_<namespace>_<uid>_<restart count>`, with the
//!   `io.kubernetes.*` labels; so does staticpod.
//! - **Restarts.** `kube play` turns `restartPolicy` into Podman's own restart policy
//!   (`always` here): conmon restarts the same container in place, without the kubelet's
//!   back-off, and the restart count lives only in Podman. staticpod sets no Podman restart
//!   policy; the agent starts a new container per attempt, with the kubelet's back-off, its
//!   restart count in the `io.kubernetes.container.restartCount` label and in the status.
//! - **The sandbox.** `kube play` creates the pod with exit policy `stop` (the infra goes
//!   down with the last container) and Podman's own infra image (`localhost/podman-pause`,
//!   built around catatonit). A kubelet's sandbox outlives its containers until the pod is
//!   removed, and runs the `--pod-infra-container-image`; so does staticpod's (exit policy
//!   `continue`).
//! - **Lifecycle.** `kube play` is one-shot: playing the file again fails while the pod
//!   exists (`--replace` recreates it), edits are not noticed, and the pod stays until
//!   `kube down`. staticpod watches the directory: an edit replaces the pod (new UID), a
//!   removed file removes it, and an invalid edit keeps the running pod.
//!
//! Needs `podman` on the PATH and the service's endpoint in `STATICPOD_TEST_PODMAN_ENDPOINT`;
//! ignored by a plain `cargo test`.

#[allow(dead_code)] // This suite uses only part of the behaviour suite's harness.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use staticpod_runtime::backend::Backend;
use staticpod_runtime::labels;
use staticpod_testkit::backend::require_endpoint;
use staticpod_testkit::net::http_get_body;
use support::{Node, case_port, podman};

/// The walk-through's manifest, as shipped.
fn example_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/manifests/static-web.yaml");
    std::fs::read_to_string(path).expect("examples/manifests/static-web.yaml")
}

/// The example with `hostPort` moved off 8080, so neither run clashes with a demo.
fn with_host_port(manifest: &str, port: u16) -> String {
    assert!(manifest.contains("hostPort: 8080"), "{manifest}");
    manifest.replace("hostPort: 8080", &format!("hostPort: {port}"))
}

/// Container `name`'s state and its pod's name: `running static-web`.
fn state_and_pod(name: &str) -> String {
    let state = podman(&["inspect", name, "--format", "{{.State.Status}}"]);
    let pod = podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.PodName}}",
    ]);
    format!("{state} {pod}")
}

/// A manifest played with `podman kube play`, taken down with `podman kube down` on drop,
/// pass or fail. Only a play that succeeded is taken down, so a pod of the same name that
/// someone else played is never touched.
struct KubePlay {
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl KubePlay {
    fn play(manifest: &str) -> KubePlay {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("static-web.yaml");
        std::fs::write(&file, manifest).unwrap();
        podman(&["kube", "play", file.to_str().unwrap()]);
        KubePlay { file, _dir: dir }
    }
}

impl Drop for KubePlay {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["--url", &require_endpoint(Backend::Podman)])
            .args(["kube", "down"])
            .arg(&self.file)
            .output();
    }
}

#[test]
#[ignore = "needs podman: run through cargo xtask test"]
fn kube_play_and_staticpod_give_the_same_running_pod() {
    let manifest = example_manifest();
    let play_port = case_port(Backend::Podman, 10);
    let ours_port = case_port(Backend::Podman, 11);

    // podman kube play.
    let _played = KubePlay::play(&with_host_port(&manifest, play_port));
    let mut node = Node::new(Backend::Podman, "kubeplay");
    let page = node.wait_for("kube play's hostPort to answer", || {
        http_get_body(play_port, "/")
    });
    assert!(page.contains("Welcome to nginx!"), "{page}");
    assert_eq!(state_and_pod("static-web-web"), "running static-web");
    assert_eq!(
        podman(&[
            "inspect",
            "static-web-web",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}"
        ]),
        "always",
        "kube play hands restarts to Podman"
    );
    assert_eq!(
        podman(&[
            "pod",
            "inspect",
            "static-web",
            "--format",
            "{{.ExitPolicy}}"
        ]),
        "stop"
    );

    // staticpod, on the same manifest.
    node.write_manifest("static-web.yaml", &with_host_port(&manifest, ours_port));
    node.start_agent();
    let web = node.wait_running("static-web", "web");
    let page = node.wait_for("staticpod's hostPort to answer", || {
        http_get_body(ours_port, "/")
    });
    assert!(page.contains("Welcome to nginx!"), "{page}");

    // The same observable result, under the kubelet's names and policies.
    let full_name = node.pod_name("static-web");
    let uid = &web.labels[labels::POD_UID];
    let name = format!("k8s_web_{full_name}_default_{uid}_0");
    let pod = format!("k8s_POD_{full_name}_default_{uid}_0");
    assert_eq!(state_and_pod(&name), format!("running {pod}"));
    let restart = podman(&[
        "inspect",
        &name,
        "--format",
        "{{.HostConfig.RestartPolicy.Name}}",
    ]);
    assert!(
        matches!(restart.as_str(), "" | "no"),
        "the agent restarts, not Podman: {restart}"
    );
    assert_eq!(
        podman(&["pod", "inspect", &pod, "--format", "{{.ExitPolicy}}"]),
        "continue"
    );
}
