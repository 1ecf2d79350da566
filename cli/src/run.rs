//! `staticpod run`: connect to the runtime, open the manifest sources, serve the read-only
//! port and the health endpoint, tell systemd how it goes, run the agent until SIGINT or
//! SIGTERM. Stopping the agent leaves every pod running.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use staticpod::runtimes;
use staticpod_api::{NodeApi, server};
use staticpod_core::agent::{Agent, AgentConfig};
use staticpod_core::node::HostFacts;
use staticpod_core::source::{self, SourceKind, dir, http};
use staticpod_runtime::clock::SystemClock;
use tracing::info;

use crate::settings::RunArgs;
use crate::systemd;

/// Runs the agent.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.logging_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_agent(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_agent(args: RunArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    let endpoint = &settings.endpoint;
    let log_rotation = Some(settings.log_rotation.clone());
    let runtime = runtimes::connect(
        settings.runtime,
        endpoint,
        &settings.pause_image,
        log_rotation,
    )
    .await
    .with_context(|| format!("cannot use the {} runtime at {endpoint}", settings.runtime))?;
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
    for (flag, dir) in [
        ("--root-dir", &settings.dirs.root),
        ("--pod-logs-dir", &settings.dirs.pod_logs),
    ] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {flag} {}", dir.display()))?;
    }
    let mut sources = Vec::new();
    let mut kinds = BTreeSet::new();
    if let Some((path, check_frequency)) = &settings.manifest_path {
        info!(path = %path.display(), "manifest directory");
        sources.push(dir::watch(path.clone(), *check_frequency));
        kinds.insert(SourceKind::File);
    }
    if let Some((url, check_frequency)) = &settings.manifest_url {
        info!(url = %url.url, headers = url.headers.len(), "manifest URL");
        sources.push(http::watch(
            http::Poller::new(url.clone())?,
            *check_frequency,
        ));
        kinds.insert(SourceKind::Http);
    }
    let config = AgentConfig {
        node_name: settings.node_name.clone(),
        host_ip: host_ip(),
        dirs: settings.dirs.clone(),
        sources: kinds,
        host: HostFacts::read(),
        runtime_version: format!(
            "{}://{}",
            settings.runtime.id_scheme(),
            version.runtime_version
        ),
        resync_period: settings.sync_frequency,
        seccomp_default: settings.seccomp_default,
        unsafe_sysctls: settings.unsafe_sysctls.clone(),
        dns: settings.dns.clone(),
        crash_backoff: settings.crash_backoff,
        runtime_request_timeout: settings.runtime_request_timeout,
    };
    info!(node = %config.node_name, "starting");
    let agent = systemd::with_watchdog(Agent::new(
        runtime,
        settings.runtime.id_scheme(),
        config,
        Arc::new(SystemClock),
    ));
    tokio::spawn(systemd::report(agent.status()));
    if let Some(address) = settings.read_only {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for the read-only port"))?;
        info!(%address, "read-only port: the node's API (kubectl --server http://{address}), /pods, /manifests, /healthz, /metrics");
        let api = NodeApi::new(agent.status(), agent.events(), agent.metrics());
        tokio::spawn(server::serve(listener, api, agent.runtime()));
    }
    if let Some(address) = settings.healthz {
        // As the kubelet, a health port that cannot be opened is an error in the log, not a
        // reason to stop running the node's pods.
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                info!(%address, "health endpoint: GET /healthz");
                tokio::spawn(server::serve_health(listener, agent.status()));
            }
            Err(error) => {
                tracing::error!(%address, %error, "cannot listen for the health endpoint")
            }
        }
    }
    agent.run(source::merge(sources), shutdown_signal()).await;
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
    systemd::stopping();
}
