//! `cargo xtask test --faults`: the fault matrix (`cli/tests/faults.rs`, RELIABILITY.md's
//! "Fault matrix") on every wired runtime, one after the other (one `cargo test` each, its
//! cases one after the other), then the per-fault, per-backend table. Not side by side:
//! run so on two cores, the daemons' restarts and the load of the others made containerd's
//! 2a and 6 fail, which pass alone.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::runtime::{Backend, Provision};
use crate::{cargo, paths};
use staticpod_testkit::backend::endpoint_var;

/// Brings `runtimes` up, runs the matrix on each with `extra` test arguments, prints the
/// table, and fails if any row failed. Returns the table's summary line.
pub fn run(runtimes: &[Backend], extra: &[&str]) -> Result<String> {
    let mut env = Vec::new();
    for runtime in runtimes {
        let up = runtime
            .up()
            .with_context(|| format!("bringing {} up", runtime.runtime_name()))?;
        env.push((endpoint_var(*runtime).to_string(), up.endpoint));
    }
    let report = paths::target().join("faults").join("report.jsonl");
    std::fs::create_dir_all(report.parent().expect("a parent"))?;
    let _ = std::fs::remove_file(&report);
    let build = Command::new(cargo::program())
        .args(["test", "-p", "staticpod", "--test", "faults", "--no-run"])
        .current_dir(paths::root())
        .status()
        .context("building the fault matrix")?;
    if !build.success() {
        bail!("the fault matrix did not build");
    }
    let xtask = std::env::current_exe()?;
    let start = Instant::now();
    let mut all_ran = true;
    for runtime in runtimes {
        let filters = filters(runtime.name(), extra);
        let mut args = vec![
            "test",
            "-p",
            "staticpod",
            "--test",
            "faults",
            "--",
            "--ignored",
            "--test-threads=1",
        ];
        args.extend(filters.iter().map(String::as_str));
        eprintln!(
            "xtask: fault matrix on {}: cargo {}",
            runtime.runtime_name(),
            args.join(" ")
        );
        let status = Command::new(cargo::program())
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("STATICPOD_FAULTS_REPORT", &report)
            .env("STATICPOD_XTASK", &xtask)
            .current_dir(paths::root())
            .stdin(Stdio::null())
            .status()
            .context("running the fault matrix")?;
        all_ran &= status.success();
    }
    let mut rows = read_rows(&report)?;
    // Fault names start with their number in the order (`1 agent SIGKILL ...`).
    rows.sort_by_key(|r| (text(&r["fault"]), text(&r["backend"])));
    print_table(&rows);
    let failed = rows.iter().filter(|r| r["result"] == "FAIL").count();
    let skipped = rows.iter().filter(|r| r["result"] == "skipped").count();
    let summary = format!(
        "{} rows: {} pass, {failed} failed, {skipped} skipped, in {:.0} s",
        rows.len(),
        rows.len() - failed - skipped,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 || !all_ran {
        bail!(
            "fault matrix: {summary} (a case that panicked before its row is in the output above)"
        );
    }
    Ok(summary)
}

/// The test arguments for `backend`'s copy: each case name becomes `matrix::<backend>::name`
/// (libtest ORs its filters), no name means the whole copy; flags pass as they are, and so
/// does the value after `--skip`.
fn filters(backend: &str, extra: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut named = false;
    let mut value = false;
    for arg in extra {
        if value || arg.starts_with('-') {
            value = *arg == "--skip";
            out.push(arg.to_string());
        } else {
            named = true;
            out.push(format!("matrix::{backend}::{arg}"));
        }
    }
    if !named {
        out.push(format!("matrix::{backend}::"));
    }
    out
}

fn read_rows(report: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(report).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("a row of {}", report.display())))
        .collect()
}

/// The table, a Markdown one so RELIABILITY.md can take it as printed.
fn print_table(rows: &[Value]) {
    println!("\nfault matrix:");
    println!(
        "| fault | backend | lost | doubled | leftovers | agent restarts / exits | expected | observed | result | s |"
    );
    println!("| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            text(&r["fault"]),
            text(&r["backend"]),
            r["lost"],
            r["doubled"],
            r["leftovers"],
            r["agent_restarts"],
            r["agent_exits"],
            text(&r["expected"]),
            text(&r["observed"]).replace('|', "/"),
            text(&r["result"]),
            r["seconds"]
        );
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_select_one_backends_copy() {
        assert_eq!(filters("cri", &[]), ["matrix::cri::"]);
        assert_eq!(
            filters("docker", &["root_dir_full", "--nocapture"]),
            ["matrix::docker::root_dir_full", "--nocapture"]
        );
        assert_eq!(
            filters("podman", &["--skip", "matrix::docker::runtime_"]),
            ["--skip", "matrix::docker::runtime_", "matrix::podman::"]
        );
    }
}
