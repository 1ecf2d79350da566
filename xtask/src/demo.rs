//! `cargo xtask demo`: a runtime up, then `staticpod run` on `examples/manifests` in the
//! foreground, as a user would try it.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};

use crate::runtime::{Backend, Provision};
use crate::{cargo, paths};

/// Brings `backend`'s runtime up, builds `staticpod`, prints where to look, and becomes
/// `staticpod run`.
pub fn run(backend: Backend) -> Result<()> {
    let up = backend.up()?;
    let root = paths::root();
    cargo::run(&["build", "-p", "staticpod"], &[])?;
    let manifests = root.join("examples/manifests");
    if std::fs::read_dir(&manifests).map_or(true, |mut d| d.next().is_none()) {
        eprintln!(
            "xtask: note: {} is empty; drop a Pod manifest in it",
            manifests.display()
        );
    }
    let look = match backend {
        Backend::Docker => {
            "/usr/bin/docker ps --filter label=io.staticpod.managed-by=staticpod".to_string()
        }
        Backend::Cri => format!(
            "ctr --address {} -n k8s.io containers ls",
            up.endpoint.trim_start_matches("unix://")
        ),
        Backend::Podman => format!("podman --url {} pod ps", up.endpoint),
    };
    println!(
        "\nstaticpod demo on {runtime} ({endpoint}). In another terminal:\n  \
         target/debug/staticpod get pods\n  \
         {look}\n  \
         curl http://127.0.0.1:8080/\n\
         Edit or remove files in examples/manifests/ and watch; Ctrl-C stops the agent \
         (the pods keep running in {runtime}).\n",
        runtime = backend.runtime_name(),
        endpoint = up.endpoint,
    );
    let err = Command::new(root.join("target/debug/staticpod"))
        .args(["run", "--runtime", backend.name()])
        .args(["--pod-manifest-path", "examples/manifests"])
        .args(["--container-runtime-endpoint", &up.endpoint])
        .args(["--root-dir", "target/demo-root"])
        .args(["--pod-logs-dir", "target/demo-root/logs"])
        .current_dir(&root)
        .exec();
    Err(err).context("starting target/debug/staticpod")
}
