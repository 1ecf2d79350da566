//! Podman: its API service on a socket under `target/runtimes/podman/`, run with a
//! containers.conf of our own, and the test images loaded through that API.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;

use crate::apt::{self, need};
use crate::daemon::Daemon;
use crate::runtime::{self, Up, write_if_changed};
use crate::{docker, http, paths};

const PODMAN: &str = "/usr/bin/podman";

/// Settings our machines need (RUNTIMES.md): the hard `nofile` limit is 20000, so
/// Podman's default ulimit fails; crun refuses the hybrid cgroup v1 layout, runc works;
/// there is neither systemd nor journald.
const CONTAINERS_CONF: &str = r#"# Written by `cargo xtask runtime up podman`; edits are overwritten.
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"#;

/// Our config, socket and log (storage stays Podman's default, so `podman ps` sees the pods).
fn dir() -> PathBuf {
    paths::runtime_dir("podman")
}

/// The API socket.
fn socket() -> PathBuf {
    dir().join("podman.sock")
}

/// Our containers.conf, passed as `CONTAINERS_CONF`.
fn conf() -> PathBuf {
    dir().join("containers.conf")
}

/// `podman system service --time=0` on our socket, with `CONTAINERS_CONF` pointing at ours.
pub fn daemon() -> Daemon {
    let mut endpoint = OsString::from("unix://");
    endpoint.push(socket());
    Daemon {
        name: "podman",
        program: PathBuf::from(PODMAN),
        args: vec![
            "system".into(),
            "service".into(),
            "--time=0".into(),
            endpoint,
        ],
        env: vec![("CONTAINERS_CONF".into(), conf().into())],
        dir: dir(),
    }
}

/// Brings the Podman service up and loads the test images.
pub fn up() -> Result<Up> {
    apt::ensure(&[
        need(PODMAN, "podman"),
        // Podman builds its own infra (pause) image around catatonit.
        need("/usr/bin/catatonit", "catatonit"),
        need("/usr/bin/conmon", "conmon"),
        need("/usr/sbin/runc", "runc"),
    ])?;
    runtime::share_netns_dir()?;
    let socket = socket();
    let changed = write_if_changed(&conf(), CONTAINERS_CONF)?;
    let started =
        runtime::start_or_reuse(&daemon(), changed, Some(&socket), || http::ping(&socket))?;
    docker::ensure_images(&socket, "podman")?;
    Ok(Up {
        endpoint: format!("unix://{}", socket.display()),
        started,
    })
}
