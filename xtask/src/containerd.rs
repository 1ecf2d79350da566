//! containerd with the CRI plugin: an instance of our own (config, root, state and socket
//! under `target/runtimes/containerd/`) that runs beside Docker's containerd, with a CNI
//! bridge network and the test images in the `k8s.io` namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::apt::{self, need};
use crate::daemon::{Daemon, log_tail};
use crate::runtime::{self, Up, write_if_changed};
use crate::{images, paths};

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
/// The CRI plugin's namespace: images must be there for CRI to see them.
const NAMESPACE: &str = "k8s.io";
/// The pod network. Not 10.88.0.0/16 (the usual CNI example): Podman's default network
/// uses it, and Podman runs on the same machine. Docker's default is 172.17.0.0/16.
const POD_SUBNET: &str = "10.85.0.0/16";
/// The bridge of the pod network (a name of ours, so it never clashes with docker0/podman0).
const BRIDGE: &str = "staticpod0";

/// Everything of our instance: config, root, state, socket, log, CNI config and IPAM state.
fn dir() -> PathBuf {
    paths::runtime_dir("containerd")
}

/// Its gRPC (CRI) socket.
fn socket() -> PathBuf {
    dir().join("containerd.sock")
}

/// containerd as xtask starts it, with the config written by [`up`].
pub fn daemon() -> Daemon {
    Daemon {
        name: "containerd",
        program: PathBuf::from(CONTAINERD),
        args: vec![OsString::from("--config"), dir().join("config.toml").into()],
        env: Vec::new(),
        dir: dir(),
    }
}

/// Brings our containerd up (writing its config and CNI network) and imports the images.
pub fn up() -> Result<Up> {
    apt::ensure(&[
        need(CONTAINERD, "containerd"),
        need(CTR, "containerd"),
        need("/usr/sbin/runc", "runc"),
        need("/usr/lib/cni/bridge", "containernetworking-plugins"),
        need("/usr/lib/cni/portmap", "containernetworking-plugins"),
        need("/usr/lib/cni/firewall", "containernetworking-plugins"),
        need("/usr/lib/cni/host-local", "containernetworking-plugins"),
    ])?;
    runtime::share_netns_dir()?;
    let dir = dir();
    let socket = socket();
    let mut changed = write_if_changed(&dir.join("config.toml"), &config_toml(&dir))?;
    changed |= write_if_changed(
        &dir.join("cni/net.d/10-staticpod.conflist"),
        &cni_conflist(&dir),
    )?;
    let daemon = daemon();
    let started = runtime::start_or_reuse(&daemon, changed, Some(&socket), || {
        UnixStream::connect(&socket).is_ok()
    })?;
    check_cri(&daemon, &socket)?;
    import_images(&socket)?;
    Ok(Up {
        endpoint: format!("unix://{}", socket.display()),
        started,
    })
}

/// The containerd configuration (v2 schema of containerd 1.6). See RUNTIMES.md for why
/// each CRI setting is needed on our machines.
fn config_toml(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"# Written by `cargo xtask runtime up containerd`; edits are overwritten.
version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  # The pause image built offline by xtask; nothing can be pulled here.
  sandbox_image = "{pause}"
  # Without it runc cannot lower oom_score_adj here and every sandbox fails to start.
  restrict_oom_score_adj = true
  # A random port, so this instance never clashes with another CRI runtime.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    # Debian's containernetworking-plugins live here, not in /opt/cni/bin.
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni/net.d"
    max_conf_num = 1
"#,
        pause = images::PAUSE,
    )
}

/// The pod network: bridge with host-local IPAM, firewall, plus portmap for hostPorts. No
/// loopback plugin: the CRI plugin brings up `lo` in every sandbox itself. The firewall
/// plugin lets the pods' traffic through the host's `FORWARD` chain: Docker, on the same
/// host, sets that chain's policy to DROP, and with `bridge-nf-call-iptables` even one pod
/// reaching another on the bridge goes through it (without it a pod cannot reach another's
/// IP, as the kubelet's hook e2e cases do).
fn cni_conflist(dir: &Path) -> String {
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "staticpod",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": dir.join("cni/ipam"),
                }
            },
            {"type": "firewall"},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    serde_json::to_string_pretty(&conflist).expect("JSON of literals") + "\n"
}

/// Runs `ctr --address SOCKET ARGS…` and returns its stdout.
fn ctr(socket: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(CTR)
        .arg("--address")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {CTR}"))?;
    if !out.status.success() {
        bail!(
            "ctr {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails, with the relevant log lines, unless the CRI plugin loaded: containerd starts
/// (and answers) even when CRI did not, and every CRI call would then fail obscurely.
fn check_cri(daemon: &Daemon, socket: &Path) -> Result<()> {
    let plugins = ctr(socket, &["plugins", "ls"])?;
    let cri = plugins.lines().find(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.first() == Some(&"io.containerd.grpc.v1") && cols.get(1) == Some(&"cri")
    });
    match cri {
        Some(line) if line.split_whitespace().last() == Some("ok") => Ok(()),
        other => {
            let log = log_tail(&daemon.log_path(), 400);
            let cri_lines: Vec<&str> = log.lines().filter(|l| l.contains("cri")).collect();
            bail!(
                "containerd's CRI plugin is not running ({}); CRI lines of {}:\n{}",
                other.unwrap_or("not listed").trim(),
                daemon.log_path().display(),
                cri_lines[cri_lines.len().saturating_sub(15)..].join("\n")
            )
        }
    }
}

/// Imports each test image that is missing from the `k8s.io` namespace or was imported
/// from an older build (recorded in `images.loaded`: `ctr` does not show image config IDs).
fn import_images(socket: &Path) -> Result<()> {
    let stamp = dir().join("images.loaded");
    let mut loaded: BTreeMap<String, String> = fs::read_to_string(&stamp)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, id)| (name.to_string(), id.to_string()))
        .collect();
    let present: BTreeSet<String> = ctr(socket, &["-n", NAMESPACE, "images", "ls", "-q"])?
        .lines()
        .map(String::from)
        .collect();
    for image in images::ensure_built()? {
        if present.contains(image.name) && loaded.get(image.name) == Some(&image.id) {
            continue;
        }
        eprintln!("xtask: importing {} into containerd", image.name);
        let tarball = image.tarball.to_string_lossy();
        ctr(socket, &["-n", NAMESPACE, "images", "import", &tarball])?;
        loaded.insert(image.name.to_string(), image.id.clone());
        let lines: String = loaded.iter().map(|(n, id)| format!("{n} {id}\n")).collect();
        fs::write(&stamp, lines)?;
    }
    let present = ctr(socket, &["-n", NAMESPACE, "images", "ls", "-q"])?;
    for image in images::ensure_built()? {
        if !present.lines().any(|l| l == image.name) {
            bail!(
                "containerd imported {} but does not list {}",
                image.tarball.display(),
                image.name
            );
        }
    }
    Ok(())
}
