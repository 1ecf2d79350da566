//! The agent process as the kernel and its status endpoint see it: CPU time and memory from
//! `/proc/<pid>`, and the pods its `/pods` lists.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;
use staticpod_testkit::net::http_get_body;

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 if unknown.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32, ticks: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("/proc/pid/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// A `Vm*` line of /proc/<pid>/status, in MiB.
pub fn memory_mib(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{key} in /proc/{pid}/status"))?;
    let kib: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
    Ok(kib / 1024.0)
}

/// `GET path` of the agent's status endpoint on `port`; the body of a 200 answer.
pub fn http_get(port: u16, path: &str) -> Result<String> {
    http_get_body(port, path).map_err(anyhow::Error::msg)
}

/// How many pods the agent's `/pods` lists, and how many of them are `Running`.
pub fn status_pods(port: u16) -> Result<(usize, usize)> {
    let list: Value = serde_json::from_str(&http_get(port, "/pods")?)?;
    let items = list["items"].as_array().context("items")?;
    let running = items
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    Ok((items.len(), running))
}
