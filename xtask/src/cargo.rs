//! Running cargo (the one that runs xtask: `$CARGO`) in the workspace root.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::paths;

/// The cargo to run: `$CARGO`, as cargo sets it for xtask, else `cargo` from the `PATH`.
pub fn program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Runs `cargo ARGS` in the workspace root with `env`, its output going straight through.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = program();
    eprintln!("xtask: {cargo} {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(paths::root())
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `cargo ARGS` in the workspace root and returns its stdout; its stderr goes straight
/// through.
pub fn stdout(args: &[&str]) -> Result<Vec<u8>> {
    let cargo = program();
    eprintln!("xtask: {cargo} {}", args.join(" "));
    let output = Command::new(&cargo)
        .args(args)
        .current_dir(paths::root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo}"))?;
    if !output.status.success() {
        bail!("cargo {} failed ({})", args.join(" "), output.status);
    }
    Ok(output.stdout)
}
