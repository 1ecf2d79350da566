//! systemd's service protocol (`sd_notify(3)`), for `Type=notify` units: `READY=1` once the
//! agent has settled (the runtime answered and the first pass started or adopted every pod),
//! `STATUS=` with what the node runs, `WATCHDOG=1` from the agent's own loop when the unit
//! asks for a watchdog, `STOPPING=1` on the way out. Without `NOTIFY_SOCKET` nothing is sent.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use staticpod_core::agent::{Agent, NodeStatus};
use staticpod_core::diagnostic::Severity;
use tokio::sync::watch;
use tracing::{debug, info};

/// The agent, feeding systemd's watchdog from its loop when `WATCHDOG_USEC` asks for one:
/// every half of the timeout, as `sd_watchdog_enabled(3)` advises.
pub fn with_watchdog(agent: Agent) -> Agent {
    let Some(timeout) = watchdog_timeout(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
    ) else {
        return agent;
    };
    let every = timeout / 2;
    info!(?timeout, ?every, "systemd watchdog");
    agent.with_heartbeat(every, || send(&[NotifyState::Watchdog]))
}

/// The watchdog timeout as `sd_watchdog_enabled(3)` reads it: `WATCHDOG_USEC`, for this
/// process when `WATCHDOG_PID` names it or is not set. (`sd_notify::watchdog_enabled`
/// refuses a missing `WATCHDOG_PID`, which libsystemd accepts.)
fn watchdog_timeout(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok().filter(|&usec| usec > 0)?;
    match pid.map(str::parse::<u32>) {
        Some(Ok(pid)) if pid != std::process::id() => None,
        Some(Err(_)) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

/// Tells systemd `READY=1` when `status` first says settled, and `STATUS=` whenever the
/// summary changes. Runs until the agent's status feed closes.
pub async fn report(mut status: watch::Receiver<Arc<NodeStatus>>) {
    let mut ready = false;
    let mut said = String::new();
    loop {
        let (settled, summary) = {
            let status = status.borrow_and_update();
            (status.settled, summary(&status))
        };
        let mut states = Vec::new();
        if settled && !ready {
            states.push(NotifyState::Ready);
            ready = true;
        }
        if summary != said {
            states.push(NotifyState::Status(&summary));
        }
        if !states.is_empty() {
            send(&states);
        }
        said = summary;
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Tells systemd the service is stopping.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping; pods keep running"),
    ]);
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(false, states) {
        debug!(%error, "cannot notify systemd");
    }
}

/// `systemctl status`'s line: what runs, what waits, what is wrong.
fn summary(status: &NodeStatus) -> String {
    if let Some(error) = &status.runtime_error {
        return format!("container runtime unavailable: {error}");
    }
    if !status.awaiting.is_empty() {
        return "waiting for the first reading of the manifests".to_string();
    }
    let pods = status.pods.items.len();
    let running = status
        .pods
        .items
        .iter()
        .filter(|p| p.status.phase == "Running")
        .count();
    let invalid = status
        .manifests
        .iter()
        .filter(|m| m.diagnostics.iter().any(|d| d.severity == Severity::Error))
        .count();
    let mut line = format!("{running} of {} running", plural(pods, "pod"));
    if invalid > 0 {
        line.push_str(&format!(", {} with errors", plural(invalid, "manifest")));
    }
    line
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use staticpod_core::diagnostic::Diagnostic;
    use staticpod_core::ingest::ManifestReport;
    use staticpod_core::status::PodView;

    fn pod(phase: &str) -> PodView {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-node0", "uid": "u"},
            "spec": {"containers": []},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn the_watchdog_is_for_this_process_or_any_when_no_pid_is_named() {
        let me = std::process::id().to_string();
        let two = Some(Duration::from_secs(2));
        assert_eq!(watchdog_timeout(Some("2000000"), None), two);
        assert_eq!(watchdog_timeout(Some("2000000"), Some(&me)), two);
        assert_eq!(watchdog_timeout(Some("2000000"), Some("1")), None);
        assert_eq!(watchdog_timeout(Some("0"), None), None);
        assert_eq!(watchdog_timeout(Some("soon"), None), None);
        assert_eq!(watchdog_timeout(None, Some(&me)), None);
    }

    #[test]
    fn the_status_line_says_what_runs_and_what_is_wrong() {
        let mut status = NodeStatus::default();
        status.pods.items = vec![pod("Running"), pod("Pending")];
        assert_eq!(summary(&status), "1 of 2 pods running");
        status.pods.items.pop();
        assert_eq!(summary(&status), "1 of 1 pod running");
        let error = Diagnostic {
            severity: Severity::Error,
            file: "/m/web.yaml".into(),
            position: None,
            field: None,
            message: "bad".into(),
        };
        status.manifests = vec![ManifestReport {
            file: "/m/web.yaml".into(),
            pods: Vec::new(),
            stale: true,
            diagnostics: vec![error],
            poll: None,
        }];
        assert_eq!(
            summary(&status),
            "1 of 1 pod running, 1 manifest with errors"
        );
        status.runtime_error = Some("connection refused".into());
        assert_eq!(
            summary(&status),
            "container runtime unavailable: connection refused"
        );
    }
}
