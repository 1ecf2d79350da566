//! The report: the printed table and the JSON document `cargo xtask bench` collects into
//! `target/bench/report.json` (read by BENCHMARKS.md). Its format is a contract: keys are
//! only ever added.

use serde_json::{Value, json};

use crate::POLL;
use crate::args::Args;
use crate::latency::{Series, ShapeResult, peer_name};
use crate::manifests::Shape;
use crate::process::clock_ticks;
use crate::scale::ScaleResult;
use crate::stats::{cell, median, ms, signed_cell, stats};

fn series_json(s: &Series) -> Value {
    json!({
        "start": stats(&s.start),
        "start_seen_by_poll": stats(&s.start_seen),
        "change": stats(&s.change),
        "remove": stats(&s.remove),
    })
}

/// Per-run differences agent − floor.
fn paired(agent: &[f64], floor: &[f64]) -> Vec<f64> {
    agent.iter().zip(floor).map(|(a, f)| a - f).collect()
}

fn table(args: &Args, shapes: &[(Shape, ShapeResult)], scale: &ScaleResult) -> Vec<String> {
    let peer = peer_name(args.backend);
    let mut lines = vec![format!(
        "{} — {} runs each, ms: median [min–max]; start/change end at the runtime's started_at of the last container",
        args.backend.name(),
        args.runs
    )];
    let mut head = format!(
        "  {:<22} {:>17} {:>17} {:>17} {:>6}",
        "", "agent", "floor", "overhead", "ratio"
    );
    if let Some(peer) = peer {
        head.push_str(&format!(" {:>17} {:>10}", peer, "agent/peer"));
    }
    lines.push(head);
    for (shape, r) in shapes {
        let plural = if shape.containers() == 1 { "" } else { "s" };
        for (what, a, f, p) in [
            ("start", &r.agent.start, &r.floor.start, &r.peer.start),
            ("change", &r.agent.change, &r.floor.change, &r.peer.change),
            ("remove", &r.agent.remove, &r.floor.remove, &r.peer.remove),
        ] {
            let mut line = format!(
                "  {:<22} {:>17} {:>17} {:>17} {:>6.2}",
                format!("{what} {} container{plural}", shape.containers()),
                cell(a),
                cell(f),
                signed_cell(&paired(a, f)),
                median(a) / median(f)
            );
            if peer.is_some() {
                line.push_str(&format!(" {:>17} {:>10.2}", cell(p), median(a) / median(p)));
            }
            lines.push(line);
        }
    }
    for (shape, r) in shapes {
        let floor_sandbox: Vec<f64> = r.floor_calls.iter().map(|c| c.run_sandbox).collect();
        let floor_containers: Vec<f64> = r.floor_calls.iter().map(|c| c.containers).collect();
        let before_calls = median(&r.agent_to_sandbox) - median(&floor_sandbox);
        lines.push(format!(
            "  where the agent's start goes ({} container{}, from its log): write → \"sandbox started\" {:.0} ms, of which the floor's run_sandbox takes {:.0} ms, leaving ≈{:.0} ms before the first runtime call (inotify, quiet period, scan, parse, relist, plan); sandbox → last \"container started\" {:.0} ms (floor {:.0} ms); edit → \"killing pod\" {:.0} ms",
            shape.containers(),
            if shape.containers() == 1 { "" } else { "s" },
            median(&r.agent_to_sandbox),
            median(&floor_sandbox),
            before_calls,
            median(&r.agent_sandbox_to_last),
            median(&floor_containers),
            median(&r.agent_change_to_kill),
        ));
    }
    let s = scale;
    let b = &s.busy;
    if let Some(err) = &s.busy_error {
        lines.push(format!(
            "  one more pod while {} run: FAILED: {err}",
            s.pods
        ));
    }
    for (what, a, f) in [
        ("start", &b.agent.start, &b.floor.start),
        ("change", &b.agent.change, &b.floor.change),
        ("remove", &b.agent.remove, &b.floor.remove),
    ] {
        lines.push(format!(
            "  {:<22} {:>17} {:>17} {:>17} {:>6.2}",
            format!("{what} 1 ({} running)", s.pods),
            cell(a),
            cell(f),
            signed_cell(&paired(a, f)),
            median(a) / median(f)
        ));
    }
    lines.push(format!(
        "  scale: {} pods written at once: all running after {:.0} ms (floor: the same pods by direct concurrent calls, {:.0} ms; ratio {:.2}); agent CPU {:.2} s, peak RSS {:.1} MiB",
        s.pods,
        s.agent_all_running_ms,
        s.floor_all_running_ms,
        s.agent_all_running_ms / s.floor_all_running_ms,
        s.agent_cpu_s,
        s.agent_peak_rss_mib
    ));
    lines.push(format!(
        "  idle {:.0} s with {} pods: RSS {:.1} MiB ({:.1} heap, {:.1} file-backed; {:.1} MiB at start with no pod), CPU {:.2}% of one core; busiest second {} ticks; runtime change nudges {} ({} containers of other nodes on the runtime)",
        s.idle_s,
        s.pods,
        s.idle_rss_mib,
        s.idle_rss_anon_mib,
        s.idle_rss_file_mib,
        s.agent_start_rss_mib,
        s.idle_cpu_share * 100.0,
        s.idle_ticks_per_second.iter().max().copied().unwrap_or(0),
        s.idle_runtime_nudges,
        s.other_nodes_containers,
    ));
    lines.push(format!(
        "  restart (SIGKILL, start) with {} pods: all adopted (/pods: {} Running) after {:.0} ms; containers replaced {}, restarted {}, pods killed {}; peak RSS of the new agent {:.1} MiB",
        s.pods,
        s.pods,
        s.restart_adopted_ms,
        s.restart_replaced,
        s.restart_restarted,
        s.restart_kills_logged,
        s.restart_peak_rss_mib
    ));
    lines.push(format!(
        "  remove all {} manifests: every object gone after {:.0} ms (floor {:.0} ms)",
        s.pods, s.agent_remove_all_ms, s.floor_remove_all_ms
    ));
    lines
}

/// The JSON report (`target/bench/report.json` holds one per backend), with the table.
pub fn report(args: &Args, shapes: &[(Shape, ShapeResult)], scale: &ScaleResult) -> Value {
    let latency: serde_json::Map<String, Value> = shapes
        .iter()
        .map(|(shape, r)| {
            let floor_sandbox: Vec<f64> = r.floor_calls.iter().map(|c| c.run_sandbox).collect();
            let floor_containers: Vec<f64> = r.floor_calls.iter().map(|c| c.containers).collect();
            (
                shape.label().to_string(),
                json!({
                    "containers": shape.containers(),
                    "agent": series_json(&r.agent),
                    "floor": series_json(&r.floor),
                    "peer": peer_name(args.backend),
                    "peer_times": if r.peer.start.is_empty() { Value::Null } else { series_json(&r.peer) },
                    "overhead": {
                        "start": stats(&paired(&r.agent.start, &r.floor.start)),
                        "change": stats(&paired(&r.agent.change, &r.floor.change)),
                        "remove": stats(&paired(&r.agent.remove, &r.floor.remove)),
                    },
                    "breakdown": {
                        "agent_write_to_sandbox_started": stats(&r.agent_to_sandbox),
                        "agent_sandbox_to_last_container_started": stats(&r.agent_sandbox_to_last),
                        "agent_edit_to_killing_pod": stats(&r.agent_change_to_kill),
                        "floor_run_sandbox": stats(&floor_sandbox),
                        "floor_containers": stats(&floor_containers),
                    },
                }),
            )
        })
        .collect();
    let s = scale;
    json!({
        "backend": args.backend.name(),
        "runs": args.runs,
        "poll_ms": ms(POLL),
        "agent_binary": args.agent.display().to_string(),
        "agent_binary_bytes": std::fs::metadata(&args.agent).map(|m| m.len()).unwrap_or(0),
        "latency": latency,
        "scale": {
            "pods": s.pods,
            "agent_all_running_ms": s.agent_all_running_ms,
            "floor_all_running_ms": s.floor_all_running_ms,
            "agent_running_ms": s.agent_running_ms,
            "floor_running_ms": s.floor_running_ms,
            "agent_cpu_seconds": s.agent_cpu_s,
            "agent_start_rss_mib": s.agent_start_rss_mib,
            "one_more_pod": {
                "agent": series_json(&s.busy.agent),
                "floor": series_json(&s.busy.floor),
                "overhead_start": stats(&paired(&s.busy.agent.start, &s.busy.floor.start)),
                "agent_edit_to_killing_pod": stats(&s.busy.agent_change_to_kill),
                "error": s.busy_error,
            },
            "agent_peak_rss_mib": s.agent_peak_rss_mib,
            "agent_remove_all_ms": s.agent_remove_all_ms,
            "floor_remove_all_ms": s.floor_remove_all_ms,
        },
        "idle": {
            "seconds": s.idle_s,
            "rss_mib": s.idle_rss_mib,
            "cpu_share_of_one_core": s.idle_cpu_share,
            "rss_anon_mib": s.idle_rss_anon_mib,
            "rss_file_mib": s.idle_rss_file_mib,
            "ticks_per_second": s.idle_ticks_per_second,
            "clock_ticks_per_second": clock_ticks(),
            "runtime_nudges": s.idle_runtime_nudges,
            "other_nodes_containers": s.other_nodes_containers,
        },
        "restart": {
            "adopted_ms": s.restart_adopted_ms,
            "containers_replaced": s.restart_replaced,
            "containers_restarted": s.restart_restarted,
            "pods_killed": s.restart_kills_logged,
            "peak_rss_mib": s.restart_peak_rss_mib,
        },
        "table": table(args, shapes, scale),
    })
}
