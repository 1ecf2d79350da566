//! `cargo xtask deb`: staticpod's Debian package, made by cargo-deb from the metadata in
//! `cli/Cargo.toml` (`cargo deb -p staticpod`, the release profile) into `target/debian/`.
//! cargo-deb is installed with `cargo install` when it is missing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::cargo;

/// The package's name, as dpkg knows it.
pub const PACKAGE: &str = "staticpod";

/// The cargo-deb releases whose `[package.metadata.deb]` keys `cli/Cargo.toml` uses.
const CARGO_DEB: &str = "^3";

/// `cargo xtask deb`: builds the package as shipped and prints its path.
pub fn run() -> Result<()> {
    println!("{}", build("release", None)?.display());
    Ok(())
}

/// Builds the package from the cargo `profile` into `out` (default: `target/debian/`) and
/// returns the `.deb`'s path.
pub fn build(profile: &str, out: Option<&str>) -> Result<PathBuf> {
    ensure_cargo_deb()?;
    let mut args = vec!["deb", "-p", PACKAGE, "--locked", "--profile", profile];
    if let Some(out) = out {
        args.extend(["--output", out]);
    }
    let stdout = cargo::stdout(&args)?;
    // cargo-deb prints the path of what it wrote, alone on the last line.
    let stdout = String::from_utf8(stdout).context("cargo deb printed a path that is not UTF-8")?;
    let Some(deb) = stdout.lines().rev().find(|line| line.ends_with(".deb")) else {
        bail!("cargo deb did not say where it wrote the package; it printed:\n{stdout}");
    };
    Ok(PathBuf::from(deb.trim()))
}

/// Installs cargo-deb unless `cargo deb` already runs.
fn ensure_cargo_deb() -> Result<()> {
    if cargo::stdout(&["deb", "--version"]).is_ok() {
        return Ok(());
    }
    eprintln!("xtask: cargo-deb is missing; installing it");
    cargo::run(
        &["install", "cargo-deb", "--locked", "--version", CARGO_DEB],
        &[],
    )
    .context("installing cargo-deb")
}
