//! `staticpod run`: connect to the runtime, serve the status endpoint, run the agent until
//! SIGINT or SIGTERM. Stopping the agent leaves every pod running.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use staticpod::runtimes;
use staticpod_core::agent::{Agent, AgentConfig};
use staticpod_core::source::{SourceKind, dir};
use staticpod_runtime::backend::Backend;
use staticpod_runtime::clock::SystemClock;
use tracing::info;

/// Flags of `staticpod run`, named after the kubelet's where it has them.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directory of static pod manifests, or a single manifest file.
    #[arg(long, default_value = "/etc/kubernetes/manifests")]
    pod_manifest_path: PathBuf,
    /// Which runtime to drive.
    #[arg(long, value_parser = runtimes::runtime_flag(), default_value = "docker")]
    runtime: Backend,
    /// The runtime's socket, `unix:///path`; defaults to the runtime's usual socket.
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
    /// Node name used in pod names; defaults to the host name.
    #[arg(long)]
    hostname_override: Option<String>,
    /// Where pod volumes (emptyDir) and logs live.
    #[arg(long, default_value = "/var/lib/staticpod")]
    root_dir: PathBuf,
    /// How often the manifest path is re-read besides inotify events (e.g. `20s`).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    file_check_frequency: Duration,
    /// How often the runtime is re-read besides its events; defaults to 10s for Docker and
    /// 1s for CRI (containerd 1.6 sends no events).
    #[arg(long, value_parser = humantime::parse_duration)]
    sync_frequency: Option<Duration>,
    /// Image of the sandbox (pause) container on Docker.
    #[arg(long, default_value = runtimes::DEFAULT_PAUSE_IMAGE)]
    pod_infra_container_image: String,
    /// Address of the status endpoint.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port of the status endpoint (`GET /pods`, `/manifests`, `/healthz`); 0 turns it off.
    #[arg(long, default_value_t = 10255)]
    read_only_port: u16,
}

/// Runs the agent.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_agent(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_agent(args: RunArgs) -> anyhow::Result<()> {
    let endpoint = args
        .container_runtime_endpoint
        .clone()
        .unwrap_or_else(|| args.runtime.default_endpoint().to_string());
    let runtime = runtimes::connect(args.runtime, &endpoint, &args.pod_infra_container_image)
        .await
        .with_context(|| format!("cannot use the {} runtime at {endpoint}", args.runtime))?;
    let version = runtime
        .version()
        .await
        .with_context(|| format!("cannot use the runtime at {endpoint}"))?;
    info!(
        runtime = %version.runtime_name,
        version = %version.runtime_version,
        api = %version.api_version,
        %endpoint,
        "connected to the container runtime"
    );
    std::fs::create_dir_all(&args.root_dir)
        .with_context(|| format!("cannot create --root-dir {}", args.root_dir.display()))?;
    let config = AgentConfig {
        node_name: crate::node_name(args.hostname_override.clone()),
        host_ip: host_ip(),
        root_dir: std::path::absolute(&args.root_dir)?,
        sources: [SourceKind::File].into(),
        resync_period: args.sync_frequency.unwrap_or(args.runtime.default_resync()),
    };
    let manifest_path = std::path::absolute(&args.pod_manifest_path)?;
    info!(node = %config.node_name, manifests = %manifest_path.display(), "starting");
    let agent = Agent::new(
        runtime,
        args.runtime.id_scheme(),
        config,
        Arc::new(SystemClock),
    );
    if args.read_only_port != 0 {
        let address = SocketAddr::new(args.address, args.read_only_port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for the status endpoint"))?;
        info!(%address, "status endpoint: GET /pods, /manifests, /healthz");
        tokio::spawn(crate::status_server::serve(listener, agent.status()));
    }
    let snapshots = dir::watch(manifest_path, args.file_check_frequency);
    agent.run(snapshots, shutdown_signal()).await;
    Ok(())
}

/// The node's address as other hosts see it: the source address of the default route,
/// found by connecting a UDP socket (which sends nothing). Loopback when there is no route.
fn host_ip() -> String {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:9")?;
            socket.local_addr()
        })
        .map(|address| address.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
