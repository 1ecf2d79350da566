//! The agent's log: when it wrote its own lines for a pod, read from their timestamps.

use std::time::SystemTime;

/// When the agent logged its steps for one pod, in the order of the log.
#[derive(Debug, Default)]
pub struct LogTimes {
    /// `sandbox started` lines.
    pub sandbox_started: Vec<SystemTime>,
    /// `container started` lines.
    pub container_started: Vec<SystemTime>,
    /// `killing pod` lines.
    pub killing: Vec<SystemTime>,
}

/// Times of the agent's "sandbox started", "container started" and "killing pod" lines for
/// pod `full_name` (lines look like `2025-01-01T12:00:00.123456Z  INFO pod{pod=default/x}: …`).
pub fn parse_log(log: &str, full_name: &str) -> LogTimes {
    let span = format!("pod{{pod=default/{full_name}}}");
    let mut times = LogTimes::default();
    for line in log.lines().filter(|l| l.contains(&span)) {
        let Some(at) = line
            .split_whitespace()
            .next()
            .and_then(|at| humantime::parse_rfc3339(at).ok())
        else {
            continue;
        };
        if line.contains("sandbox started") {
            times.sandbox_started.push(at);
        } else if line.contains("container started") {
            times.container_started.push(at);
        } else if line.contains("killing pod") {
            times.killing.push(at);
        }
    }
    times
}
