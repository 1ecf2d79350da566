//! Offline test images, built from Debian's static busybox (and, for etcd, Debian's
//! `etcd-server`; for agnhost's TLS, `socat`) into docker-archive tarballs that `docker load`, `podman load` and
//! `ctr images import` all accept.
//!
//! Nothing can be pulled on our machines, so the images our manifests name are made here,
//! named the way users name the real ones. The build is deterministic (every timestamp is
//! busybox's mtime), so the same host files always give the same image IDs, and a runtime
//! that already holds an image with the right ID is not loaded again.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::apt::{self, Need};
use crate::paths;

/// The static busybox of Debian's `busybox-static`, the whole userland of the images.
pub const BUSYBOX: &str = "/bin/busybox";

/// `PATH` in every image: Podman and CRI add none of their own, so without it they cannot
/// find `httpd` or `sleep`.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The sandbox image (`sandbox_image` of our containerd, and the Docker backend's pause).
pub const PAUSE: &str = "registry.k8s.io/pause:3.9";
/// busybox httpd serving a page on port 80, standing in for nginx.
pub const NGINX: &str = "docker.io/library/nginx:1.25";
/// Plain busybox with `sh` as its command, for test containers that run commands.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.36";
/// The kubelet's `nonroot` test image: busybox whose image config names user 1234.
pub const NONROOT: &str = "registry.k8s.io/e2e-test-images/nonroot:1.4";
/// The kubelet's `nonewprivs` test image: a set-user-ID root program, `nnp`, that prints
/// its effective user ID, as the image's command.
pub const NONEWPRIVS: &str = "registry.k8s.io/e2e-test-images/nonewprivs:1.3";
/// Debian 12's etcd 3.4 under the name kubeadm v1.32's `etcd.yaml` gives its image, so that
/// manifest runs as `kubeadm init` writes it (the behaviour case `kubeadm_etcd`).
pub const ETCD: &str = "registry.k8s.io/etcd:3.5.16-0";

/// agnhost, the image of the kubelet's e2e tests, for the subcommands the translated cases
/// run: `liveness` and `pause`; it also holds agnhost's test certificate and `socat`, the
/// TLS of `netexec --tls-cert-file`.
pub const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

/// `/agnhost` of the agnhost stand-in: its subcommands in busybox sh, each ending at once on
/// SIGTERM as agnhost's Go programs do.
const AGNHOST_SCRIPT: &str = "#!/bin/sh
# staticpod's offline stand-in for agnhost: the subcommands staticpod's tests use.
case \"$1\" in
liveness)
  # agnhost liveness: HTTP on 8080; /healthz answers 200 for 10 s after the start, then
  # 500; /redirect?loc=<url> redirects (302) to <url>; /started gives the seconds since.
  LIVENESS_STARTED=$(date +%s)
  export LIVENESS_STARTED
  trap 'kill $server 2>/dev/null; exit 0' TERM INT
  nc -ll -p 8080 -e /liveness-handler &
  server=$!
  wait $server
  ;;
pause)
  trap 'exit 0' TERM INT
  while :; do sleep 3600 & wait $!; done
  ;;
*)
  echo \"agnhost (staticpod's offline stand-in): no subcommand ${1:-given}; this one has liveness and pause\" >&2
  exit 2
  ;;
esac
";

/// `/liveness-handler`: one connection of the stand-in's `liveness` server (`nc -e` gives
/// it the socket as stdin and stdout), answered as agnhost's Go server answers.
const LIVENESS_HANDLER: &str = "#!/bin/sh
cr=$(printf '\\r')
read -r method target version
while read -r line && [ \"${line%\"$cr\"}\" != \"\" ]; do :; done
elapsed=$(( $(date +%s) - LIVENESS_STARTED ))
path=${target%%\\?*}
query=${target#\"$path\"}
query=${query#\\?}
# status, content type, body[, one more header line]
answer() {
  printf 'HTTP/1.1 %s\\r\\nContent-Type: %s\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n' \"$1\" \"$2\" \"${#3}\"
  if [ -n \"$4\" ]; then printf '%s\\r\\n' \"$4\"; fi
  printf '\\r\\n%s' \"$3\"
}
case \"$path\" in
/healthz)
  if [ \"$elapsed\" -gt 10 ]; then
    answer '500 Internal Server Error' 'text/plain; charset=utf-8' \"error: $elapsed\"
  else
    answer '200 OK' 'text/plain; charset=utf-8' ok
  fi
  ;;
/started) answer '200 OK' 'text/plain; charset=utf-8' \"${elapsed}s\" ;;
/redirect)
  loc=
  for pair in $(echo \"$query\" | tr '&' ' '); do
    case \"$pair\" in loc=*) loc=$(httpd -d \"${pair#loc=}\") ;; esac
  done
  answer '302 Found' 'text/html; charset=utf-8' \"<a href=\\\"$loc\\\">Found</a>.
\" \"Location: $loc\"
  ;;
*) answer '404 Not Found' 'text/plain; charset=utf-8' '404 page not found
' ;;
esac
";

/// `/localhost.crt` and `/localhost.key` of agnhost, where its `netexec --tls-cert-file`
/// finds them: a self-signed certificate for `localhost` (P-256, valid for 100 years),
/// fixed so that the image's ID stays the same; a test key, public on purpose, as agnhost's.
const LOCALHOST_CRT: &str = include_str!("images/localhost.crt");
const LOCALHOST_KEY: &str = include_str!("images/localhost.key");

/// `/etc/passwd` and `/etc/group` of agnhost: its user 1000 (`user-defined-in-image`) is in
/// group 50000 (`group-defined-in-image`), for the kubelet's SupplementalGroupsPolicy tests.
const AGNHOST_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh
";
const AGNHOST_GROUP: &str = "root:x:0:
nobody:x:65534:
user-defined-in-image:x:1000:
group-defined-in-image:x:50000:user-defined-in-image
";

/// `nnp` of the `nonewprivs` stand-in (set-user-ID root in the image): prints the effective
/// user ID it runs with, so that a container shows whether `allowPrivilegeEscalation`
/// (`no_new_privs`) let the set-user-ID bit act.
const NNP_C: &str = "#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf(\"Effective uid: %d\\n\", (int)geteuid());
    return 0;
}
";

/// `/pause`: stays up for ever and exits at once on SIGTERM. PID 1 ignores signals it has
/// no handler for, hence the trap; a trapped signal interrupts `wait` immediately.
const PAUSE_SCRIPT: &str = "#!/bin/sh
# staticpod's offline pause image: hold the pod's namespaces until told to stop.
trap 'kill $! 2>/dev/null; exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
";

/// `/docker-entrypoint.sh` of the nginx stand-in: runs CMD as a child so that SIGTERM ends
/// the container at once, as real nginx does (busybox httpd as PID 1 would ignore it).
const NGINX_ENTRYPOINT: &str = "#!/bin/sh
# staticpod's offline nginx stand-in: forward SIGTERM/SIGINT to CMD and exit.
trap 'kill -TERM $child 2>/dev/null; exit 0' TERM INT
\"$@\" &
child=$!
wait $child
";

const INDEX_HTML: &str = "<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>This is staticpod's offline test image: busybox httpd from Debian's busybox-static,
tagged nginx:1.25 so that manifests read like real ones. It is not nginx.</p>
</body>
</html>
";

/// What one test image holds beyond the shared busybox layer.
struct Spec {
    /// Fully qualified reference: `ctr import` keeps the name as written, Docker and
    /// Podman show `docker.io/library/` names in their short form.
    name: &'static str,
    /// Tarball file name under `target/images/`.
    file: &'static str,
    /// `Entrypoint` (empty: none), as the real image has one or not.
    entrypoint: &'static [&'static str],
    /// `Cmd` (empty: none).
    cmd: &'static [&'static str],
    /// `ExposedPorts`, as `80/tcp`.
    exposed_ports: &'static [&'static str],
    /// Files of the image's own layer: (path, mode, contents). No files and no programs: no
    /// own layer.
    files: &'static [(&'static str, u32, &'static str)],
    /// Host programs copied into the image's own layer.
    programs: &'static [HostProgram],
    /// Programs compiled from C into its own layer.
    compiled: &'static [Compiled],
    /// `User` of the image config (empty: none, root).
    user: &'static str,
}

/// A static program compiled here from C (with `cc`, which cargo links with, so every
/// machine that builds xtask has it and glibc's static library).
struct Compiled {
    /// Where the image holds it, without a leading `/`.
    at: &'static str,
    /// Its mode (a set-user-ID bit included).
    mode: u32,
    /// The C source.
    source: &'static str,
}

/// A program of a Debian package copied from the host into an image, with the shared
/// libraries and the loader it needs (found by `ldd`, kept at the paths it names).
struct HostProgram {
    /// Where the image holds it, without a leading `/`.
    at: &'static str,
    /// The host file and the package that ships it (installed when missing).
    from: Need,
}

/// An image of busybox alone, what each of [`SPECS`] adds to.
const PLAIN: Spec = Spec {
    name: "",
    file: "",
    entrypoint: &[],
    cmd: &[],
    exposed_ports: &[],
    files: &[],
    programs: &[],
    compiled: &[],
    user: "",
};

const SPECS: [Spec; 7] = [
    Spec {
        name: PAUSE,
        file: "pause.tar",
        entrypoint: &["/pause"],
        files: &[("pause", 0o755, PAUSE_SCRIPT)],
        ..PLAIN
    },
    Spec {
        name: NGINX,
        file: "nginx.tar",
        entrypoint: &["/docker-entrypoint.sh"],
        cmd: &["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"],
        exposed_ports: &["80/tcp"],
        files: &[
            ("docker-entrypoint.sh", 0o755, NGINX_ENTRYPOINT),
            ("usr/share/nginx/html/index.html", 0o644, INDEX_HTML),
        ],
        ..PLAIN
    },
    Spec {
        name: BUSYBOX_IMAGE,
        file: "busybox.tar",
        cmd: &["sh"],
        ..PLAIN
    },
    Spec {
        // As the real image: `/agnhost` its entrypoint, the subcommand its argument.
        name: AGNHOST,
        file: "agnhost.tar",
        entrypoint: &["/agnhost"],
        cmd: &["pause"],
        files: &[
            ("agnhost", 0o755, AGNHOST_SCRIPT),
            ("liveness-handler", 0o755, LIVENESS_HANDLER),
            ("localhost.crt", 0o644, LOCALHOST_CRT),
            ("localhost.key", 0o644, LOCALHOST_KEY),
            ("etc/passwd", 0o644, AGNHOST_PASSWD),
            ("etc/group", 0o644, AGNHOST_GROUP),
        ],
        // The TLS of `netexec --tls-cert-file`: socat terminates it in front of a plain
        // HTTP server (the https hook cases).
        programs: &[HostProgram {
            at: "usr/bin/socat",
            from: apt::need("/usr/bin/socat", "socat"),
        }],
        ..PLAIN
    },
    Spec {
        // As the real image: etcd in /usr/local/bin (kubeadm's command is a bare `etcd`),
        // no entrypoint, the client and peer ports exposed; busybox gives it `sh`.
        name: ETCD,
        file: "etcd.tar",
        cmd: &["/usr/local/bin/etcd"],
        exposed_ports: &["2379/tcp", "2380/tcp"],
        programs: &[HostProgram {
            at: "usr/local/bin/etcd",
            from: apt::need("/usr/bin/etcd", "etcd-server"),
        }],
        ..PLAIN
    },
    Spec {
        // As the real image: busybox, `USER 1234`.
        name: NONROOT,
        file: "nonroot.tar",
        cmd: &["sh"],
        user: "1234",
        ..PLAIN
    },
    Spec {
        // As the real image: `nnp` in /usr/local/bin, set-user-ID root, its command.
        name: NONEWPRIVS,
        file: "nonewprivs.tar",
        cmd: &["nnp"],
        compiled: &[Compiled {
            at: "usr/local/bin/nnp",
            mode: 0o4755,
            source: NNP_C,
        }],
        ..PLAIN
    },
];

/// A test image ready on disk.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its fully qualified name.
    pub name: &'static str,
    /// The docker-archive tarball.
    pub tarball: PathBuf,
    /// Its image ID, `sha256:<config digest>`, as Docker and Podman report it.
    pub id: String,
}

/// Builds the test images that are missing or older than busybox or this xtask binary
/// (a changed recipe means a rebuilt xtask), and returns all of them.
pub fn ensure_built() -> Result<Vec<Built>> {
    let busybox = read_static_busybox()?;
    let busybox_mtime = mtime(Path::new(BUSYBOX))?;
    let exe_mtime = std::env::current_exe()
        .ok()
        .and_then(|exe| mtime(&exe).ok())
        .unwrap_or(busybox_mtime);
    let fresh_after = busybox_mtime.max(exe_mtime);
    let dir = paths::images_dir();
    fs::create_dir_all(&dir)?;
    let programs: Vec<Need> = SPECS
        .iter()
        .flat_map(|s| s.programs.iter().map(|p| p.from))
        .collect();
    apt::ensure(&programs)?;

    let mut base: Option<Vec<u8>> = None;
    let mut built = Vec::new();
    for spec in &SPECS {
        let tarball = dir.join(spec.file);
        let mut spec_fresh_after = fresh_after;
        for program in spec.programs {
            spec_fresh_after = spec_fresh_after.max(mtime(Path::new(program.from.path))?);
        }
        let existing = match mtime(&tarball) {
            Ok(t) if t >= spec_fresh_after => read_id(&tarball, spec.name),
            _ => None,
        };
        let id = match existing {
            Some(id) => id,
            None => {
                if base.is_none() {
                    base = Some(base_layer(&busybox, &applets()?, busybox_mtime)?);
                }
                let base = base.as_deref().expect("just built");
                let mut copied = host_programs(spec.programs)?;
                copied.extend(compile(spec.compiled, &dir)?);
                let (archive, id) = archive(spec, base, &copied, busybox_mtime)?;
                let tmp = tarball.with_extension("tar.tmp");
                fs::write(&tmp, archive).with_context(|| format!("writing {}", tmp.display()))?;
                fs::rename(&tmp, &tarball)?;
                eprintln!("xtask: built {} ({})", spec.name, tarball.display());
                id
            }
        };
        built.push(Built {
            name: spec.name,
            tarball,
            id,
        });
    }
    Ok(built)
}

/// Reads `/bin/busybox`, installing `busybox-static` first if it is missing or is the
/// dynamically linked one of the `busybox` package (useless inside an image).
fn read_static_busybox() -> Result<Vec<u8>> {
    let ok = fs::read(BUSYBOX).ok().filter(|b| is_static_elf(b));
    if let Some(bytes) = ok {
        return Ok(bytes);
    }
    apt::install(&["busybox-static"])?;
    let bytes = fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    if !is_static_elf(&bytes) {
        bail!(
            "{BUSYBOX} is not a statically linked ELF executable even after installing busybox-static"
        );
    }
    Ok(bytes)
}

/// Whether an ELF executable has no program interpreter (PT_INTERP), i.e. is static.
fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[5] != 1 {
        return false; // not ELF, or big-endian: not a host we build for
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let (phoff, phentsize, phnum) = match bytes[4] {
        1 => (
            u32_at(0x1c).unwrap_or(0) as usize,
            u16_at(0x2a),
            u16_at(0x2c),
        ),
        2 => {
            let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap());
            (phoff as usize, u16_at(0x36), u16_at(0x38))
        }
        _ => return false,
    };
    (0..phnum).all(|i| u32_at(phoff + i * phentsize).is_some_and(|t| t != PT_INTERP))
}

/// The applets busybox was built with, each to become a `/bin/<applet>` symlink.
fn applets() -> Result<BTreeSet<String>> {
    let out = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .with_context(|| format!("running {BUSYBOX} --list"))?;
    if !out.status.success() {
        bail!("{BUSYBOX} --list failed: {}", out.status);
    }
    let list: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(String::from)
        .collect();
    for needed in ["sh", "sleep", "httpd", "kill", "wget", "nc", "date", "tr"] {
        if !list.contains(needed) {
            bail!("{BUSYBOX} lacks the `{needed}` applet the test images need");
        }
    }
    Ok(list)
}

/// The shared layer: busybox and its applet links, a minimal /etc and the usual dirs.
fn base_layer(busybox: &[u8], applets: &BTreeSet<String>, mtime: u64) -> Result<Vec<u8>> {
    let mut t = TarWriter::new(mtime);
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("var", 0o755),
    ] {
        t.dir(dir, mode)?;
    }
    t.file("bin/busybox", 0o755, busybox)?;
    for applet in applets {
        t.symlink(&format!("bin/{applet}"), "busybox")?;
    }
    t.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    t.file("etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n")?;
    t.finish()
}

/// A file of an image's own layer: path (no leading `/`), mode, contents.
type LayerFile = (String, u32, Vec<u8>);

/// The files of `programs` and of the libraries each loads, read from the host.
fn host_programs(programs: &[HostProgram]) -> Result<Vec<LayerFile>> {
    let mut files = Vec::new();
    let mut libraries = BTreeSet::new();
    for program in programs {
        let bytes = fs::read(program.from.path)
            .with_context(|| format!("reading {}", program.from.path))?;
        files.push((program.at.to_string(), 0o755, bytes));
        libraries.extend(shared_libraries(program.from.path)?);
    }
    for library in libraries {
        // `fs::read` follows the links (`libc.so.6` and the loader are links on Debian):
        // the image holds the file itself at the path the program asks for.
        let bytes = fs::read(&library).with_context(|| format!("reading {library}"))?;
        let path = library.trim_start_matches('/').to_string();
        files.push((path, 0o755, bytes));
    }
    Ok(files)
}

/// The files of `programs`, each compiled statically in `dir` from its source.
fn compile(programs: &[Compiled], dir: &Path) -> Result<Vec<LayerFile>> {
    let mut files = Vec::new();
    for program in programs {
        let name = Path::new(program.at)
            .file_name()
            .context("a compiled program's path names a file")?
            .to_string_lossy();
        let source = dir.join(format!("{name}.c"));
        let out = dir.join(format!("{name}.bin"));
        fs::write(&source, program.source)
            .with_context(|| format!("writing {}", source.display()))?;
        let status = Command::new("cc")
            .args(["-static", "-Os", "-s", "-o"])
            .arg(&out)
            .arg(&source)
            .status()
            .context("running cc")?;
        if !status.success() {
            bail!("cc {} failed ({status})", source.display());
        }
        let bytes = fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
        fs::remove_file(&source)?;
        fs::remove_file(&out)?;
        files.push((program.at.to_string(), program.mode, bytes));
    }
    Ok(files)
}

/// The absolute paths of the shared libraries and the loader `program` needs, by `ldd`
/// (none for a static program).
fn shared_libraries(program: &str) -> Result<BTreeSet<String>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .with_context(|| format!("running ldd {program}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable") || out.stderr.is_empty() {
            return Ok(BTreeSet::new());
        }
        bail!(
            "ldd {program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_ldd(&text))
}

/// The absolute paths in `ldd`'s output: `libc.so.6 => /lib/…/libc.so.6 (0x…)` and the
/// loader's `/lib64/ld-linux-x86-64.so.2 (0x…)`; the kernel's `linux-vdso.so.1` has none.
fn parse_ldd(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, target)) => target.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

/// An image's own layer: its files and their parent directories.
fn own_layer(files: &[LayerFile], mtime: u64) -> Result<Vec<u8>> {
    let mut t = TarWriter::new(mtime);
    let mut dirs = BTreeSet::new();
    for (path, _, _) in files {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
    }
    for dir in &dirs {
        t.dir(dir, 0o755)?;
    }
    for (path, mode, contents) in files {
        t.file(path, *mode, contents)?;
    }
    t.finish()
}

/// The docker-archive tarball of one image and its ID.
/// `programs` are the files of its [`HostProgram`]s, read from the host.
fn archive(
    spec: &Spec,
    base: &[u8],
    programs: &[LayerFile],
    mtime: u64,
) -> Result<(Vec<u8>, String)> {
    let mut layers = vec![(
        base.to_vec(),
        "busybox-static rootfs: /bin/busybox and applet links",
    )];
    let mut files: Vec<LayerFile> = spec
        .files
        .iter()
        .map(|(path, mode, text)| (path.to_string(), *mode, text.as_bytes().to_vec()))
        .collect();
    files.extend_from_slice(programs);
    if !files.is_empty() {
        let what = if programs.is_empty() {
            "test image files"
        } else {
            "test image files and programs (from Debian packages, or compiled)"
        };
        layers.push((own_layer(&files, mtime)?, what));
    }
    let created = rfc3339(mtime);
    let diff_ids: Vec<String> = layers.iter().map(|(l, _)| sha256(l)).collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|(_, what)| json!({"created": created, "created_by": format!("staticpod cargo xtask: {what}")}))
        .collect();

    let mut config = json!({
        "Env": [PATH_ENV],
        "WorkingDir": "/",
        "Labels": {"io.staticpod.test-image": "true"},
    });
    if !spec.entrypoint.is_empty() {
        config["Entrypoint"] = json!(spec.entrypoint);
    }
    if !spec.cmd.is_empty() {
        config["Cmd"] = json!(spec.cmd);
    }
    if !spec.user.is_empty() {
        config["User"] = json!(spec.user);
    }
    if !spec.exposed_ports.is_empty() {
        let ports: serde_json::Map<String, Value> = spec
            .exposed_ports
            .iter()
            .map(|p| (p.to_string(), json!({})))
            .collect();
        config["ExposedPorts"] = Value::Object(ports);
    }
    let image_config = json!({
        "architecture": oci_arch(),
        "os": "linux",
        "created": created,
        "author": "staticpod cargo xtask",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&image_config)?;
    let config_digest = sha256(&config_bytes);
    let config_hex = hex_of(&config_digest);

    let layer_paths: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", hex_of(d)))
        .collect();
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [spec.name],
        "Layers": layer_paths,
    }]);

    let mut t = TarWriter::new(mtime);
    for ((layer, _), path) in layers.iter().zip(&layer_paths) {
        let dir = path.trim_end_matches("/layer.tar");
        t.dir(dir, 0o755)?;
        t.file(path, 0o644, layer)?;
    }
    t.file(&format!("{config_hex}.json"), 0o644, &config_bytes)?;
    t.file("manifest.json", 0o644, &serde_json::to_vec(&manifest)?)?;
    Ok((t.finish()?, config_digest))
}

/// The ID recorded in an existing tarball, if it is ours for `name` and readable.
fn read_id(tarball: &Path, name: &str) -> Option<String> {
    let file = fs::File::open(tarball).ok()?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().ok()? {
        let entry = entry.ok()?;
        if entry.path().ok()?.as_os_str() != "manifest.json" {
            continue;
        }
        let manifest: Value = serde_json::from_reader(entry).ok()?;
        let image = manifest.get(0)?;
        if image["RepoTags"].get(0)?.as_str()? != name {
            return None;
        }
        let hex = image["Config"].as_str()?.strip_suffix(".json")?;
        return Some(format!("sha256:{hex}"));
    }
    None
}

/// Writes deterministic tar entries: owner root, one fixed mtime.
struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
    mtime: u64,
}

impl TarWriter {
    /// An empty archive whose entries will all carry `mtime`.
    fn new(mtime: u64) -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            mtime,
        }
    }

    /// A header owned by root with our mtime.
    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    /// Adds a directory (`path` without a trailing slash).
    fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        let mut h = self.header(tar::EntryType::Directory, mode, 0);
        self.builder
            .append_data(&mut h, format!("{path}/"), std::io::empty())?;
        Ok(())
    }

    /// Adds a regular file.
    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        let mut h = self.header(tar::EntryType::Regular, mode, data.len() as u64);
        self.builder.append_data(&mut h, path, data)?;
        Ok(())
    }

    /// Adds a symbolic link to `target`.
    fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut h = self.header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut h, path, target)?;
        Ok(())
    }

    /// Ends the archive and returns its bytes.
    fn finish(self) -> Result<Vec<u8>> {
        Ok(self.builder.into_inner()?)
    }
}

/// `sha256:<hex>` of some bytes.
fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The hex part of a `sha256:<hex>` digest.
fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The host's architecture in OCI/Go naming.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other, // arm, s390x, riscv64 are spelt alike
    }
}

/// Modification time in seconds since the epoch.
fn mtime(path: &Path) -> Result<u64> {
    let modified = fs::metadata(path)?.modified()?;
    Ok(modified.duration_since(UNIX_EPOCH)?.as_secs())
}

/// Seconds since the epoch as an RFC 3339 UTC timestamp.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from a day count (Howard Hinnant's algorithm, eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stand-in's answer to `GET <target>`, `elapsed` seconds after its start, run by the
    /// host's busybox (whose `httpd` applet decodes `loc`) as `nc -e` runs it.
    fn liveness_answer(target: &str, elapsed: u64) -> String {
        use std::io::Write;
        let applets = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(BUSYBOX, applets.path().join("httpd")).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap();
        let path = format!(
            "{}:{}",
            applets.path().display(),
            std::env::var("PATH").unwrap()
        );
        let mut handler = Command::new(BUSYBOX)
            .args(["sh", "-c", LIVENESS_HANDLER])
            .env("PATH", path)
            .env("LIVENESS_STARTED", (now.as_secs() - elapsed).to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUser-Agent: kube-probe/1.32\r\n\r\n"
        );
        handler
            .stdin
            .take()
            .unwrap()
            .write_all(request.as_bytes())
            .unwrap();
        let output = handler.wait_with_output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn the_liveness_stand_in_answers_as_agnhost() {
        let ok = liveness_answer("/healthz", 3);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\nok"),
            "{ok}"
        );
        let failing = liveness_answer("/healthz", 12);
        assert!(
            failing.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{failing}"
        );
        assert!(failing.ends_with("\r\n\r\nerror: 12"), "{failing}");
        let local = liveness_answer("/redirect?loc=%2Fhealthz", 0);
        assert!(local.starts_with("HTTP/1.1 302 Found\r\n"), "{local}");
        assert!(local.contains("\r\nLocation: /healthz\r\n"), "{local}");
        let elsewhere = liveness_answer("/redirect?loc=http%3A%2F%2F0.0.0.0%2F", 0);
        assert!(
            elsewhere.ends_with(
                "\r\nLocation: http://0.0.0.0/\r\n\r\n<a href=\"http://0.0.0.0/\">Found</a>.\n"
            ),
            "{elsewhere}"
        );
        assert!(liveness_answer("/", 0).starts_with("HTTP/1.1 404 Not Found\r\n"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f8e)\n";
        let found: Vec<String> = parse_ldd(text).into_iter().collect();
        assert_eq!(
            found,
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // Any dynamically linked binary of the host has an interpreter.
        assert!(!is_static_elf(&fs::read("/bin/ls").unwrap()));
    }

    #[test]
    fn archive_layout_and_determinism() {
        let applets: BTreeSet<String> = ["sh", "sleep"].iter().map(|s| s.to_string()).collect();
        let base = base_layer(b"not really busybox", &applets, 1_700_000_000).unwrap();
        let (a, id_a) = archive(&SPECS[1], &base, &[], 1_700_000_000).unwrap();
        let (b, id_b) = archive(&SPECS[1], &base, &[], 1_700_000_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(id_a, id_b);

        let mut names = Vec::new();
        let mut manifest = Value::Null;
        let mut config = Value::Null;
        for entry in tar::Archive::new(&a[..]).entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            if path == "manifest.json" {
                manifest = serde_json::from_reader(entry).unwrap();
            } else if path.ends_with(".json") {
                config = serde_json::from_reader(entry).unwrap();
            }
            names.push(path);
        }
        assert_eq!(manifest[0]["RepoTags"][0], NGINX);
        assert_eq!(
            format!(
                "sha256:{}",
                manifest[0]["Config"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(".json")
            ),
            id_a
        );
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&base));
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        assert_eq!(config["config"]["Env"][0], PATH_ENV);
        assert_eq!(config["config"]["Cmd"][0], "httpd");
        assert!(config["config"]["ExposedPorts"]["80/tcp"].is_object());
        assert_eq!(config["os"], "linux");
        for (layer_path, _) in manifest[0]["Layers"].as_array().unwrap().iter().zip(0..) {
            assert!(names.contains(&layer_path.as_str().unwrap().to_string()));
        }

        let mut base_names = Vec::new();
        for entry in tar::Archive::new(&base[..]).entries().unwrap() {
            let entry = entry.unwrap();
            base_names.push(entry.path().unwrap().to_string_lossy().into_owned());
        }
        for needed in ["bin/busybox", "bin/sh", "etc/passwd", "etc/group", "tmp/"] {
            assert!(base_names.iter().any(|n| n == needed), "{needed} missing");
        }
    }
}
