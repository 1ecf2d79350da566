//! Installs missing Debian packages with apt-get, checking for each one's binary first.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::{daemon, paths};

/// A Debian package and a file whose presence shows that it is installed.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// Absolute path of a file the package ships (usually its main binary).
    pub path: &'static str,
    /// The Debian package name.
    pub package: &'static str,
}

/// Shorthand for a [`Need`].
pub const fn need(path: &'static str, package: &'static str) -> Need {
    Need { path, package }
}

/// Set once `apt-get update` has run in this process: one update per xtask run is enough.
static UPDATED: AtomicBool = AtomicBool::new(false);

/// Installs the packages of `needs` whose file is missing; does nothing when all are present.
pub fn ensure(needs: &[Need]) -> Result<()> {
    let mut missing: Vec<&str> = needs
        .iter()
        .filter(|n| !Path::new(n.path).exists())
        .map(|n| n.package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    install(&missing)?;
    if let Some(n) = needs.iter().find(|n| !Path::new(n.path).exists()) {
        bail!("installed {} but {} is still missing", n.package, n.path);
    }
    Ok(())
}

/// Runs `apt-get install -y` for `packages` (after one `apt-get update`).
///
/// apt's output goes to `target/xtask/apt.log`, never to our stdout: a package's
/// maintainer script may start a daemon that would keep our caller's pipe open forever.
/// For the same reason a `policy-rc.d` that forbids service starts is in place during
/// the install (Debian's documented switch for chroots and containers).
pub fn install(packages: &[&str]) -> Result<()> {
    if !is_root() {
        bail!(
            "packages {} are missing and installing them needs root; run as root or install them yourself",
            packages.join(" ")
        );
    }
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "packages {} are missing and this is not a Debian-like system (no apt-get); install their equivalents",
            packages.join(" ")
        );
    }
    fs::create_dir_all(paths::xtask_dir())?;
    let log = paths::xtask_dir().join("apt.log");
    let _no_service_starts = PolicyRcD::install()?;
    if !UPDATED.swap(true, Ordering::SeqCst) {
        eprintln!("xtask: apt-get update (log: {})", log.display());
        apt(&["update"], &log)?;
    }
    eprintln!(
        "xtask: installing {} (log: {})",
        packages.join(" "),
        log.display()
    );
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(packages);
    apt(&args, &log)
}

/// Runs one apt-get command with its output appended to `log`.
fn apt(args: &[&str], log: &Path) -> Result<()> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let status = Command::new("apt-get")
        .args(["-o", "DPkg::Lock::Timeout=300", "-q"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // docker.io recommends needrestart, whose apt hook would otherwise ask (or restart).
        .env("NEEDRESTART_SUSPEND", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!(
            "apt-get {} failed ({status}); end of {}:\n{}",
            args.join(" "),
            log.display(),
            daemon::log_tail(log, 20)
        );
    }
    Ok(())
}

/// Whether this process runs as uid 0 (read from /proc: std has no getuid).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A temporary `/usr/sbin/policy-rc.d` that tells maintainer scripts not to start services;
/// removed on drop, and only if we created it.
struct PolicyRcD {
    created: bool,
}

impl PolicyRcD {
    const PATH: &'static str = "/usr/sbin/policy-rc.d";

    fn install() -> Result<Self> {
        if Path::new(Self::PATH).exists() {
            return Ok(Self { created: false });
        }
        fs::write(
            Self::PATH,
            "#!/bin/sh\n# written by staticpod's cargo xtask during apt-get install\nexit 101\n",
        )?;
        fs::set_permissions(
            Self::PATH,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        Ok(Self { created: true })
    }
}

impl Drop for PolicyRcD {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file(Self::PATH);
        }
    }
}
