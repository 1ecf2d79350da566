//! The agent benchmark: a real `staticpod run` against a real runtime, beside its floor (the
//! agent's own planner and executor run in the bench process, through the same backend, with
//! no agent around them) and its peer where users would pick one instead (`podman kube play`
//! on Podman, `docker-compose` on Docker), all in the same run.
//!
//! `cargo xtask bench` brings the runtime up and runs this with the endpoint in
//! `STATICPOD_TEST_{DOCKER,CRI,PODMAN}_ENDPOINT`; by hand:
//! `cargo bench -p staticpod --bench agent -- --runtime docker --pods 10 --runs 3`.
//!
//! A pod counts as running when the runtime lists every one of its containers running; the
//! time it took ends at the runtime's own `started_at` of the last container (the harness
//! polls the runtime every 10 ms only to notice that it is done). Everything this creates
//! belongs to node names of its own (`bench-<pid>`, `bench-<pid>-floor`, `peer-<pid>-*` pods)
//! and is removed through the backend on the way out, pass or fail.
//!
//! The modules follow the run: `args` (the command line), `manifests` (the pods), `node`
//! (the runtime, the agent process, clean-up, polling), `floor` (the executor, timed),
//! `latency` (phases 1–3: one pod's start, change and removal), `scale` (phases 4–5: N pods,
//! idle, restart), `log` and `process` (what the agent's log and `/proc` say), `stats` and
//! `report` (the figures, the table and the JSON report).

mod args;
mod compose;
mod floor;
mod latency;
mod log;
mod manifests;
mod node;
mod process;
mod report;
mod scale;
mod stats;

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::latency::{ShapeResult, agent_cycle, floor_cycle, peer_cycle};
use crate::manifests::Shape;
use crate::node::Bench;

/// How often the harness asks the runtime whether the pods run yet.
const POLL: Duration = Duration::from_millis(10);
/// The same for the scale phase: listing hundreds of containers every 10 ms would load the
/// runtime the agent is being measured against.
const POLL_SCALE: Duration = Duration::from_millis(250);
/// The longest one pod's start, change or removal may take.
const PATIENCE: Duration = Duration::from_secs(120);
/// The longest the scale phase's start or removal of all pods may take.
const PATIENCE_SCALE: Duration = Duration::from_secs(900);

fn main() {
    if let Err(err) = run() {
        eprintln!("agent bench: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = args::parse()?;
    ensure!(
        args.agent.exists(),
        "no agent binary at {}",
        args.agent.display()
    );
    let ticks = process::clock_ticks();
    if let Some(log) = &args.log {
        // A fresh log per run: its lines are matched by pod name.
        let _ = std::fs::remove_file(log);
    }
    let mut bench = Bench::new(args.backend, args.agent.clone(), args.log.clone())?;
    eprintln!(
        "bench: {} at {}, node {}, agent {}",
        args.backend,
        bench.endpoint,
        bench.node,
        args.agent.display()
    );
    bench.start_agent()?;

    let mut shapes = vec![
        (Shape::One, ShapeResult::default()),
        (Shape::Four, ShapeResult::default()),
    ];
    // Run 0 warms caches (images, page cache, the runtime's own) and is not recorded. The
    // order of agent, floor and peer rotates from run to run so that drift cancels.
    for run in 0..=args.runs {
        let record = run > 0;
        for (shape, result) in shapes.iter_mut() {
            let mut order: Vec<u8> = if latency::peer_name(args.backend).is_some() {
                vec![0, 1, 2]
            } else {
                vec![0, 1]
            };
            let len = order.len();
            order.rotate_left(run % len);
            for who in order {
                match who {
                    0 => agent_cycle(&bench, *shape, run, result, record),
                    1 => floor_cycle(&bench, *shape, run, result, record),
                    _ => peer_cycle(&mut bench, *shape, run, result, record),
                }
                .with_context(|| {
                    format!(
                        "{} of the {} pod, run {run}",
                        ["agent", "floor", "peer"][who as usize],
                        shape.label()
                    )
                })?;
            }
        }
        eprintln!("bench: latency run {run} of {} done", args.runs);
    }

    let scale = scale::scale(&mut bench, args.pods, args.idle, ticks).context("scale phase")?;
    let report = report::report(&args, &shapes, &scale);
    for line in report["table"].as_array().into_iter().flatten() {
        println!("{}", line.as_str().unwrap_or_default());
    }
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    drop(bench);
    Ok(())
}
