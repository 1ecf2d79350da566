//! The agent benchmark: a real `staticpod run` against a real runtime, beside its floor (the
//! same sandbox and containers created by direct calls through the same backend, no agent)
//! and, on Podman, its peer (`podman kube play`), all in the same run.
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

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use staticpod_core::manifest::{self, defaults::StaticPod};
use staticpod_core::reconcile::configs::{self, NodeFacts};
use staticpod_core::reconcile::observe::ContainerKind;
use staticpod_runtime::labels;
use staticpod_runtime::{ContainerInfo, ContainerRuntime, ContainerState, SandboxInfo};

/// The pause image the agent uses by default (`--pod-infra-container-image`).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.9";
/// How often the harness asks the runtime whether the pods run yet.
const POLL: Duration = Duration::from_millis(10);
/// The same for the scale phase: listing hundreds of containers every 10 ms would load the
/// runtime the agent is being measured against.
const POLL_SCALE: Duration = Duration::from_millis(250);
/// The longest one pod's start, change or removal may take.
const PATIENCE: Duration = Duration::from_secs(120);
/// The longest the scale phase's start or removal of all pods may take.
const PATIENCE_SCALE: Duration = Duration::from_secs(900);
/// A container that traps SIGTERM, so stopping it takes no grace period.
const SLEEPER: &str = "[sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]";

// ---------------------------------------------------------------------------------------
// Command line

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Docker,
    Cri,
    Podman,
}

impl Backend {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "docker" => Ok(Backend::Docker),
            "cri" | "containerd" => Ok(Backend::Cri),
            "podman" => Ok(Backend::Podman),
            _ => bail!("unknown runtime `{name}` (docker, cri, podman)"),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Cri => "cri",
            Backend::Podman => "podman",
        }
    }

    fn endpoint(self) -> Result<String> {
        let var = match self {
            Backend::Docker => "STATICPOD_TEST_DOCKER_ENDPOINT",
            Backend::Cri => "STATICPOD_TEST_CRI_ENDPOINT",
            Backend::Podman => "STATICPOD_TEST_PODMAN_ENDPOINT",
        };
        std::env::var(var).with_context(|| {
            format!("{var} is not set: run through `cargo xtask bench`, which starts the runtime")
        })
    }

    async fn connect(self, endpoint: &str) -> Result<Arc<dyn ContainerRuntime>> {
        let endpoint = &endpoint.parse()?;
        Ok(match self {
            Backend::Docker => Arc::new(
                staticpod_backend_docker::DockerRuntime::connect(endpoint, PAUSE_IMAGE.into())
                    .await?,
            ),
            Backend::Cri => Arc::new(staticpod_backend_cri::CriRuntime::connect(endpoint).await?),
            Backend::Podman => Arc::new(
                staticpod_backend_podman::PodmanRuntime::connect(endpoint, PAUSE_IMAGE.into())
                    .await?,
            ),
        })
    }
}

struct Args {
    backend: Backend,
    pods: usize,
    runs: usize,
    idle: Duration,
    agent: PathBuf,
    json: Option<PathBuf>,
    /// Where the agent's log goes (kept after the run); a temporary file when not given.
    log: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        backend: Backend::Docker,
        pods: 100,
        runs: 5,
        idle: Duration::from_secs(60),
        agent: PathBuf::from(env!("CARGO_BIN_EXE_staticpod")),
        json: None,
        log: None,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            // cargo bench appends --bench.
            "--bench" => {}
            "--runtime" => args.backend = Backend::parse(&value()?)?,
            "--pods" => args.pods = value()?.parse().context("--pods")?,
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--idle" => args.idle = Duration::from_secs(value()?.parse().context("--idle")?),
            "--agent" => args.agent = value()?.into(),
            "--json" => args.json = Some(value()?.into()),
            "--log" => args.log = Some(value()?.into()),
            other => bail!("unexpected argument `{other}`"),
        }
    }
    ensure!(
        args.runs >= 1 && args.pods >= 1,
        "--runs and --pods must be at least 1"
    );
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Manifests

/// The pod shapes of the latency phases.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// nginx alone.
    One,
    /// nginx and three busybox sleepers.
    Four,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::Four => "four",
        }
    }

    fn containers(self) -> usize {
        match self {
            Shape::One => 1,
            Shape::Four => 4,
        }
    }

    /// The manifest; `revision` goes into an env var, so a new revision is a new pod UID.
    fn manifest(self, name: &str, revision: u32) -> String {
        let mut text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: bench\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - name: REVISION\n      value: \"{revision}\"\n"
        );
        if let Shape::Four = self {
            for side in ["a", "b", "c"] {
                text.push_str(&format!(
                    "  - name: side-{side}\n    image: busybox:1.36\n    command: {SLEEPER}\n"
                ));
            }
        }
        text
    }
}

/// One busybox sleeper, the pods of the scale phase.
fn scale_manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n    command: {SLEEPER}\n"
    )
}

/// Writes a manifest the way config managers do: a dot file, renamed into place. Returns
/// the moment just before the rename, where every measurement starts.
fn write_manifest(dir: &Path, file: &str, text: &str) -> Result<SystemTime> {
    let temporary = dir.join(format!(".{file}.tmp"));
    std::fs::write(&temporary, text)?;
    let t0 = SystemTime::now();
    std::fs::rename(&temporary, dir.join(file))?;
    Ok(t0)
}

// ---------------------------------------------------------------------------------------
// Statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn since(t0: SystemTime, t: SystemTime) -> f64 {
    match t.duration_since(t0) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn min(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn stats(samples: &[f64]) -> Value {
    json!({
        "median_ms": median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "samples_ms": samples,
    })
}

/// `412 [401–430]`.
fn cell(samples: &[f64]) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    format!(
        "{:.0} [{:.0}–{:.0}]",
        median(samples),
        min(samples),
        max(samples)
    )
}

/// Runs `tasks` concurrently on the harness's runtime; the first error, once all are done.
async fn all<T: Send + 'static>(
    tasks: impl IntoIterator<Item = impl Future<Output = Result<T>> + Send + 'static>,
) -> Result<Vec<T>> {
    let mut set = tokio::task::JoinSet::new();
    for task in tasks {
        set.spawn(task);
    }
    let mut done = Vec::new();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(value) => done.push(value),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(done),
    }
}

/// `+107 [+90–+130]`.
fn signed_cell(samples: &[f64]) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    format!(
        "{:+.0} [{:+.0}–{:+.0}]",
        median(samples),
        min(samples),
        max(samples)
    )
}

// ---------------------------------------------------------------------------------------
// The bench node: runtime, agent process, cleanup

/// A poll's finding: when the last container of a pod started, by the runtime's clock.
#[derive(Debug, Clone)]
struct Running {
    uid: String,
    /// The latest `started_at` among the pod's containers.
    last_started: SystemTime,
    /// When the harness saw them all running.
    seen: SystemTime,
}

struct Bench {
    backend: Backend,
    endpoint: String,
    runtime: Arc<dyn ContainerRuntime>,
    tokio: tokio::runtime::Runtime,
    /// The agent's node name.
    node: String,
    /// The floor's node name: no agent runs as it, so nothing touches its objects.
    floor_node: String,
    manifests: PathBuf,
    root: PathBuf,
    peer_dir: PathBuf,
    status_port: u16,
    agent_bin: PathBuf,
    agent: Option<Child>,
    log: PathBuf,
    /// How often `until_running` and `until_gone` poll.
    poll: Duration,
    /// Pods made by `podman kube play`, to `kube down` on the way out.
    peer_files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new(backend: Backend, agent_bin: PathBuf, log: Option<PathBuf>) -> Result<Bench> {
        let endpoint = backend.endpoint()?;
        // Two workers, as the agent has: the poller's decoding does not delay the floor's calls.
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let runtime = tokio
            .block_on(backend.connect(&endpoint))
            .with_context(|| format!("connecting to {endpoint}"))?;
        let dir = tempfile::Builder::new()
            .prefix("staticpod-bench")
            .tempdir()?;
        let manifests = dir.path().join("manifests");
        let peer_dir = dir.path().join("peer");
        std::fs::create_dir(&manifests)?;
        std::fs::create_dir(&peer_dir)?;
        let pid = std::process::id();
        let node = format!("bench-{pid}");
        let bench = Bench {
            backend,
            endpoint,
            runtime,
            tokio,
            floor_node: format!("{node}-floor"),
            node,
            manifests,
            root: dir.path().join("root"),
            peer_dir,
            status_port: 40000 + (pid % 5000) as u16,
            agent_bin,
            agent: None,
            log: log.unwrap_or_else(|| dir.path().join("agent.log")),
            peer_files: Vec::new(),
            poll: POLL,
            _dir: dir,
        };
        bench.clean();
        Ok(bench)
    }

    fn start_agent(&mut self) -> Result<()> {
        ensure!(self.agent.is_none(), "the agent already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.agent_bin)
            .args(["run", "--runtime", self.backend.flag()])
            .arg("--container-runtime-endpoint")
            .arg(&self.endpoint)
            .arg("--pod-manifest-path")
            .arg(&self.manifests)
            .arg("--root-dir")
            .arg(&self.root)
            .args(["--hostname-override", &self.node])
            .args(["--read-only-port", &self.status_port.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.agent_bin.display()))?;
        self.agent = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while http_get(self.status_port, "/healthz").is_err() {
            if let Some(status) = self
                .agent
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("the agent exited ({status}):\n{}", self.log_text());
            }
            ensure!(
                Instant::now() < deadline,
                "the agent's status endpoint never answered:\n{}",
                self.log_text()
            );
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    fn agent_pid(&self) -> Result<u32> {
        self.agent
            .as_ref()
            .map(Child::id)
            .context("the agent is not running")
    }

    /// SIGKILL, as a crash would.
    fn kill_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn full_name(&self, pod: &str, node: &str) -> String {
        format!("{pod}-{node}")
    }

    fn containers_of(&self, node: &str) -> Result<Vec<ContainerInfo>> {
        let all = self.tokio.block_on(self.runtime.list_containers())?;
        Ok(all
            .into_iter()
            .filter(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(node))
            .collect())
    }

    /// Removes pod `name`'s manifest, and its objects of both nodes through the runtime.
    fn clean_pods(&self, name: &str) {
        let _ = std::fs::remove_file(self.manifests.join(format!("{name}.yaml")));
        let names = [
            self.full_name(name, &self.node),
            self.full_name(name, &self.floor_node),
        ];
        let runtime = self.runtime.clone();
        let ours = move |l: &BTreeMap<String, String>| {
            l.get(labels::POD_NAME).is_some_and(|n| names.contains(n))
        };
        self.tokio.block_on(async move {
            if let Ok(containers) = runtime.list_containers().await {
                for c in containers.iter().filter(|c| ours(&c.labels)) {
                    let _ = runtime.stop_container(&c.id, Duration::ZERO).await;
                    let _ = runtime.remove_container(&c.id).await;
                }
            }
            if let Ok(sandboxes) = runtime.list_sandboxes().await {
                for s in sandboxes.iter().filter(|s| ours(&s.labels)) {
                    let _ = runtime.stop_sandbox(&s.id).await;
                    let _ = runtime.remove_sandbox(&s.id).await;
                }
            }
        });
    }

    /// Removes every object of the bench's nodes and every peer pod.
    fn clean(&self) {
        let runtime = self.runtime.clone();
        let nodes = [self.node.clone(), self.floor_node.clone()];
        let ours = move |labels: &BTreeMap<String, String>| {
            labels
                .get(labels::NODE)
                .is_some_and(|n| nodes.iter().any(|node| node == n))
        };
        self.tokio.block_on(async move {
            if let Ok(containers) = runtime.list_containers().await {
                let _ = all(containers.into_iter().filter(|c| ours(&c.labels)).map(|c| {
                    let runtime = runtime.clone();
                    async move {
                        let _ = runtime.stop_container(&c.id, Duration::ZERO).await;
                        let _ = runtime.remove_container(&c.id).await;
                        Ok(())
                    }
                }))
                .await;
            }
            if let Ok(sandboxes) = runtime.list_sandboxes().await {
                let _ = all(sandboxes.into_iter().filter(|s| ours(&s.labels)).map(|s| {
                    let runtime = runtime.clone();
                    async move {
                        let _ = runtime.stop_sandbox(&s.id).await;
                        let _ = runtime.remove_sandbox(&s.id).await;
                        Ok(())
                    }
                }))
                .await;
            }
        });
        for file in &self.peer_files {
            let _ = self.podman(
                &["kube", "down"],
                &[file.as_os_str().to_str().unwrap_or("")],
            );
        }
    }

    /// Polls until every container of pod `full_name` (of `node`, UID other than `not_uid`)
    /// runs, `count` of them.
    fn until_running(
        &self,
        node: &str,
        full_name: &str,
        count: usize,
        not_uid: Option<&str>,
    ) -> Result<Running> {
        self.tokio.block_on(until_running(
            &*self.runtime,
            node,
            full_name,
            count,
            not_uid,
            self.poll,
        ))
    }

    /// Polls until no container or sandbox of pod `full_name` of `node` is left; returns
    /// when that was seen.
    fn until_gone(&self, node: &str, full_name: &str) -> Result<SystemTime> {
        self.tokio.block_on(until_gone(
            &*self.runtime,
            node,
            Some(full_name),
            PATIENCE,
            self.poll,
        ))
    }

    fn podman(&self, command: &[&str], rest: &[&str]) -> Result<String> {
        let output = Command::new("podman")
            .args(["--url", &self.endpoint])
            .args(command)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .context("running podman")?;
        ensure!(
            output.status.success(),
            "podman {} {} failed: {}",
            command.join(" "),
            rest.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.kill_agent();
        self.clean();
    }
}

async fn until_running(
    runtime: &dyn ContainerRuntime,
    node: &str,
    full_name: &str,
    count: usize,
    not_uid: Option<&str>,
    poll: Duration,
) -> Result<Running> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let containers = runtime.list_containers().await?;
        let mut uid = None;
        let mut last_started = UNIX_EPOCH;
        let mut running = 0;
        for c in &containers {
            let l = &c.labels;
            if l.get(labels::NODE).map(String::as_str) != Some(node)
                || l.get(labels::POD_NAME).map(String::as_str) != Some(full_name)
                || l.get(labels::POD_UID).map(String::as_str) == not_uid
            {
                continue;
            }
            if let ContainerState::Running { started_at } = c.state {
                running += 1;
                last_started = last_started.max(started_at);
                uid = l.get(labels::POD_UID).cloned();
            }
        }
        if running == count {
            return Ok(Running {
                uid: uid.unwrap_or_default(),
                last_started,
                seen: SystemTime::now(),
            });
        }
        if Instant::now() > deadline {
            bail!("{full_name}: {running} of {count} containers running after {PATIENCE:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

async fn until_gone(
    runtime: &dyn ContainerRuntime,
    node: &str,
    full_name: Option<&str>,
    patience: Duration,
    poll: Duration,
) -> Result<SystemTime> {
    let deadline = Instant::now() + patience;
    let matches = |l: &BTreeMap<String, String>| {
        l.get(labels::NODE).map(String::as_str) == Some(node)
            && full_name.is_none_or(|f| l.get(labels::POD_NAME).map(String::as_str) == Some(f))
    };
    loop {
        let (containers, sandboxes) =
            tokio::join!(runtime.list_containers(), runtime.list_sandboxes());
        let left = containers?.iter().filter(|c| matches(&c.labels)).count()
            + sandboxes?.iter().filter(|s| matches(&s.labels)).count();
        if left == 0 {
            return Ok(SystemTime::now());
        }
        if Instant::now() > deadline {
            bail!("{left} objects of {node} {full_name:?} still there after {patience:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

// ---------------------------------------------------------------------------------------
// The floor: what the executor does, called directly

/// How long each direct call of one floor start took, in ms.
#[derive(Debug, Default, Clone)]
struct CallTimes {
    run_sandbox: f64,
    /// ensure_image + create_container + start_container, all containers.
    containers: f64,
}

fn load(node: &str, file: &str, text: &str) -> Result<StaticPod> {
    let path = PathBuf::from("/bench").join(file);
    let mut loaded = manifest::load(&path, text, node, "2025-01-01T00:00:00Z");
    ensure!(
        !loaded.has_errors() && loaded.pods.len() == 1,
        "{file}: {:?}",
        loaded.diagnostics
    );
    Ok(loaded.pods.remove(0))
}

/// Creates the pod's sandbox and starts its containers in order, as the executor's
/// RunSandbox and StartContainer steps do.
async fn floor_start(
    runtime: Arc<dyn ContainerRuntime>,
    pod: Arc<StaticPod>,
    root: PathBuf,
) -> Result<CallTimes> {
    let (pod, root) = (&*pod, root.as_path());
    let t = Instant::now();
    let sandbox = configs::sandbox_config(pod, 0, root);
    std::fs::create_dir_all(&sandbox.log_directory)?;
    let sandbox_id = runtime.run_sandbox(&sandbox).await?;
    let run_sandbox = ms(t.elapsed());
    let t = Instant::now();
    let facts = NodeFacts {
        root_dir: root,
        host_ip: "127.0.0.1",
        pod_ip: "127.0.0.1",
    };
    for container in &pod.pod.spec.containers {
        let config =
            configs::container_config(pod, ContainerKind::App, container, 0, vec![], &facts);
        runtime
            .ensure_image(&container.image, configs::pull_policy(container))
            .await?;
        let id = runtime
            .create_container(&sandbox_id, &config, &sandbox)
            .await?;
        runtime.start_container(&id).await?;
    }
    Ok(CallTimes {
        run_sandbox,
        containers: ms(t.elapsed()),
    })
}

/// Stops and removes every object of pod UID `uid` of `node`, as the executor's KillPod step
/// does: containers stopped together, then sandboxes stopped, then all removed.
async fn floor_kill(runtime: Arc<dyn ContainerRuntime>, node: String, uid: String) -> Result<()> {
    let (containers, sandboxes) = tokio::join!(runtime.list_containers(), runtime.list_sandboxes());
    let mut objects = objects_by_uid(&node, containers?, sandboxes?);
    let (containers, sandboxes) = objects.remove(&uid).unwrap_or_default();
    kill_objects(runtime, containers, sandboxes).await
}

/// The container and sandbox ids of `node`'s pods, by pod UID.
fn objects_by_uid(
    node: &str,
    containers: Vec<ContainerInfo>,
    sandboxes: Vec<SandboxInfo>,
) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut by_uid: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let uid_of = |l: &BTreeMap<String, String>| {
        (l.get(labels::NODE).map(String::as_str) == Some(node))
            .then(|| l.get(labels::POD_UID).cloned())
            .flatten()
    };
    for c in containers {
        if let Some(uid) = uid_of(&c.labels) {
            by_uid.entry(uid).or_default().0.push(c.id);
        }
    }
    for s in sandboxes {
        if let Some(uid) = uid_of(&s.labels) {
            by_uid.entry(uid).or_default().1.push(s.id);
        }
    }
    by_uid
}

/// The executor's KillPod step: containers stopped together, then sandboxes stopped, then
/// all removed.
async fn kill_objects(
    runtime: Arc<dyn ContainerRuntime>,
    containers: Vec<String>,
    sandboxes: Vec<String>,
) -> Result<()> {
    let grace = Duration::from_secs(30);
    all(containers.iter().map(|id| {
        let (runtime, id) = (runtime.clone(), id.clone());
        async move { Ok(runtime.stop_container(&id, grace).await?) }
    }))
    .await?;
    for id in &sandboxes {
        runtime.stop_sandbox(id).await?;
    }
    for id in &containers {
        runtime.remove_container(id).await?;
    }
    for id in &sandboxes {
        runtime.remove_sandbox(id).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Phase 1–3: start, change, removal of one pod, agent / floor / peer

#[derive(Debug, Default)]
struct Series {
    start: Vec<f64>,
    /// The same, ending when the harness's poll saw it (10 ms resolution plus a list call).
    start_seen: Vec<f64>,
    change: Vec<f64>,
    remove: Vec<f64>,
}

#[derive(Debug, Default)]
struct ShapeResult {
    agent: Series,
    floor: Series,
    peer: Series,
    /// Floor's direct call times per run.
    floor_calls: Vec<CallTimes>,
    /// From the agent's log: write → "sandbox started", and "sandbox started" → last
    /// "container started", per run (ms).
    agent_to_sandbox: Vec<f64>,
    agent_sandbox_to_last: Vec<f64>,
    /// write → "killing pod" of the old UID, per change.
    agent_change_to_kill: Vec<f64>,
}

fn agent_cycle(
    bench: &Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = format!("{}-r{run}", shape.label());
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
        out.agent.start.push(since(t0, first.last_started));
        out.agent.start_seen.push(since(t0, first.seen));
        out.agent.change.push(since(t1, second.last_started));
        out.agent.remove.push(since(t2, gone));
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

fn floor_cycle(
    bench: &Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = format!("{}-r{run}", shape.label());
    let file = format!("{name}.yaml");
    let node = &bench.floor_node;
    let full = bench.full_name(&name, node);
    let n = shape.containers();
    let rt = bench.runtime.clone();
    let runtime = &*bench.runtime;

    let t0 = SystemTime::now();
    let pod = Arc::new(load(node, &file, &shape.manifest(&name, 1))?);
    let (calls, first) = bench.tokio.block_on(async {
        tokio::join!(
            floor_start(rt.clone(), pod, bench.root.clone()),
            until_running(runtime, node, &full, n, None, bench.poll)
        )
    });
    let (calls, first) = (calls?, first?);

    let t1 = SystemTime::now();
    let edited = Arc::new(load(node, &file, &shape.manifest(&name, 2))?);
    let (done, second) = bench.tokio.block_on(async {
        tokio::join!(
            async {
                floor_kill(rt.clone(), node.clone(), first.uid.clone()).await?;
                floor_start(rt.clone(), edited, bench.root.clone()).await
            },
            until_running(runtime, node, &full, n, Some(&first.uid), bench.poll)
        )
    });
    let (_, second) = (done?, second?);

    let t2 = SystemTime::now();
    let (done, gone) = bench.tokio.block_on(async {
        tokio::join!(
            floor_kill(rt.clone(), node.clone(), second.uid.clone()),
            until_gone(runtime, node, Some(&full), PATIENCE, bench.poll)
        )
    });
    let (_, gone) = (done?, gone?);
    if record {
        out.floor.start.push(since(t0, first.last_started));
        out.floor.start_seen.push(since(t0, first.seen));
        out.floor.change.push(since(t1, second.last_started));
        out.floor.remove.push(since(t2, gone));
        out.floor_calls.push(calls);
    }
    Ok(())
}

/// `podman kube play` of the same manifest, `--replace` with the edit, `kube down`.
fn peer_cycle(
    bench: &mut Bench,
    shape: Shape,
    run: usize,
    out: &mut ShapeResult,
    record: bool,
) -> Result<()> {
    let name = format!("peer-{}-{}-r{run}", std::process::id(), shape.label());
    let path = bench.peer_dir.join(format!("{name}.yaml"));
    let file = path.to_str().context("temporary path")?.to_string();
    bench.peer_files.push(path.clone());

    std::fs::write(&path, shape.manifest(&name, 1))?;
    let t0 = SystemTime::now();
    bench.podman(&["kube", "play"], &[&file])?;
    let first = peer_last_started(bench, &name, shape.containers())?;
    std::fs::write(&path, shape.manifest(&name, 2))?;
    let t1 = SystemTime::now();
    bench.podman(&["kube", "play", "--replace"], &[&file])?;
    let second = peer_last_started(bench, &name, shape.containers())?;
    let t2 = SystemTime::now();
    bench.podman(&["kube", "down"], &[&file])?;
    let gone = SystemTime::now();
    let left = bench.podman(
        &["pod", "ps", "-q", "--filter", &format!("name=^{name}$")],
        &[],
    )?;
    ensure!(left.trim().is_empty(), "kube down left pod {name}: {left}");
    bench.peer_files.retain(|p| p != &path);
    if record {
        out.peer.start.push(since(t0, first));
        out.peer.change.push(since(t1, second));
        out.peer.remove.push(since(t2, gone));
    }
    Ok(())
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

// ---------------------------------------------------------------------------------------
// The agent's log: timestamps of its own lines

#[derive(Debug, Default)]
struct LogTimes {
    sandbox_started: Vec<SystemTime>,
    container_started: Vec<SystemTime>,
    killing: Vec<SystemTime>,
}

/// Times of the agent's "sandbox started", "container started" and "killing pod" lines for
/// pod `full_name` (lines look like `2025-01-01T12:00:00.123456Z  INFO pod{pod=default/x}: …`).
fn parse_log(log: &str, full_name: &str) -> LogTimes {
    let span = format!("pod{{pod=default/{full_name}}}");
    let mut times = LogTimes::default();
    for line in log.lines().filter(|l| l.contains(&span)) {
        let Some(at) = line.split_whitespace().next().and_then(parse_rfc3339) else {
            continue;
        };
        if line.contains("sandbox started") {
            times.sandbox_started.push(at);
        } else if line.contains("container started") {
            times.container_started.push(at);
        } else if line.contains("killing pod") {
            times.killing.push(at);
        }
    }
    times
}

/// `2025-01-01T12:00:00.123456Z` (UTC only, as tracing-subscriber writes it).
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>());
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let nanos: u32 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (years shifted to start in March).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(secs).ok()?, nanos))
}

// ---------------------------------------------------------------------------------------
// The agent process, from /proc

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("/proc/pid/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// A `Vm*` line of /proc/<pid>/status, in MiB.
fn memory_mib(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{key} in /proc/{pid}/status"))?;
    let kib: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
    Ok(kib / 1024.0)
}

/// A plain HTTP/1.0 GET on 127.0.0.1; the body of a 200 answer.
fn http_get(port: u16, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP header")?;
    ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{}",
        head.lines().next().unwrap_or_default()
    );
    Ok(body.to_string())
}

/// How many pods the agent's `/pods` lists, and how many of them are `Running`.
fn status_pods(port: u16) -> Result<(usize, usize)> {
    let list: Value = serde_json::from_str(&http_get(port, "/pods")?)?;
    let items = list["items"].as_array().context("items")?;
    let running = items
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    Ok((items.len(), running))
}

// ---------------------------------------------------------------------------------------
// Phase 4–5: scale, idle, restart

#[derive(Debug, Default)]
struct ScaleResult {
    pods: usize,
    /// RSS of the fresh agent before any pod, MiB.
    agent_start_rss_mib: f64,
    agent_all_running_ms: f64,
    agent_cpu_s: f64,
    agent_peak_rss_mib: f64,
    idle_s: f64,
    idle_rss_mib: f64,
    idle_cpu_share: f64,
    /// Anonymous (heap) and file-backed (the binary's code) parts of the idle RSS, MiB.
    idle_rss_anon_mib: f64,
    idle_rss_file_mib: f64,
    /// CPU ticks of each second of the idle period.
    idle_ticks_per_second: Vec<u64>,
    /// Change nudges the backend's `watch()` feed gave during the idle period: each makes
    /// the agent relist (other nodes' objects on the same runtime nudge it too).
    idle_runtime_nudges: usize,
    /// Managed containers of other nodes (other agents, tests) on the runtime at idle start.
    other_nodes_containers: usize,
    /// One pod's start, change and removal while the N pods run.
    busy: ShapeResult,
    busy_error: Option<String>,
    restart_adopted_ms: f64,
    restart_replaced: usize,
    restart_restarted: usize,
    restart_kills_logged: usize,
    restart_peak_rss_mib: f64,
    agent_remove_all_ms: f64,
    floor_all_running_ms: f64,
    floor_remove_all_ms: f64,
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

fn all_running(bench: &Bench, node: &str, pods: usize) -> Result<SystemTime> {
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
            return Ok(running.into_iter().max().unwrap_or(UNIX_EPOCH));
        }
        ensure!(
            Instant::now() < deadline,
            "{} of {pods} pods of {node} running after {PATIENCE_SCALE:?}",
            running.len()
        );
        std::thread::sleep(POLL_SCALE);
    }
}

fn scale(bench: &mut Bench, pods: usize, idle: Duration, ticks: f64) -> Result<ScaleResult> {
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
    let last = all_running(bench, &bench.node, pods)?;
    out.agent_all_running_ms = since(t0, last);
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
            bench.clean_pods(&format!("one-r{}", 1000 + i));
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

    // The floor: the same N pods by direct calls, all at once, as the agent runs their work.
    let floor_pods: Vec<Arc<StaticPod>> = names
        .iter()
        .map(|name| {
            load(
                &bench.floor_node,
                &format!("{name}.yaml"),
                &scale_manifest(name),
            )
            .map(Arc::new)
        })
        .collect::<Result<_>>()?;
    let t0 = SystemTime::now();
    let runtime = bench.runtime.clone();
    bench.tokio.block_on(all(floor_pods
        .iter()
        .map(|p| floor_start(runtime.clone(), p.clone(), bench.root.clone()))))?;
    let last = all_running(bench, &bench.floor_node, pods)?;
    out.floor_all_running_ms = since(t0, last);
    let t0 = SystemTime::now();
    let node = bench.floor_node.clone();
    // One listing for all pods, as the agent's one relist before it plans.
    bench.tokio.block_on(async {
        let (containers, sandboxes) =
            tokio::join!(runtime.list_containers(), runtime.list_sandboxes());
        let objects = objects_by_uid(&node, containers?, sandboxes?);
        all(objects
            .into_values()
            .map(|(containers, sandboxes)| kill_objects(runtime.clone(), containers, sandboxes)))
        .await
    })?;
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

// ---------------------------------------------------------------------------------------
// Report

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
    let peer = args.backend == Backend::Podman;
    let mut lines = vec![format!(
        "{} — {} runs each, ms: median [min–max]; start/change end at the runtime's started_at of the last container",
        args.backend.flag(),
        args.runs
    )];
    let mut head = format!(
        "  {:<22} {:>17} {:>17} {:>17} {:>6}",
        "", "agent", "floor", "overhead", "ratio"
    );
    if peer {
        head.push_str(&format!(" {:>17} {:>10}", "kube play", "agent/peer"));
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
            if peer {
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

fn report(args: &Args, shapes: &[(Shape, ShapeResult)], scale: &ScaleResult) -> Value {
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
                    "peer_kube_play": if r.peer.start.is_empty() { Value::Null } else { series_json(&r.peer) },
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
        "backend": args.backend.flag(),
        "runs": args.runs,
        "poll_ms": ms(POLL),
        "agent_binary": args.agent.display().to_string(),
        "agent_binary_bytes": std::fs::metadata(&args.agent).map(|m| m.len()).unwrap_or(0),
        "latency": latency,
        "scale": {
            "pods": s.pods,
            "agent_all_running_ms": s.agent_all_running_ms,
            "floor_all_running_ms": s.floor_all_running_ms,
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

// ---------------------------------------------------------------------------------------

fn main() {
    if let Err(err) = run() {
        eprintln!("agent bench: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    ensure!(
        args.agent.exists(),
        "no agent binary at {}",
        args.agent.display()
    );
    let ticks = clock_ticks();
    if let Some(log) = &args.log {
        // A fresh log per run: its lines are matched by pod name.
        let _ = std::fs::remove_file(log);
    }
    let mut bench = Bench::new(args.backend, args.agent.clone(), args.log.clone())?;
    eprintln!(
        "bench: {} at {}, node {}, agent {}",
        args.backend.flag(),
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
            let mut order: Vec<u8> = if args.backend == Backend::Podman {
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

    let scale = scale(&mut bench, args.pods, args.idle, ticks).context("scale phase")?;
    let report = report(&args, &shapes, &scale);
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
