//! `cargo xtask bench`: brings the runtimes up as the tests do, builds the release agent,
//! runs the agent benchmark (`cli/benches/agent/`) once per runtime and the planner
//! benchmark (`core/benches/planner.rs`), then prints their tables with the machine they ran
//! on and writes everything to `target/bench/report.json` (and the printed text to
//! `target/bench/report.txt`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::runtime::{Backend, Provision};
use crate::{apt, cargo, paths, plot};
use staticpod_testkit::backend::endpoint_var;

const USAGE: &str = "usage: cargo xtask bench [--runtime docker|containerd|cri|podman|all] [--pods N] [--runs N] [--idle SECONDS]\n       cargo xtask bench --plot   (draws docs/time-to-running.svg again from target/bench/report.json)";

/// What to run.
#[derive(Debug, PartialEq)]
struct Options {
    runtimes: Vec<Backend>,
    pods: usize,
    runs: usize,
    idle_seconds: u64,
}

fn parse(args: &[&str]) -> Result<Options> {
    let mut options = Options {
        runtimes: Backend::ALL.to_vec(),
        pods: 100,
        runs: 5,
        idle_seconds: 60,
    };
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg, None),
        };
        let value = match inline {
            Some(value) => value,
            None => iter
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?,
        };
        let number = |what: &str| -> Result<u64> {
            value
                .parse()
                .ok()
                .filter(|n| *n > 0 || what == "--idle")
                .with_context(|| format!("{what} takes a positive number, not `{value}`"))
        };
        match flag {
            "--runtime" => {
                options.runtimes = match value {
                    "all" => Backend::ALL.to_vec(),
                    name => vec![name.parse()?],
                }
            }
            "--pods" => options.pods = number(flag)? as usize,
            "--runs" => options.runs = number(flag)? as usize,
            "--idle" => options.idle_seconds = number(flag)?,
            _ => bail!("unexpected argument `{arg}`\n{USAGE}"),
        }
    }
    Ok(options)
}

/// Runs the benchmarks; `args` are those after `bench`.
pub fn run(args: &[&str]) -> Result<()> {
    if args == ["--plot"] {
        let report = read_json(&paths::target().join("bench/report.json"))?;
        let pods = report["options"]["pods"].as_u64().unwrap_or_default();
        return draw(&report, pods as usize);
    }
    let options = parse(args)?;
    let out_dir = paths::target().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let load_before = load_average();

    let mut endpoints = Vec::new();
    let mut backends = Map::new();
    for runtime in &options.runtimes {
        eprintln!("xtask: bringing {} up", runtime.runtime_name());
        match runtime.up() {
            Ok(up) => endpoints.push((*runtime, up.endpoint)),
            Err(err) => {
                eprintln!(
                    "xtask: {} is not available: {err:#}",
                    runtime.runtime_name()
                );
                backends.insert(
                    runtime.name().into(),
                    json!({ "error": format!("runtime up: {err:#}") }),
                );
            }
        }
    }

    if endpoints.iter().any(|(r, _)| *r == Backend::Docker) {
        // Docker's peer in the latency rows, as `podman kube play` is Podman's.
        apt::ensure(&[apt::need("/usr/bin/docker-compose", "docker-compose")])?;
    }
    cargo::run(&["build", "--release", "-p", "staticpod"], &[])?;
    // A copy: `cargo bench` rebuilds target/release/staticpod with the dev-dependencies'
    // features (core's test-util), and the agent measured must be the one users build.
    let agent = out_dir.join("staticpod");
    std::fs::copy(cargo_target_dir().join("release/staticpod"), &agent)
        .context("copying the release agent")?;

    for (runtime, endpoint) in &endpoints {
        let json_path = out_dir.join(format!("agent-{}.json", runtime.name()));
        let _ = std::fs::remove_file(&json_path);
        let started = Instant::now();
        let result = cargo::run(
            &[
                "bench",
                "-p",
                "staticpod",
                "--bench",
                "agent",
                "--",
                "--runtime",
                runtime.name(),
                "--pods",
                &options.pods.to_string(),
                "--runs",
                &options.runs.to_string(),
                "--idle",
                &options.idle_seconds.to_string(),
                "--agent",
                path_str(&agent)?,
                "--json",
                path_str(&json_path)?,
                "--log",
                path_str(&out_dir.join(format!("agent-{}.log", runtime.name())))?,
            ],
            &[(endpoint_var(*runtime), endpoint.as_str())],
        )
        .and_then(|()| read_json(&json_path));
        let mut value = match result {
            Ok(value) => value,
            Err(err) => json!({ "error": format!("{err:#}") }),
        };
        value["endpoint"] = json!(endpoint);
        value["bench_seconds"] = json!(started.elapsed().as_secs_f64());
        backends.insert(runtime.name().into(), value);
    }

    let planner_path = out_dir.join("planner.json");
    let planner = cargo::run(
        &[
            "bench",
            "-p",
            "staticpod-core",
            "--bench",
            "planner",
            "--",
            "--json",
            path_str(&planner_path)?,
        ],
        &[],
    )
    .and_then(|()| read_json(&planner_path))
    .unwrap_or_else(|err| json!({ "error": format!("{err:#}") }));

    let machine = machine(load_before);
    let report = json!({
        "commit": output("git", &["rev-parse", "--short", "HEAD"]),
        "machine": machine,
        "options": {
            "pods": options.pods,
            "runs": options.runs,
            "idle_seconds": options.idle_seconds,
        },
        "backends": backends,
        "planner": planner,
    });
    draw(&report, options.pods)?;
    let text = render(&report);
    print!("\n{text}");
    std::fs::write(out_dir.join("report.txt"), &text)?;
    let report_path = out_dir.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)?;
    println!("\nxtask: wrote {}", report_path.display());
    let failed: Vec<&String> = backends
        .iter()
        .filter(|(_, v)| v.get("error").is_some())
        .map(|(k, _)| k)
        .collect();
    if !failed.is_empty() || planner.get("error").is_some() {
        bail!("some benchmarks failed (see the report): {failed:?}");
    }
    Ok(())
}

/// Draws `docs/time-to-running.svg` from `report` (of a run with `pods` pods).
fn draw(report: &Value, pods: usize) -> Result<()> {
    let commit = report["commit"].as_str().unwrap_or("unknown");
    let title = format!("time to running, {pods} pods written at once (commit {commit})");
    if let Some(svg) = plot::time_to_running(&report["backends"], &title) {
        let path = paths::root().join("docs/time-to-running.svg");
        std::fs::create_dir_all(path.parent().expect("docs/"))?;
        std::fs::write(&path, svg)?;
        println!("xtask: drew {}", path.display());
    }
    Ok(())
}

/// The report as text: the machine, then each table.
fn render(report: &Value) -> String {
    let mut out = String::from("machine:\n");
    for (key, value) in report["machine"].as_object().into_iter().flatten() {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        for (i, line) in value.lines().enumerate() {
            let label = if i == 0 { key.as_str() } else { "" };
            out.push_str(&format!("  {label:<16} {line}\n"));
        }
    }
    for (name, backend) in report["backends"].as_object().into_iter().flatten() {
        out.push('\n');
        match backend.get("error") {
            Some(err) => out.push_str(&format!("{name}: FAILED: {}\n", err.as_str().unwrap_or(""))),
            None => push_lines(&mut out, &backend["table"]),
        }
    }
    out.push('\n');
    match report["planner"].get("error") {
        Some(err) => out.push_str(&format!(
            "planner: FAILED: {}\n",
            err.as_str().unwrap_or("")
        )),
        None => push_lines(&mut out, &report["planner"]["table"]),
    }
    out
}

fn push_lines(out: &mut String, lines: &Value) {
    for line in lines.as_array().into_iter().flatten() {
        out.push_str(line.as_str().unwrap_or_default());
        out.push('\n');
    }
}

/// What the numbers came from: cores, memory, kernel, runtime versions, load.
fn machine(load_before: String) -> Value {
    json!({
        "cpus": output("nproc", &[]),
        "cpu model": output("sh", &["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]),
        "memory": output("free", &["-h"]),
        "kernel": output("uname", &["-sr"]),
        "docker": output("/usr/sbin/dockerd", &["--version"]),
        "containerd": output("containerd", &["--version"]),
        "podman": output("podman", &["--version"]),
        "rustc": output("rustc", &["--version"]),
        "load before": load_before,
        "load after": load_average(),
    })
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR` when set, else `target/`.
fn cargo_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => paths::root().join(dir),
        None => paths::target(),
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the bench wrote no report at {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse(&["--runtime", "cri", "--pods=10", "--idle", "0"]).unwrap();
        assert_eq!(o.runtimes, [Backend::Cri]);
        assert_eq!((o.pods, o.runs, o.idle_seconds), (10, 5, 0));
        assert_eq!(parse(&[]).unwrap().runtimes, Backend::ALL);
        assert!(parse(&["--pods", "0"]).is_err());
        assert!(parse(&["--pods"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
    }

    #[test]
    fn render_shows_tables_and_failures() {
        let report = json!({
            "machine": {"cpus": "2", "memory": "a\nb"},
            "backends": {
                "docker": {"table": ["docker — t", "  row"]},
                "podman": {"error": "runtime up: no"},
            },
            "planner": {"table": ["planner"]},
        });
        let text = render(&report);
        assert!(text.contains("  cpus             2\n"), "{text}");
        assert!(
            text.contains("  memory           a\n                   b\n"),
            "{text}"
        );
        assert!(text.contains("docker — t\n  row\n"), "{text}");
        assert!(text.contains("podman: FAILED: runtime up: no"), "{text}");
        assert!(text.ends_with("planner\n"), "{text}");
    }
}
