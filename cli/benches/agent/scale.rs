//! Phases 4–5: N pods at once, one more pod while they run, the idle agent, an agent
//! restart that must adopt everything, and the removal of all N, each beside the floor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use staticpod_core::manifest::defaults::StaticPod;
use staticpod_runtime::ContainerState;
use staticpod_runtime::labels;

use crate::latency::{ShapeResult, agent_cycle, floor_cycle};
use crate::manifests::{Shape, scale_manifest};
use crate::node::{Bench, until_gone};
use crate::process::{cpu_seconds, memory_mib, status_pods};
use crate::stats::{ms, since};
use crate::{PATIENCE_SCALE, POLL, POLL_SCALE};

/// What the scale, idle and restart phases measured.
#[derive(Debug, Default)]
pub struct ScaleResult {
    /// N, the pods written at once.
    pub pods: usize,
    /// RSS of the fresh agent before any pod, MiB.
    pub agent_start_rss_mib: f64,
    /// N manifests written → the last container's `started_at`.
    pub agent_all_running_ms: f64,
    /// N manifests written → each pod's `started_at`, earliest first (the k-th is when k
    /// pods ran: the curve of the plot).
    pub agent_running_ms: Vec<f64>,
    /// The agent's CPU time until its status listed all N running.
    pub agent_cpu_s: f64,
    /// The agent's peak RSS by then, MiB.
    pub agent_peak_rss_mib: f64,
    /// Length of the idle period.
    pub idle_s: f64,
    /// RSS at the end of the idle period, MiB.
    pub idle_rss_mib: f64,
    /// CPU time over the idle period, as a share of one core.
    pub idle_cpu_share: f64,
    /// Anonymous (heap) and file-backed (the binary's code) parts of the idle RSS, MiB.
    pub idle_rss_anon_mib: f64,
    /// See [`ScaleResult::idle_rss_anon_mib`].
    pub idle_rss_file_mib: f64,
    /// CPU ticks of each second of the idle period.
    pub idle_ticks_per_second: Vec<u64>,
    /// Change nudges the backend's `watch()` feed gave during the idle period: each makes
    /// the agent relist (other nodes' objects on the same runtime nudge it too).
    pub idle_runtime_nudges: usize,
    /// Managed containers of other nodes (other agents, tests) on the runtime at idle start.
    pub other_nodes_containers: usize,
    /// One pod's start, change and removal while the N pods run.
    pub busy: ShapeResult,
    /// Why that phase stopped, if it failed.
    pub busy_error: Option<String>,
    /// A restarted agent's start → its status lists all N running.
    pub restart_adopted_ms: f64,
    /// Containers the restarted agent replaced (gone from the runtime).
    pub restart_replaced: usize,
    /// Containers it restarted (other restart count or start time).
    pub restart_restarted: usize,
    /// "killing pod" lines it logged.
    pub restart_kills_logged: usize,
    /// Its peak RSS, MiB.
    pub restart_peak_rss_mib: f64,
    /// All N manifests removed → no object of the agent's node listed.
    pub agent_remove_all_ms: f64,
    /// The floor's start of the same N pods → the last container's `started_at`.
    pub floor_all_running_ms: f64,
    /// The floor's start → each pod's `started_at`, earliest first.
    pub floor_running_ms: Vec<f64>,
    /// The floor's removal of them → no object of its node listed.
    pub floor_remove_all_ms: f64,
}

/// (id, restart count, started_at) of every running container of `node`.
fn container_snapshot(bench: &Bench) -> Result<BTreeMap<String, (String, Option<SystemTime>)>> {
    Ok(bench
        .containers_of(&bench.node)?
        .into_iter()
        .map(|c| {
            let started = match c.state {
                ContainerState::Running { started_at } => Some(started_at),
                _ => None,
            };
            let restarts = c
                .labels
                .get(labels::CONTAINER_RESTART_COUNT)
                .cloned()
                .unwrap_or_default();
            (c.id, (restarts, started))
        })
        .collect())
}

/// The `started_at` of each of `node`'s `pods` containers, earliest first, once all run.
fn all_running(bench: &Bench, node: &str, pods: usize) -> Result<Vec<SystemTime>> {
    let deadline = Instant::now() + PATIENCE_SCALE;
    loop {
        let containers = bench.containers_of(node)?;
        let running: Vec<SystemTime> = containers
            .iter()
            .filter_map(|c| match c.state {
                ContainerState::Running { started_at } => Some(started_at),
                _ => None,
            })
            .collect();
        if running.len() == pods {
            let mut running = running;
            running.sort();
            return Ok(running);
        }
        ensure!(
            Instant::now() < deadline,
            "{} of {pods} pods of {node} running after {PATIENCE_SCALE:?}",
            running.len()
        );
        std::thread::sleep(POLL_SCALE);
    }
}

/// Phases 4 and 5: N pods at once on a fresh agent, one more pod while they run, idle,
/// the agent killed and started again, all removed; then the floor's start and removal of N.
pub fn scale(bench: &mut Bench, pods: usize, idle: Duration, ticks: f64) -> Result<ScaleResult> {
    let mut out = ScaleResult {
        pods,
        idle_s: idle.as_secs_f64(),
        ..ScaleResult::default()
    };
    // A fresh agent, so its peak RSS is that of N pods.
    bench.kill_agent();
    bench.start_agent()?;
    let pid = bench.agent_pid()?;
    std::thread::sleep(Duration::from_millis(500));
    out.agent_start_rss_mib = memory_mib(pid, "VmRSS")?;
    let cpu0 = cpu_seconds(pid, ticks)?;
    let names: Vec<String> = (0..pods).map(|i| format!("s{i:04}")).collect();
    for name in &names {
        std::fs::write(
            bench.manifests.join(format!(".{name}.yaml.tmp")),
            scale_manifest(name),
        )?;
    }
    let t0 = SystemTime::now();
    for name in &names {
        std::fs::rename(
            bench.manifests.join(format!(".{name}.yaml.tmp")),
            bench.manifests.join(format!("{name}.yaml")),
        )?;
    }
    let started = all_running(bench, &bench.node, pods)?;
    out.agent_running_ms = started.iter().map(|&t| since(t0, t)).collect();
    out.agent_all_running_ms = out.agent_running_ms.last().copied().unwrap_or_default();
    // The agent's own work ends when its status says so; its CPU until then counts.
    wait_status_running(bench, pods, PATIENCE_SCALE)?;
    out.agent_cpu_s = cpu_seconds(pid, ticks)? - cpu0;
    out.agent_peak_rss_mib = memory_mib(pid, "VmHWM")?;
    eprintln!(
        "bench: {pods} pods running after {:.1} s; idling {} s",
        out.agent_all_running_ms / 1e3,
        idle.as_secs()
    );

    // One more pod while N run: the agent relists all of them before it plans. Listing N
    // pods is slow on some runtimes, so the harness polls less often here (the times still
    // end at the runtime's started_at). A failure is reported, not fatal.
    bench.poll = POLL_SCALE;
    for i in 0..3 {
        let result = agent_cycle(bench, Shape::One, 1000 + i, &mut out.busy, true)
            .context("agent")
            .and_then(|()| {
                floor_cycle(bench, Shape::One, 1000 + i, &mut out.busy, true).context("floor")
            });
        if let Err(err) = result {
            eprintln!("bench: one more pod while {pods} run: {err:#}");
            out.busy_error = Some(format!("{err:#}"));
            bench.clean_pods(&Shape::One.pod_name(1000 + i));
            break;
        }
    }
    bench.poll = POLL;

    // Idle: nothing changes; the harness does not poll, it only counts the runtime's nudges.
    std::thread::sleep(Duration::from_secs(2));
    out.other_nodes_containers = bench
        .tokio
        .block_on(bench.runtime.list_containers())?
        .iter()
        .filter(|c| {
            let node = c.labels.get(labels::NODE).map(String::as_str);
            node != Some(bench.node.as_str()) && node != Some(bench.floor_node.as_str())
        })
        .count();
    let nudges = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = {
        let (runtime, nudges) = (bench.runtime.clone(), nudges.clone());
        bench.tokio.spawn(async move {
            if let Ok(mut feed) = runtime.watch().await {
                while feed.recv().await.is_some() {
                    nudges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
    };
    let idle_cpu0 = cpu_seconds(pid, ticks)?;
    let idle_t0 = Instant::now();
    let mut last = idle_cpu0;
    for second in 1..=idle.as_secs() {
        let wake = idle_t0 + Duration::from_secs(second);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        let now = cpu_seconds(pid, ticks)?;
        out.idle_ticks_per_second
            .push(((now - last) * ticks).round() as u64);
        last = now;
    }
    let idle_cpu = cpu_seconds(pid, ticks)? - idle_cpu0;
    out.idle_cpu_share = idle_cpu / idle_t0.elapsed().as_secs_f64();
    counter.abort();
    out.idle_runtime_nudges = nudges.load(std::sync::atomic::Ordering::Relaxed);
    out.idle_rss_mib = memory_mib(pid, "VmRSS")?;
    out.idle_rss_anon_mib = memory_mib(pid, "RssAnon")?;
    out.idle_rss_file_mib = memory_mib(pid, "RssFile")?;

    // Restart: SIGKILL and start again with N pods running.
    let before = container_snapshot(bench)?;
    let kills_before = bench.log_text().matches("killing pod").count();
    bench.kill_agent();
    let t = Instant::now();
    bench.start_agent()?;
    wait_status_running(bench, pods, PATIENCE_SCALE)?;
    out.restart_adopted_ms = ms(t.elapsed());
    std::thread::sleep(Duration::from_secs(3));
    let after = container_snapshot(bench)?;
    for (id, (restarts, started)) in &before {
        match after.get(id) {
            None => out.restart_replaced += 1,
            Some((r, s)) if r != restarts || s != started => out.restart_restarted += 1,
            Some(_) => {}
        }
    }
    out.restart_kills_logged = bench.log_text().matches("killing pod").count() - kills_before;
    out.restart_peak_rss_mib = memory_mib(bench.agent_pid()?, "VmHWM")?;

    // Removal of all N.
    let t0 = SystemTime::now();
    for name in &names {
        std::fs::remove_file(bench.manifests.join(format!("{name}.yaml")))?;
    }
    let gone = bench.tokio.block_on(until_gone(
        &*bench.runtime,
        &bench.node,
        None,
        PATIENCE_SCALE,
        POLL_SCALE,
    ))?;
    out.agent_remove_all_ms = since(t0, gone);
    bench.kill_agent();

    // The floor: the same N pods planned at once and each pod's work run at once, as the
    // agent does with N new manifests.
    let floor = bench.floor();
    let floor_pods: Vec<Arc<StaticPod>> = names
        .iter()
        .map(|name| floor.load(&format!("{name}.yaml"), &scale_manifest(name)))
        .collect::<Result<_>>()?;
    let t0 = SystemTime::now();
    bench.tokio.block_on(floor.start(&floor_pods))?;
    let started = all_running(bench, &bench.floor_node, pods)?;
    out.floor_running_ms = started.iter().map(|&t| since(t0, t)).collect();
    out.floor_all_running_ms = out.floor_running_ms.last().copied().unwrap_or_default();
    let t0 = SystemTime::now();
    // One listing for all pods, as the agent's one relist before it plans.
    bench.tokio.block_on(floor.converge(&[]))?;
    let gone = bench.tokio.block_on(until_gone(
        &*bench.runtime,
        &bench.floor_node,
        None,
        PATIENCE_SCALE,
        POLL_SCALE,
    ))?;
    out.floor_remove_all_ms = since(t0, gone);
    Ok(out)
}

fn wait_status_running(bench: &Bench, pods: usize, patience: Duration) -> Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok((listed, running)) = status_pods(bench.status_port)
            && listed == pods
            && running == pods
        {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the agent's /pods never listed {pods} running pods"
        );
        std::thread::sleep(POLL);
    }
}
