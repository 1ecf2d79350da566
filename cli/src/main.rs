//! `staticpod`: run Kubernetes static pods without a control plane.

mod get;
mod run;
mod status_server;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run Kubernetes static pods (Pod manifests in a directory) on Docker, containerd or Podman.
#[derive(Debug, Parser)]
#[command(name = "staticpod", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pods of a manifest directory and keep them as the manifests say.
    Run(run::RunArgs),
    /// Show pods, as `kubectl get pods` does, from a running agent's status endpoint.
    Get {
        /// What to show: `pods` (or `pod`, `po`).
        resource: String,
        /// The agent's status endpoint.
        #[arg(long, default_value = "http://127.0.0.1:10255")]
        server: String,
    },
    /// Check manifests as `run` would read them; exit 1 on any error.
    Validate {
        /// Manifest files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Node name appended to pod names (`--hostname-override` of `run`).
        #[arg(long)]
        hostname_override: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Get { resource, server } => get::get(&resource, &server),
        Command::Validate {
            paths,
            hostname_override,
        } => validate::validate(&paths, hostname_override),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("staticpod: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The node name: `--hostname-override`, else the host's name, lower-cased as the kubelet does.
fn node_name(hostname_override: Option<String>) -> String {
    hostname_override
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_else(|| "localhost".to_string())
        .trim()
        .to_lowercase()
}
