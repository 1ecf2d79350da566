//! `staticpod`: run Kubernetes static pods without a control plane.

mod completion;
mod get;
mod logs;
mod man;
mod run;
mod settings;
mod systemd;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Run Kubernetes static pods (Pod manifests in a directory) on Docker, containerd or Podman.
#[derive(Debug, Parser)]
#[command(name = "staticpod", version = env!("STATICPOD_LONG_VERSION"), about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pods of a manifest directory and keep them as the manifests say.
    // Boxed: its flags outweigh the other commands' many times over.
    Run(Box<settings::RunArgs>),
    /// Show pods, as `kubectl get pods` does, from a running agent's read-only port.
    Get {
        /// What to show: `pods` (or `pod`, `po`).
        resource: String,
        /// The agent's status endpoint.
        #[arg(long, default_value = "http://127.0.0.1:10255")]
        server: String,
    },
    /// Print a container's log, as `kubectl logs` does, from a running agent's read-only port.
    Logs(logs::LogsArgs),
    /// Check manifests (files, directories or a URL) and a kubelet configuration as `run`
    /// would read them; exit 1 on any error.
    Validate {
        /// Manifest files or directories, or a manifest URL (`http://`, `https://`).
        #[arg(required_unless_present = "config")]
        paths: Vec<String>,
        /// A kubelet configuration file (`kind: KubeletConfiguration`) to check.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Headers for a manifest URL, as `run --manifest-url-header`.
        #[arg(long)]
        manifest_url_header: Vec<String>,
        /// Node name appended to pod names (`--hostname-override` of `run`).
        #[arg(long)]
        hostname_override: Option<String>,
    },
    /// Print the shell completion script for bash, zsh, fish (or elvish, powershell), as
    /// `kubectl completion` does: `source <(staticpod completion bash)`. The Debian package
    /// installs the bash, zsh and fish ones.
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (`staticpod.1`, `staticpod-run.1`, ...) into a directory: how
    /// `cargo xtask codegen` makes the package's.
    #[command(hide = true)]
    Man {
        /// The directory to write them into (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Get { resource, server } => get::get(&resource, &server),
        Command::Logs(args) => logs::logs(&args),
        Command::Validate {
            paths,
            config,
            manifest_url_header,
            hostname_override,
        } => validate::validate(&validate::Targets {
            paths,
            config,
            headers: manifest_url_header,
            node: node_name(hostname_override),
        }),
        Command::Completion { shell } => completion::print(shell, Cli::command()),
        Command::Man { dir } => man::write(Cli::command(), &dir),
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
