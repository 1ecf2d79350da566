//! `cargo xtask deb`: staticpod's Debian package, made by cargo-deb from the metadata in
//! `cli/Cargo.toml` (`cargo deb -p staticpod`, the release profile) into `target/debian/`.
//! cargo-deb is installed with `cargo install` when it is missing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::cargo;

/// The package's name, as dpkg knows it.
pub const PACKAGE: &str = "staticpod";

/// The cargo-deb release the package is made with: the `[package.metadata.deb]` keys of
/// `cli/Cargo.toml`, and `--profile dev` (which it warns may be refused in a later release)
/// for the checked package.
const CARGO_DEB: &str = "=3.8.0";

/// Whether cargo-deb builds the binary it packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// It builds it.
    Build,
    /// It takes the one already built (`--no-build`).
    Built,
}

/// `cargo xtask deb`: builds the package as shipped and prints its path.
pub fn run() -> Result<()> {
    println!("{}", build("release", None, Binary::Build)?.display());
    Ok(())
}

/// Builds the package of the cargo `profile`'s binary into `out` (default:
/// `target/debian/`) and returns the `.deb`'s path.
pub fn build(profile: &str, out: Option<&str>, binary: Binary) -> Result<PathBuf> {
    ensure_cargo_deb()?;
    let mut args = vec!["deb", "-p", PACKAGE, "--locked", "--profile", profile];
    if binary == Binary::Built {
        args.push("--no-build");
    }
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

/// Installs cargo-deb [`CARGO_DEB`] unless it is the one installed.
fn ensure_cargo_deb() -> Result<()> {
    let installed = cargo::stdout(&["deb", "--version"]).unwrap_or_default();
    if String::from_utf8_lossy(&installed).trim() == format!("cargo-deb {}", &CARGO_DEB[1..]) {
        return Ok(());
    }
    eprintln!(
        "xtask: cargo-deb {} is missing; installing it",
        &CARGO_DEB[1..]
    );
    cargo::run(
        &[
            "install",
            "cargo-deb",
            "--locked",
            "--force",
            "--version",
            CARGO_DEB,
        ],
        &[],
    )
    .context("installing cargo-deb")
}
