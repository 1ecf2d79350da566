//! Phases 1–3: the start, change and removal of one pod, by the agent, by the floor and by
//! the peer (`podman kube play` on Podman, `docker-compose` on Docker), each timed to the
//! runtime's own `started_at`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};

use staticpod_runtime::backend::Backend;

use crate::compose;
use crate::floor::CallTimes;
use crate::log::parse_log;
use crate::manifests::{Shape, write_manifest};
use crate::node::{Bench, Running, until_gone, until_running};
use crate::stats::since;
use crate::{PATIENCE, POLL};

/// One pod's start, change and removal by one of agent, floor or peer, per run (ms).
#[derive(Debug, Default)]
pub struct Series {
    /// Manifest written → the last container's `started_at`.
    pub start: Vec<f64>,
    /// The same, ending when the harness's poll saw it (10 ms resolution plus a list call).
    pub start_seen: Vec<f64>,
    /// Manifest edited → the new pod's last container's `started_at`.
    pub change: Vec<f64>,
    /// Manifest removed → no object of the pod listed.
    pub remove: Vec<f64>,
}

impl Series {
    /// One cycle: the manifest written at `written` ran as `first`, edited at `edited` ran
    /// as `second`, removed at `removed` was gone at `gone`.
    fn record(
        &mut self,
        written: SystemTime,
        first: &Running,
        edited: SystemTime,
        second: &Running,
        removed: SystemTime,
        gone: SystemTime,
    ) {
        self.start.push(since(written, first.last_started));
        self.start_seen.push(since(written, first.seen));
        self.change.push(since(edited, second.last_started));
        self.remove.push(since(removed, gone));
    }
}

/// Everything measured of one pod shape.
#[derive(Debug, Default)]
pub struct ShapeResult {
    /// The agent's times.
    pub agent: Series,
    /// The floor's times.
    pub floor: Series,
    /// The peer's times (`podman kube play` on Podman, `docker-compose` on Docker).
    pub peer: Series,
    /// The floor's runtime call times of each start.
    pub floor_calls: Vec<CallTimes>,
    /// From the agent's log: write → "sandbox started", and "sandbox started" → last
    /// "container started", per run (ms).
    pub agent_to_sandbox: Vec<f64>,
    /// See [`ShapeResult::agent_to_sandbox`].
    pub agent_sandbox_to_last: Vec<f64>,
    /// write → "killing pod" of the old UID, per change.
    pub agent_change_to_kill: Vec<f64>,
}

/// The agent's start, change and removal of one pod of `shape`, named for `run`.
pub fn agent_cycle(
    bench: &Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = shape.pod_name(run);
    let file = format!("{name}.yaml");
    let full = bench.full_name(&name, &bench.node);
    let n = shape.containers();

    let t0 = write_manifest(&bench.manifests, &file, &shape.manifest(&name, 1))?;
    let first = bench.until_running(&bench.node, &full, n, None)?;
    let t1 = write_manifest(&bench.manifests, &file, &shape.manifest(&name, 2))?;
    let second = bench.until_running(&bench.node, &full, n, Some(&first.uid))?;
    let t2 = SystemTime::now();
    std::fs::remove_file(bench.manifests.join(&file))?;
    let gone = bench.until_gone(&bench.node, &full)?;
    if record {
        out.agent.record(t0, &first, t1, &second, t2, gone);
        let log = parse_log(&bench.log_text(), &full);
        if let (Some(sandbox), Some(last)) = (
            log.sandbox_started.first(),
            log.container_started.get(n - 1),
        ) {
            out.agent_to_sandbox.push(since(t0, *sandbox));
            out.agent_sandbox_to_last.push(since(*sandbox, *last));
        }
        if let Some(kill) = log.killing.first() {
            out.agent_change_to_kill.push(since(t1, *kill));
        }
    }
    Ok(())
}

/// The floor's start, change and removal of the same pod as [`agent_cycle`]'s, on the
/// floor's node.
pub fn floor_cycle(
    bench: &Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = shape.pod_name(run);
    let file = format!("{name}.yaml");
    let node = &bench.floor_node;
    let full = bench.full_name(&name, node);
    let n = shape.containers();
    let runtime = &*bench.runtime;
    let floor = bench.floor();

    let t0 = SystemTime::now();
    let pod = floor.load(&file, &shape.manifest(&name, 1))?;
    let (calls, first) = bench.tokio.block_on(async {
        tokio::join!(
            floor.start(std::slice::from_ref(&pod)),
            until_running(runtime, node, &full, n, None, bench.poll)
        )
    });
    let (calls, first) = (calls?, first?);

    let t1 = SystemTime::now();
    let edited = floor.load(&file, &shape.manifest(&name, 2))?;
    let (done, second) = bench.tokio.block_on(async {
        tokio::join!(
            floor.converge(std::slice::from_ref(&edited)),
            until_running(runtime, node, &full, n, Some(&first.uid), bench.poll)
        )
    });
    let (_, second) = (done?, second?);

    let t2 = SystemTime::now();
    let (done, gone) = bench.tokio.block_on(async {
        tokio::join!(
            floor.converge(&[]),
            until_gone(runtime, node, Some(&full), PATIENCE, bench.poll)
        )
    });
    let (_, gone) = (done?, gone?);
    if record {
        out.floor.record(t0, &first, t1, &second, t2, gone);
        out.floor_calls.push(calls.start_times());
    }
    Ok(())
}

/// The peer of `backend` as the report names it, if it has one: what users would pick
/// instead of staticpod on that runtime.
pub fn peer_name(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Docker => Some("compose"),
        Backend::Podman => Some("kube play"),
        Backend::Cri => None,
    }
}

/// The peer's start, change and removal of the same pod: `podman kube play` on Podman,
/// `docker-compose` on Docker.
pub fn peer_cycle(
    bench: &mut Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = format!("peer-{}-{}", std::process::id(), shape.pod_name(run));
    let times = match bench.backend {
        Backend::Docker => compose_cycle(bench, shape, &name)?,
        _ => kube_play_cycle(bench, shape, &name)?,
    };
    if record {
        let [t0, first, t1, second, t2, gone] = times;
        out.peer.start.push(since(t0, first));
        out.peer.change.push(since(t1, second));
        out.peer.remove.push(since(t2, gone));
    }
    Ok(())
}

/// `podman kube play` of the same manifest, `--replace` with the edit, `kube down`: when
/// each began and ended.
fn kube_play_cycle(bench: &mut Bench, shape: Shape, name: &str) -> Result<[SystemTime; 6]> {
    let path = bench.peer_dir.join(format!("{name}.yaml"));
    let file = path.to_str().context("temporary path")?.to_string();
    bench.peer_files.push(path.clone());

    std::fs::write(&path, shape.manifest(name, 1))?;
    let t0 = SystemTime::now();
    bench.podman(&["kube", "play"], &[&file])?;
    let first = peer_last_started(bench, name, shape.containers())?;
    std::fs::write(&path, shape.manifest(name, 2))?;
    let t1 = SystemTime::now();
    bench.podman(&["kube", "play", "--replace"], &[&file])?;
    let second = peer_last_started(bench, name, shape.containers())?;
    let t2 = SystemTime::now();
    bench.podman(&["kube", "down"], &[&file])?;
    let gone = SystemTime::now();
    let left = bench.podman(
        &["pod", "ps", "-q", "--filter", &format!("name=^{name}$")],
        &[],
    )?;
    ensure!(left.trim().is_empty(), "kube down left pod {name}: {left}");
    bench.peer_files.retain(|p| p != &path);
    Ok([t0, first, t1, second, t2, gone])
}

/// `docker-compose up -d` of the equivalent compose file, `up -d` again with the edit
/// (compose recreates the changed service), `down`: when each began and ended.
fn compose_cycle(bench: &mut Bench, shape: Shape, project: &str) -> Result<[SystemTime; 6]> {
    let path = bench.peer_dir.join(format!("{project}.yml"));
    bench.peer_files.push(path.clone());
    let count = shape.containers();

    std::fs::write(&path, compose::compose_file(shape, 1))?;
    let t0 = SystemTime::now();
    compose::compose(bench, project, &path, &["up", "-d"])?;
    let first = compose::last_started(bench, project, count, 1)?;
    std::fs::write(&path, compose::compose_file(shape, 2))?;
    let t1 = SystemTime::now();
    compose::compose(bench, project, &path, &["up", "-d"])?;
    let second = compose::last_started(bench, project, count, 2)?;
    let t2 = SystemTime::now();
    compose::compose(bench, project, &path, &["down"])?;
    let gone = SystemTime::now();
    bench.peer_files.retain(|p| p != &path);
    Ok([t0, first, t1, second, t2, gone])
}

/// The latest start of the app (non-infra) containers of peer pod `name`, all running.
fn peer_last_started(bench: &Bench, name: &str, count: usize) -> Result<SystemTime> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ids = bench.podman(
            &["pod", "inspect", name, "--format"],
            &["{{range .Containers}}{{.ID}} {{end}}"],
        )?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        let mut args = vec![
            "--format",
            "{{.State.StartedAt.UnixNano}} {{.IsInfra}} {{.State.Status}}",
        ];
        args.extend(ids.iter().copied());
        let lines = bench.podman(&["container", "inspect"], &args)?;
        let mut last = UNIX_EPOCH;
        let mut running = 0;
        for line in lines.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [nanos, "false", "running"] = fields.as_slice() {
                running += 1;
                let nanos: u64 = nanos.parse().context("StartedAt.UnixNano")?;
                last = last.max(UNIX_EPOCH + Duration::from_nanos(nanos));
            }
        }
        if running == count {
            return Ok(last);
        }
        ensure!(
            Instant::now() < deadline,
            "peer pod {name}: {running} of {count} containers running"
        );
        std::thread::sleep(POLL);
    }
}
