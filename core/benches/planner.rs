//! The planner's cost against the number of pods: `plan(desired, observed, history, verdicts, now)`
//! over 1, 100, 1000 and 10000 pods that all run already (the steady state the agent
//! re-plans at every event and resync), beside the other pure steps of one agent pass
//! (`observe::group`, `status::pod_list`) and the per-file `manifest::load`.
//!
//! Plain `std::time` with many iterations and the median, no framework: `cargo bench -p
//! staticpod-core --bench planner [-- --sizes 1,100 --json PATH]`. `cargo xtask bench`
//! runs it and folds the JSON into `target/bench/report.json`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use staticpod_core::manifest::{self, defaults::StaticPod};
use staticpod_core::reconcile::configs::{self, Dirs, NodeFacts};
use staticpod_core::reconcile::env_file::EnvFiles;
use staticpod_core::reconcile::history::History;
use staticpod_core::reconcile::observe::{self, ContainerKind, ObservedPod};
use staticpod_core::reconcile::plan::{self, Instance};
use staticpod_core::reconcile::security::NodePolicy;
use staticpod_core::source::SourceKind;
use staticpod_core::status::{self, StatusInputs};
use staticpod_core::verdicts::ProbeVerdicts;
use staticpod_runtime::{ContainerInfo, ContainerState, SandboxInfo, SandboxState};

const NODE: &str = "bench-node";
/// Each measurement repeats until it has run this long (and at least `MIN_ITERATIONS` times).
const BUDGET: Duration = Duration::from_millis(400);
const MIN_ITERATIONS: usize = 5;
const MAX_ITERATIONS: usize = 10_000;

/// A typical small static pod: one container with a command, env, a port and limits.
fn manifest_text(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\n  labels:\n    app: bench\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n    env:\n    - name: INDEX\n      value: \"{i}\"\n    ports:\n    - containerPort: 80\n    resources:\n      limits: {{cpu: 100m, memory: 64Mi}}\n"
    )
}

fn load_pod(i: usize) -> StaticPod {
    let path = PathBuf::from(format!("/etc/kubernetes/manifests/pod-{i}.yaml"));
    let mut loaded = manifest::load(
        &path,
        SourceKind::File,
        &manifest_text(i),
        NODE,
        "2025-01-01T00:00:00Z",
    );
    assert!(
        !loaded.has_errors() && loaded.pods.len() == 1,
        "{:?}",
        loaded.diagnostics
    );
    loaded.pods.remove(0)
}

fn merged(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = a.clone();
    all.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// What a backend would list for `pods` all running: a ready sandbox and one running
/// container each, labelled by the agent's own config builders (annotations merged into
/// labels, as every backend returns them).
fn running_state(pods: &[Arc<StaticPod>]) -> (Vec<SandboxInfo>, Vec<ContainerInfo>) {
    let root = Path::new("/var/lib/staticpod");
    let dirs = Dirs {
        root: root.to_path_buf(),
        pod_logs: root.to_path_buf(),
    };
    let policy = NodePolicy::default();
    let started = SystemTime::now() - Duration::from_secs(60);
    let mut sandboxes = Vec::with_capacity(pods.len());
    let mut containers = Vec::with_capacity(pods.len());
    for (i, pod) in pods.iter().enumerate() {
        let sandbox = configs::sandbox_config(pod, 0, &dirs, &policy).expect("a short hostname");
        let sandbox_id = format!("sandbox-{i:08}");
        sandboxes.push(SandboxInfo {
            id: sandbox_id.clone(),
            state: SandboxState::Ready,
            created_at: started,
            ip: Some("10.88.0.2".into()),
            labels: merged(&sandbox.labels, &sandbox.annotations),
        });
        let facts = NodeFacts {
            root_dir: root,
            host_ip: "192.0.2.10",
            pod_ip: "10.88.0.2",
            policy: &policy,
        };
        for (index, container) in pod.pod.spec.containers.iter().enumerate() {
            let instance = Instance::first(ContainerKind::App, index);
            let env = configs::resolve_env(pod, container, &facts, &EnvFiles::default())
                .expect("no env file");
            let config = configs::container_config(pod, &instance, container, vec![], env, &facts);
            containers.push(ContainerInfo {
                id: format!("container-{i:08}-{index}"),
                sandbox_id: Some(sandbox_id.clone()),
                image: config.image.clone(),
                image_id: String::new(),
                state: ContainerState::Running {
                    started_at: started,
                },
                created_at: started,
                labels: merged(&config.labels, &config.annotations),
            });
        }
    }
    (sandboxes, containers)
}

/// Median, min and max wall time of `f` over enough iterations to fill [`BUDGET`].
fn measure<T>(mut f: impl FnMut() -> T) -> Timing {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < MIN_ITERATIONS
        || (start.elapsed() < BUDGET && samples.len() < MAX_ITERATIONS)
    {
        let t = Instant::now();
        black_box(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    Timing {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
        iterations: samples.len(),
    }
}

struct Timing {
    median: Duration,
    min: Duration,
    max: Duration,
    iterations: usize,
}

impl Timing {
    fn per_pod_ns(&self, pods: usize) -> f64 {
        self.median.as_nanos() as f64 / pods as f64
    }

    fn json(&self, pods: usize) -> serde_json::Value {
        serde_json::json!({
            "median_ns": self.median.as_nanos() as u64,
            "min_ns": self.min.as_nanos() as u64,
            "max_ns": self.max.as_nanos() as u64,
            "iterations": self.iterations,
            "ns_per_pod": self.per_pod_ns(pods),
        })
    }
}

struct Row {
    pods: usize,
    load: Timing,
    group: Timing,
    plan: Timing,
    pod_list: Timing,
}

fn bench_size(pods: usize) -> Row {
    // manifest::load is per file; time a sample of files, not all 10000 again and again.
    let sample = pods.min(100);
    let load_timing = measure(|| (0..sample).map(load_pod).count());
    let load = Timing {
        median: load_timing.median / sample as u32,
        min: load_timing.min / sample as u32,
        max: load_timing.max / sample as u32,
        iterations: load_timing.iterations,
    };
    let desired: Vec<Arc<StaticPod>> = (0..pods).map(|i| Arc::new(load_pod(i))).collect();
    let (sandboxes, containers) = running_state(&desired);
    let group = measure(|| observe::group(NODE, sandboxes.clone(), containers.clone()));
    let observed: BTreeMap<String, ObservedPod> =
        observe::group(NODE, sandboxes.clone(), containers.clone());
    assert_eq!(observed.len(), pods);
    let history = History::default();
    let verdicts = ProbeVerdicts::default();
    let now = SystemTime::now();
    let timing = plan::Timing {
        now,
        backoff: plan::CrashBackoff::default(),
    };
    let steady = plan::plan(&desired, &observed, &history, &verdicts, timing);
    assert!(
        steady.work.is_empty(),
        "every pod runs, so nothing is to be done: {:?}",
        steady.work.first()
    );
    let plan_timing = measure(|| plan::plan(&desired, &observed, &history, &verdicts, timing));
    let inputs = StatusInputs {
        history: &history,
        verdicts: &verdicts,
        messages: &BTreeMap::new(),
        host_ip: "192.0.2.10",
        runtime_name: "bench",
        now,
        previous_pass: None,
        backoff: plan::CrashBackoff::default(),
    };
    let pod_list = measure(|| status::pod_list(&desired, &observed, &inputs));
    Row {
        pods,
        load,
        group,
        plan: plan_timing,
        pod_list,
    }
}

fn profile_plan(pods: usize) {
    let desired: Vec<Arc<StaticPod>> = (0..pods).map(|i| Arc::new(load_pod(i))).collect();
    let (sandboxes, containers) = running_state(&desired);
    let observed = observe::group(NODE, sandboxes, containers);
    let history = History::default();
    let verdicts = ProbeVerdicts::default();
    let timing = plan::Timing {
        now: SystemTime::now(),
        backoff: plan::CrashBackoff::default(),
    };
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < Duration::from_secs(5) {
        black_box(plan::plan(&desired, &observed, &history, &verdicts, timing));
        passes += 1;
    }
    println!(
        "{passes} plans of {pods} pods, {:?} each",
        start.elapsed() / passes
    );
}

fn human(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn main() {
    let mut sizes = vec![1, 100, 1000, 10_000];
    let mut json_path: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench appends --bench; a filter may come too.
            "--bench" => {}
            "--sizes" => {
                sizes = args
                    .next()
                    .expect("--sizes needs a value")
                    .split(',')
                    .map(|s| s.trim().parse().expect("--sizes: numbers"))
                    .collect();
            }
            "--json" => json_path = Some(args.next().expect("--json needs a path").into()),
            // For `perf record`: plan N pods over and over for 5 s, nothing else.
            "--profile-plan" => {
                let pods: usize = args
                    .next()
                    .expect("--profile-plan needs N")
                    .parse()
                    .unwrap();
                profile_plan(pods);
                return;
            }
            other => eprintln!("planner bench: ignoring argument `{other}`"),
        }
    }
    let rows: Vec<Row> = sizes.iter().map(|&n| bench_size(n)).collect();

    let mut table = vec![
        "planner (pure steps of one agent pass, all pods running; median of many iterations)"
            .to_string(),
        format!(
            "  {:>6}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}  {:>12}",
            "pods", "plan", "plan/pod", "group/pod", "pod_list/pod", "load/file", "plan iters"
        ),
    ];
    for row in &rows {
        table.push(format!(
            "  {:>6}  {:>10}  {:>7.0} ns  {:>7.0} ns  {:>9.0} ns  {:>10}  {:>12}",
            row.pods,
            human(row.plan.median),
            row.plan.per_pod_ns(row.pods),
            row.group.per_pod_ns(row.pods),
            row.pod_list.per_pod_ns(row.pods),
            human(row.load.median),
            row.plan.iterations,
        ));
    }
    let base = rows.iter().find(|r| r.pods >= 100).or(rows.first());
    let top = rows.last();
    let growth = match (base, top) {
        (Some(base), Some(top)) if top.pods > base.pods => {
            let factor = top.plan.per_pod_ns(top.pods) / base.plan.per_pod_ns(base.pods);
            table.push(format!(
                "  plan cost per pod at {} pods is {factor:.2}x that at {} pods (1.00 = linear)",
                top.pods, base.pods
            ));
            Some(factor)
        }
        _ => None,
    };
    for line in &table {
        println!("{line}");
    }

    if let Some(path) = json_path {
        let report = serde_json::json!({
            "sizes": rows.iter().map(|r| serde_json::json!({
                "pods": r.pods,
                "plan": r.plan.json(r.pods),
                "group": r.group.json(r.pods),
                "pod_list": r.pod_list.json(r.pods),
                "load_per_file": r.load.json(1),
            })).collect::<Vec<_>>(),
            "plan_per_pod_growth": growth,
            "table": table,
        });
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the report directory");
        }
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
            .expect("write the planner report");
    }
}
