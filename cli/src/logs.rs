//! `staticpod logs POD`: a container's log from a running agent's read-only port, asked for
//! as `kubectl logs` asks (`pods/{name}/log`), for nodes without kubectl. Refusals print as
//! kubectl prints them: `Error from server (BadRequest): ...`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// The flags of `staticpod logs`, kubectl's names.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod, as `staticpod get pods` names it (`static-web-node0`).
    pod: String,
    /// Its namespace.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// The container; the pod's only one when it has one.
    #[arg(short, long)]
    container: Option<String>,
    /// Go on printing what the container writes until it exits.
    #[arg(short, long)]
    follow: bool,
    /// The previous instance's log (the one before the last restart).
    #[arg(short, long)]
    previous: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<u64>,
    /// Only what was written within this long (`5s`, `2m`, `3h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<Duration>,
    /// Prefix each line with its time (RFC 3339, UTC).
    #[arg(long)]
    timestamps: bool,
    /// Stop after this many bytes.
    #[arg(long)]
    limit_bytes: Option<u64>,
    /// The agent's read-only port.
    #[arg(long, default_value = "http://127.0.0.1:10255")]
    server: String,
}

/// Prints the log as it arrives.
pub fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(stream(args))
}

async fn stream(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    // No overall timeout: a followed log stays open as long as the container runs.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let base = args.server.trim_end_matches('/');
    let url = format!(
        "{base}/api/v1/namespaces/{}/pods/{}/log",
        args.namespace, args.pod
    );
    let mut response = client
        .get(url)
        .query(&query(args))
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach the agent at {}: is `staticpod run` running?",
                args.server
            )
        })?;
    if !response.status().is_success() {
        let status: serde_json::Value = response.json().await.with_context(|| {
            format!("the agent at {} did not answer with a Status", args.server)
        })?;
        let field = |key: &str| status[key].as_str().unwrap_or_default().to_string();
        eprintln!(
            "Error from server ({}): {}",
            field("reason"),
            field("message")
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = response.chunk().await? {
        stdout.write_all(&chunk)?;
        stdout.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The query of `pods/{name}/log`, as kubectl sends it.
fn query(args: &LogsArgs) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(container) = &args.container {
        query.push(("container", container.clone()));
    }
    for (key, set) in [
        ("follow", args.follow),
        ("previous", args.previous),
        ("timestamps", args.timestamps),
    ] {
        if set {
            query.push((key, "true".to_string()));
        }
    }
    if let Some(lines) = args.tail {
        query.push(("tailLines", lines.to_string()));
    }
    if let Some(since) = args.since {
        // kubectl rounds up to whole seconds, and asks for at least one.
        let seconds = since.as_secs() + u64::from(since.subsec_nanos() > 0);
        query.push(("sinceSeconds", seconds.max(1).to_string()));
    }
    if let Some(bytes) = args.limit_bytes {
        query.push(("limitBytes", bytes.to_string()));
    }
    query
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: LogsArgs,
    }

    #[test]
    fn the_flags_become_kubectls_query() {
        let args = |line: &str| Cli::try_parse_from(line.split_whitespace()).unwrap().args;
        assert_eq!(query(&args("logs web-node0")), []);
        let all = args(
            "logs web-node0 -c app -f -p --tail 5 --since 1500ms --timestamps --limit-bytes 100",
        );
        let pairs: Vec<String> = query(&all)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            pairs,
            [
                "container=app",
                "follow=true",
                "previous=true",
                "timestamps=true",
                "tailLines=5",
                "sinceSeconds=2",
                "limitBytes=100"
            ]
        );
    }
}
