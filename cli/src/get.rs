//! `staticpod get pods`: `NAME READY STATUS RESTARTS AGE`, the Table the agent's read-only
//! port serves to kubectl (every namespace), printed as kubectl prints it; manifest errors
//! are printed after the table.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use staticpod_api::table::Table;
use staticpod_core::ingest::ManifestReport;

/// What kubectl sends to get a Table.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Prints the pods.
pub fn get(resource: &str, server: &str) -> anyhow::Result<ExitCode> {
    if !matches!(resource, "pods" | "pod" | "po") {
        anyhow::bail!("unknown resource {resource:?}: only `pods` can be listed");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (pods, manifests, health) = runtime.block_on(fetch(server))?;
    print!("{}", pods.render(false));
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

/// The pods' Table, the manifest reports, and the agent's health problem if it has one.
async fn fetch(server: &str) -> anyhow::Result<(Table, Vec<ManifestReport>, Option<String>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = server.trim_end_matches('/');
    let pods = client
        .get(format!("{base}/api/v1/pods"))
        .header(reqwest::header::ACCEPT, TABLE)
        .send()
        .await
        .with_context(|| {
            format!("cannot reach the agent at {server}: is `staticpod run` running?")
        })?
        .error_for_status()?
        .json()
        .await
        .context("the agent's /api/v1/pods answer is not a Table")?;
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
