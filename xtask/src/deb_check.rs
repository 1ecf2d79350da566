//! The Debian package checked as an operator uses it (`cargo xtask deb --check`, and a phase
//! of `cargo xtask test`; as root): built by cargo-deb, checked by lintian, installed with
//! `dpkg -i`, then run, read and verified where it installed, removed with `dpkg -r` and purged
//! with `dpkg -P`, each step checked on disk.
//!
//! The checked package holds the debug binary the tests build anyway (`--profile dev
//! --no-build`; cargo-deb strips it): what is checked is the package, and a release build
//! would cost a 2-core machine most of the test command's time. `cargo xtask deb` ships the
//! release one. It is purged at the end whatever failed, and first when an earlier run left
//! it installed.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::apt::{self, Need, need};
use crate::cargo;
use crate::deb::{self, PACKAGE};
use crate::paths;

/// The cargo profile whose binary the checked package holds.
const PROFILE: &str = "dev";
/// What the package installs, where the checks look for it.
const BINARY: &str = "/usr/bin/staticpod";
const CONFFILE: &str = "/etc/default/staticpod";
const UNIT: &str = "/usr/lib/systemd/system/staticpod.service";
const MAN_PAGE: &str = "/usr/share/man/man1/staticpod.1.gz";
/// `cli/debian/changelog`, as dpkg installs it: its first entry must be the package's version.
const CHANGELOG: &str = "/usr/share/doc/staticpod/changelog.Debian.gz";
const COMPLETIONS: [&str; 3] = [
    "/usr/share/bash-completion/completions/staticpod",
    "/usr/share/zsh/vendor-completions/_staticpod",
    "/usr/share/fish/vendor_completions.d/staticpod.fish",
];
/// The symlink `systemctl enable` makes (deb-systemd-helper makes it without a running systemd).
const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/staticpod.service";
/// deb-systemd-helper's record of the links it made, which purge removes.
const ENABLED_STATE: &str =
    "/var/lib/systemd/deb-systemd-helper-enabled/staticpod.service.dsh-also";

/// The tools the checks run, by the Debian package that has them.
const TOOLS: &[Need] = &[
    need("/usr/bin/lintian", "lintian"),
    need("/usr/bin/systemd-analyze", "systemd"),
    need("/usr/bin/man", "man-db"),
    need("/usr/bin/deb-systemd-helper", "init-system-helpers"),
];

/// Builds, installs, checks, removes and purges the package; returns what was checked, for
/// the summary.
pub fn run() -> Result<String> {
    apt::ensure(TOOLS)?;
    refuse_files_of_no_package()?;
    purge_left_over()?;
    let start = Instant::now();
    let out = paths::xtask_dir().join("deb-check");
    cargo::run(&["build", "-p", PACKAGE, "--locked"], &[])?;
    let deb = deb::build(
        PROFILE,
        Some(out.to_str().context("target/ is not a UTF-8 path")?),
        deb::Binary::Built,
    )?;
    let built = start.elapsed().as_secs();
    let deb = deb
        .to_str()
        .context("the .deb's path is not UTF-8")?
        .to_string();
    let lintian = lintian(&deb)?;
    let installed = Installed::new(&deb)?;
    let unit = installed.check()?;
    installed.remove_and_purge()?;
    Ok(format!(
        "packaged in {built} s (the {PROFILE} binary); lintian: {lintian}; dpkg -i: --version, man, \
         conffile, changelog, completions, {unit}, systemd-analyze verify; dpkg -r keeps the \
         conffile; dpkg -P leaves nothing"
    ))
}

/// Fails when a file the package installs is there and belongs to no package: `dpkg -i`
/// would overwrite it, and purging would remove it.
fn refuse_files_of_no_package() -> Result<()> {
    for path in [BINARY, CONFFILE] {
        if Path::new(path).exists() && !output("dpkg", &["-S", path])?.0 {
            bail!(
                "{path} exists and is no package's: move it away for the package check (which \
                 installs and purges the {PACKAGE} package)"
            );
        }
    }
    Ok(())
}

/// Purges the package when an earlier run (or anyone) left it installed.
fn purge_left_over() -> Result<()> {
    if let Some(status) = status()? {
        eprintln!("xtask: {PACKAGE} is on this machine ({status}); purging it first");
        checked("dpkg", &["--purge", PACKAGE])?;
    }
    Ok(())
}

/// lintian's findings: fails on any error; returns the warnings' count and tags.
fn lintian(deb: &str) -> Result<String> {
    let (ok, text) = output("lintian", &["--fail-on", "error", deb])?;
    let tags = |level: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.strip_prefix(level))
            .map(|finding| {
                finding
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or(finding)
                    .to_string()
            })
            .collect()
    };
    let errors = tags("E: ");
    if !ok || !errors.is_empty() {
        bail!("lintian found errors in {deb}:\n{text}");
    }
    eprintln!("xtask: lintian {deb}:\n{text}");
    Ok(match tags("W: ").as_slice() {
        [] => "no errors, no warnings".to_string(),
        warnings => format!("no errors, warnings: {}", warnings.join(", ")),
    })
}

/// The package, installed by [`Installed::new`]; purged when dropped if anything of it is
/// left, whatever failed.
struct Installed;

impl Installed {
    fn new(deb: &str) -> Result<Self> {
        checked("dpkg", &["--install", deb])?;
        Ok(Self)
    }

    /// Every check of the installed package; returns what was found of the unit.
    fn check(&self) -> Result<String> {
        let version = checked(BINARY, &["--version"])?;
        let expected = format!("staticpod {}", env!("CARGO_PKG_VERSION"));
        if !version.starts_with(&expected) {
            bail!("{BINARY} --version said {version:?}, not {expected} ...");
        }
        for (page, expect) in [
            ("staticpod", "staticpod-run(1)"),
            ("staticpod-run", "--pod-manifest-path"),
        ] {
            let text = checked("man", &["-P", "cat", page])?;
            if !text.contains(expect) {
                bail!("`man {page}` does not show {expect:?}:\n{text}");
            }
        }
        let conffiles = dpkg_field("Conffiles")?;
        if !conffiles.contains(CONFFILE) {
            bail!("{CONFFILE} is not a conffile of {PACKAGE}: dpkg lists {conffiles:?}");
        }
        let changelog = checked("zcat", &[CHANGELOG])?;
        let entry = format!("{PACKAGE} ({})", dpkg_field("Version")?);
        if !changelog.starts_with(&entry) {
            bail!(
                "the changelog's first entry is not {entry}: add one for this version to \
                 cli/debian/changelog"
            );
        }
        for path in [MAN_PAGE].iter().chain(&COMPLETIONS) {
            if !Path::new(path).is_file() {
                bail!("the package did not install {path}");
            }
        }
        let unit = enabled_not_started()?;
        let verify = checked("systemd-analyze", &["verify", UNIT])?;
        if let Some(line) = verify.lines().find(|line| line.contains("staticpod")) {
            bail!("systemd-analyze verify {UNIT}: {line}\n{verify}");
        }
        Ok(unit)
    }

    /// `dpkg -r`: the files go, the conffile stays; `dpkg -P`: everything goes.
    fn remove_and_purge(&self) -> Result<()> {
        checked("dpkg", &["--remove", PACKAGE])?;
        if let Some(left) = [BINARY, UNIT, MAN_PAGE, CHANGELOG]
            .iter()
            .chain(&COMPLETIONS)
            .find(|path| Path::new(path).exists())
        {
            bail!("dpkg -r {PACKAGE} left {left}");
        }
        if !Path::new(CONFFILE).is_file() {
            bail!("dpkg -r {PACKAGE} removed the conffile {CONFFILE}, which only a purge may");
        }
        if status()?.as_deref() != Some("config-files") {
            bail!(
                "after dpkg -r, dpkg says {PACKAGE} is {:?}, not config-files",
                status()?
            );
        }
        checked("dpkg", &["--purge", PACKAGE])?;
        // `symlink_metadata`: the enablement link dangles once the unit is removed.
        if let Some(left) = [CONFFILE, WANTS, ENABLED_STATE]
            .into_iter()
            .find(|path| fs::symlink_metadata(path).is_ok())
        {
            bail!("dpkg -P {PACKAGE} left {left}");
        }
        if let Some(status) = status()? {
            bail!("after dpkg -P, dpkg still knows {PACKAGE} ({status})");
        }
        Ok(())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if matches!(status(), Ok(None)) {
            return;
        }
        if let Err(err) = checked("dpkg", &["--purge", PACKAGE]) {
            eprintln!("xtask: purging {PACKAGE} after a failed check: {err:#}");
        }
    }
}

/// Checks that the unit is enabled and not running, and says how it was seen. Without systemd
/// as PID 1 (`systemctl is-enabled` needs it), enabled is the `multi-user.target.wants` link
/// and deb-systemd-helper's record of it; not started is no process running the binary.
fn enabled_not_started() -> Result<String> {
    let link = fs::read_link(WANTS).with_context(|| format!("{WANTS}: the unit is not enabled"))?;
    // deb-systemd-helper links to /lib/systemd/system/, the package ships under /usr/lib/:
    // one file on a merged-/usr system, which Debian has been since bookworm.
    if fs::canonicalize(&link).ok() != Some(fs::canonicalize(UNIT)?) {
        bail!("{WANTS} points to {}, not {UNIT}", link.display());
    }
    if !Path::new(ENABLED_STATE).is_file() {
        bail!("deb-systemd-helper has no record of enabling the unit ({ENABLED_STATE})");
    }
    if let Some(pid) = running(BINARY)? {
        bail!("{BINARY} runs (pid {pid}) after the install: the unit must not be started");
    }
    if !Path::new("/run/systemd/system").is_dir() {
        return Ok(
            "unit enabled (multi-user.target.wants link, deb-systemd-helper state) and \
                   not started (no staticpod process; systemd is not PID 1)"
                .to_string(),
        );
    }
    let (_, enabled) = output("systemctl", &["is-enabled", "staticpod"])?;
    let (_, active) = output("systemctl", &["is-active", "staticpod"])?;
    if enabled.trim() != "enabled" || active.trim() != "inactive" {
        bail!(
            "systemctl says the unit is {} and {}",
            enabled.trim(),
            active.trim()
        );
    }
    Ok("unit enabled and inactive (systemctl, the wants link, no staticpod process)".to_string())
}

/// The pid of a process running `program`, if one does.
fn running(program: &str) -> Result<Option<u32>> {
    for entry in fs::read_dir("/proc")? {
        let entry = entry?;
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == Path::new(program)) {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// dpkg's status of the package (`installed`, `config-files`, ...); `None` when it knows
/// nothing of it, or only that it is gone.
fn status() -> Result<Option<String>> {
    let (known, text) = output(
        "dpkg-query",
        &["--show", "--showformat=${db:Status-Status}", PACKAGE],
    )?;
    let status = text.trim();
    Ok((known && !status.is_empty() && status != "not-installed").then(|| status.to_string()))
}

/// A field of the installed package's dpkg record (`Version`, `Conffiles`, ...).
fn dpkg_field(field: &str) -> Result<String> {
    let format = format!("--showformat=${{{field}}}");
    checked("dpkg-query", &["--show", &format, PACKAGE])
}

/// Runs `program ARGS`; fails, with what it printed, unless it exits 0.
fn checked(program: &str, args: &[&str]) -> Result<String> {
    let (ok, text) = output(program, args)?;
    if !ok {
        bail!("{program} {} failed:\n{text}", args.join(" "));
    }
    Ok(text)
}

/// Runs `program ARGS` with no stdin and no prompts: whether it exited 0, and its stdout and
/// stderr.
fn output(program: &str, args: &[&str]) -> Result<(bool, String)> {
    let output = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}
