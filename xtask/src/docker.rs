//! Docker Engine: reuse the system's dockerd or start one, and load the test images
//! through the Engine API (also used for Podman, whose service speaks the same API).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::apt::{self, need};
use crate::daemon::Daemon;
use crate::runtime::{self, Up};
use crate::{http, images, paths};

/// The system socket: a user's `docker ps` sees what the tests and the demo create.
pub const SOCKET: &str = "/var/run/docker.sock";
const DOCKERD: &str = "/usr/sbin/dockerd";
/// The pid file dockerd writes itself (its default `--pidfile`).
const DOCKERD_PID_FILE: &str = "/var/run/docker.pid";
/// The containerd dockerd starts as its child, and the pid file dockerd keeps for it.
const DOCKER_CONTAINERD: &str = "/usr/bin/containerd";
const DOCKER_CONTAINERD_PID_FILE: &str = "/var/run/docker/containerd/containerd.pid";

/// dockerd as xtask starts it: default data root and socket; log and pid file under
/// `target/runtimes/docker/`.
pub fn daemon() -> Daemon {
    Daemon {
        name: "dockerd",
        program: PathBuf::from(DOCKERD),
        args: Vec::new(),
        env: Vec::new(),
        dir: paths::runtime_dir("docker"),
    }
}

/// Brings Docker up (reusing any dockerd that answers) and loads the test images.
pub fn up() -> Result<Up> {
    let socket = Path::new(SOCKET);
    let daemon = daemon();
    let mut started = if http::ping(socket) {
        eprintln!("xtask: docker is already answering on {SOCKET}, reusing it");
        false
    } else {
        apt::ensure(&[need(DOCKERD, "docker.io")])?;
        clear_stale_pid_files()?;
        runtime::start_or_reuse(&daemon, false, None, || http::ping(socket))?
    };
    if let Some(bridge) = missing_bridge(socket)? {
        if daemon.running_pid().is_none() {
            bail!(
                "dockerd answers on {SOCKET} but its bridge {bridge} is gone, so no container \
                 can get a network; restart that dockerd (it was not started by xtask). \
                 A second dockerd started with --bridge=none deletes {bridge}."
            );
        }
        eprintln!("xtask: dockerd's bridge {bridge} is gone, restarting dockerd");
        daemon.stop(runtime::STOP_GRACE)?;
        clear_stale_pid_files()?;
        started = runtime::start_or_reuse(&daemon, false, None, || http::ping(socket))?;
    }
    ensure_images(socket, "docker")?;
    Ok(Up {
        endpoint: format!("unix://{SOCKET}"),
        started,
    })
}

/// Removes the pid files of a dockerd that is gone (SIGKILLed, as fault 2a does): its own,
/// which makes the next dockerd refuse to start, and its containerd's. That containerd dies
/// with its parent (dockerd starts it with a parent-death signal) but may stay a zombie a
/// while: the next dockerd, finding its pid "still running", waits on its socket for good.
fn clear_stale_pid_files() -> Result<()> {
    let files = [
        (DOCKERD_PID_FILE, DOCKERD),
        (DOCKER_CONTAINERD_PID_FILE, DOCKER_CONTAINERD),
    ];
    for (file, program) in files {
        if crate::daemon::remove_stale_pid_file(Path::new(file), Path::new(program))? {
            eprintln!("xtask: removed {file}, left by a {program} that is gone");
        }
    }
    Ok(())
}

/// The name of the default bridge network's Linux bridge if the network exists but the
/// bridge does not: any dockerd started with `--bridge=none` deletes `docker0`, and the
/// dockerd that owns it fails every container start until it is restarted.
fn missing_bridge(socket: &Path) -> Result<Option<String>> {
    let response = http::request(
        socket,
        "GET",
        "/networks/bridge",
        None,
        Duration::from_secs(10),
    )?;
    if response.status != 200 {
        return Ok(None); // no default bridge network: nothing to check
    }
    let network: Value =
        serde_json::from_slice(&response.body).context("inspecting network bridge")?;
    let name = network["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or("docker0")
        .to_string();
    // /proc/self/net/dev lists the interfaces of our network namespace (/sys/class/net
    // may be a sysfs mounted from another one).
    let dev =
        std::fs::read_to_string("/proc/self/net/dev").context("reading /proc/self/net/dev")?;
    let exists = dev
        .lines()
        .filter_map(|l| l.split_once(':'))
        .any(|(iface, _)| iface.trim() == name);
    Ok((!exists).then_some(name))
}

/// Loads each test image whose name is missing or names another image ID, through the
/// Docker-compatible API on `socket` (`POST /images/load`). No CLI: the `docker` found
/// first on PATH may be an unrelated newer client, and Podman's would need its config.
pub fn ensure_images(socket: &Path, runtime: &str) -> Result<()> {
    for image in images::ensure_built()? {
        if image_id(socket, image.name)?.as_deref() == Some(strip(&image.id)) {
            continue;
        }
        eprintln!("xtask: loading {} into {runtime}", image.name);
        let tarball = fs::read(&image.tarball)
            .with_context(|| format!("reading {}", image.tarball.display()))?;
        let response = http::request(
            socket,
            "POST",
            "/images/load?quiet=1",
            Some(("application/x-tar", &tarball)),
            Duration::from_secs(300),
        )?;
        // Errors may also arrive as a 200 whose JSON stream holds an `error` object.
        let failed = response.status != 200
            || response.text().lines().any(|line| {
                serde_json::from_str::<Value>(line)
                    .is_ok_and(|v| v.get("error").is_some() || v.get("errorDetail").is_some())
            });
        if failed {
            bail!(
                "{runtime} could not load {}: HTTP {}: {}",
                image.tarball.display(),
                response.status,
                response.text().trim()
            );
        }
        match image_id(socket, image.name)? {
            Some(id) if id == strip(&image.id) => {}
            other => bail!(
                "{runtime} loaded {} but `{}` is {:?}, not {}",
                image.tarball.display(),
                image.name,
                other,
                image.id
            ),
        }
    }
    Ok(())
}

/// The ID (hex, no `sha256:`) of the image `name`, or None if there is none.
fn image_id(socket: &Path, name: &str) -> Result<Option<String>> {
    let response = http::request(
        socket,
        "GET",
        &format!("/images/{name}/json"),
        None,
        Duration::from_secs(30),
    )?;
    match response.status {
        200 => {
            let body: Value = serde_json::from_slice(&response.body)
                .with_context(|| format!("inspecting image {name}"))?;
            let id = body["Id"].as_str().context("image without Id")?;
            Ok(Some(strip(id).to_string()))
        }
        404 => Ok(None),
        status => bail!(
            "inspecting image {name}: HTTP {status}: {}",
            response.text().trim()
        ),
    }
}

/// An image ID without its `sha256:` prefix (Podman reports some IDs bare).
fn strip(id: &str) -> &str {
    id.trim_start_matches("sha256:")
}
