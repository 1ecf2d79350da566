//! `staticpod get pods`: `NAME READY STATUS RESTARTS AGE`, as `kubectl get pods` prints it,
//! from a running agent's status endpoint; manifest errors are printed after the table.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use staticpod_core::ingest::ManifestReport;
use staticpod_core::status::{PodListView, PodView, display_status};

/// Prints the pods.
pub fn get(resource: &str, server: &str) -> anyhow::Result<ExitCode> {
    if !matches!(resource, "pods" | "pod" | "po") {
        anyhow::bail!("unknown resource {resource:?}: only `pods` can be listed");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (pods, manifests, health) = runtime.block_on(fetch(server))?;
    print!("{}", table(&pods, SystemTime::now()));
    if let Some(problem) = health {
        eprintln!(
            "warning: the agent cannot reach its runtime, this status may be stale: {}",
            problem.trim()
        );
    }
    for report in &manifests {
        for diagnostic in &report.diagnostics {
            eprintln!("{diagnostic}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pods, the manifest reports, and the agent's health problem if it has one.
async fn fetch(server: &str) -> anyhow::Result<(PodListView, Vec<ManifestReport>, Option<String>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = server.trim_end_matches('/');
    let pods = client
        .get(format!("{base}/pods"))
        .send()
        .await
        .with_context(|| {
            format!("cannot reach the agent at {server}: is `staticpod run` running?")
        })?
        .error_for_status()?
        .json()
        .await
        .context("the agent's /pods answer is not a PodList")?;
    let manifests = client
        .get(format!("{base}/manifests"))
        .send()
        .await?
        .json()
        .await
        .context("the agent's /manifests answer is not a list of manifest reports")?;
    let health = client.get(format!("{base}/healthz")).send().await?;
    let problem = if health.status().is_success() {
        None
    } else {
        Some(health.text().await?)
    };
    Ok((pods, manifests, problem))
}

fn table(pods: &PodListView, now: SystemTime) -> String {
    let rows: Vec<[String; 5]> = pods.items.iter().map(|pod| row(pod, now)).collect();
    let header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn row(pod: &PodView, now: SystemTime) -> [String; 5] {
    let status = &pod.status;
    let ready = status.container_statuses.iter().filter(|c| c.ready).count();
    let restarts: u32 = status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .sum();
    let age = status
        .start_time
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|start| now.duration_since(start).ok())
        .map_or_else(|| "<unknown>".to_string(), short_age);
    [
        pod.metadata.name.clone(),
        format!("{ready}/{}", status.container_statuses.len()),
        display_status(pod),
        restarts.to_string(),
        age,
    ]
}

/// kubectl's short ages: `45s`, `3m12s`, `5h`, `2d`.
fn short_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(short_age(Duration::from_secs(45)), "45s");
        assert_eq!(short_age(Duration::from_secs(192)), "3m12s");
        assert_eq!(short_age(Duration::from_secs(3600)), "60m");
        assert_eq!(short_age(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(short_age(Duration::from_secs(3 * 86400)), "3d");
    }
}
