//! Puts the commit staticpod is built from and the backends compiled in into `--version`:
//! `STATICPOD_LONG_VERSION`, e.g. `0.1.0 (commit 1a2b3c4, backends: docker, cri, podman)`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let backends: Vec<&str> = [("docker", "DOCKER"), ("cri", "CRI"), ("podman", "PODMAN")]
        .into_iter()
        .filter(|(_, feature)| std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .map(|(name, _)| name)
        .collect();
    let backends = if backends.is_empty() {
        "none".to_string()
    } else {
        backends.join(", ")
    };
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets it");
    println!(
        "cargo:rustc-env=STATICPOD_LONG_VERSION={version} (commit {commit}, backends: {backends})"
    );
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
