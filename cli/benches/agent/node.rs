//! The bench's node: its connection to the runtime, the agent process, the directories it
//! reads, polling the runtime until pods run or are gone, and removing all of it on the way
//! out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use staticpod::runtimes::{self, DEFAULT_PAUSE_IMAGE};
use staticpod_runtime::backend::Backend;
use staticpod_runtime::labels;
use staticpod_runtime::{ContainerInfo, ContainerRuntime, ContainerState};
use staticpod_testkit::backend::{endpoint, endpoint_var};

use crate::compose;
use crate::floor::Floor;
use crate::process::http_get;
use crate::{PATIENCE, POLL};

/// A poll's finding: when the last container of a pod started, by the runtime's clock.
#[derive(Debug, Clone)]
pub struct Running {
    /// The pod's UID.
    pub uid: String,
    /// The latest `started_at` among the pod's containers.
    pub last_started: SystemTime,
    /// When the harness saw them all running.
    pub seen: SystemTime,
}

/// The runtime under test, the agent process and its directories.
pub struct Bench {
    /// The runtime measured.
    pub backend: Backend,
    /// Its endpoint.
    pub endpoint: String,
    /// The bench's own connection to it, for polling, the floor and clean-up.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The harness's async runtime.
    pub tokio: tokio::runtime::Runtime,
    /// The agent's node name.
    pub node: String,
    /// The floor's node name: no agent runs as it, so nothing touches its objects.
    pub floor_node: String,
    /// The agent's manifest directory.
    pub manifests: PathBuf,
    /// The agent's (and the floor's) `--root-dir`.
    pub root: PathBuf,
    /// Where the peer's manifests are written.
    pub peer_dir: PathBuf,
    /// The agent's status port.
    pub status_port: u16,
    agent_bin: PathBuf,
    agent: Option<Child>,
    log: PathBuf,
    /// How often `until_running` and `until_gone` poll.
    pub poll: Duration,
    /// Pods made by `podman kube play`, to `kube down` on the way out.
    pub peer_files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Connects to `backend` at the endpoint `cargo xtask bench` handed over, and removes
    /// whatever a bench of this process id left behind.
    pub fn new(backend: Backend, agent_bin: PathBuf, log: Option<PathBuf>) -> Result<Bench> {
        let endpoint = endpoint(backend).with_context(|| {
            format!(
                "{} is not set: run through `cargo xtask bench`, which starts the runtime",
                endpoint_var(backend)
            )
        })?;
        // Two workers, as the agent has: the poller's decoding does not delay the floor's calls.
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let runtime = tokio
            .block_on(runtimes::connect(
                backend,
                &endpoint,
                DEFAULT_PAUSE_IMAGE,
                None,
            ))
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

    /// Starts `staticpod run` as the bench's node; returns once its status endpoint answers.
    pub fn start_agent(&mut self) -> Result<()> {
        ensure!(self.agent.is_none(), "the agent already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.agent_bin)
            .args(["run", "--runtime", self.backend.name()])
            .arg("--container-runtime-endpoint")
            .arg(&self.endpoint)
            .arg("--pod-manifest-path")
            .arg(&self.manifests)
            .arg("--root-dir")
            .arg(&self.root)
            .arg("--pod-logs-dir")
            .arg(self.root.join("logs"))
            .args(["--hostname-override", &self.node])
            .args(["--read-only-port", &self.status_port.to_string()])
            // The bench's agents leave the node's health port alone.
            .args(["--healthz-port", "0"])
            // The agent's pass lines (what made each pass due, what it took) are debug.
            .env("RUST_LOG", "info,staticpod_core::agent=debug")
            // As staticpod.service runs it.
            .env("MALLOC_ARENA_MAX", "2")
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

    /// The agent's process id.
    pub fn agent_pid(&self) -> Result<u32> {
        self.agent
            .as_ref()
            .map(Child::id)
            .context("the agent is not running")
    }

    /// SIGKILL, as a crash would.
    pub fn kill_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The full name of pod `pod` on `node`.
    pub fn full_name(&self, pod: &str, node: &str) -> String {
        format!("{pod}-{node}")
    }

    /// The containers of `node`.
    pub fn containers_of(&self, node: &str) -> Result<Vec<ContainerInfo>> {
        let all = self.tokio.block_on(self.runtime.list_containers())?;
        Ok(all
            .into_iter()
            .filter(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(node))
            .collect())
    }

    /// The floor: the agent's planner and executor as node [`Bench::floor_node`].
    pub fn floor(&self) -> Floor {
        Floor::new(
            self.runtime.clone(),
            self.floor_node.clone(),
            self.root.clone(),
        )
    }

    /// Removes pod `name`'s manifest, and its objects of both nodes through the runtime.
    pub fn clean_pods(&self, name: &str) {
        let _ = std::fs::remove_file(self.manifests.join(format!("{name}.yaml")));
        let names = [
            self.full_name(name, &self.node),
            self.full_name(name, &self.floor_node),
        ];
        self.remove_objects(move |l| l.get(labels::POD_NAME).is_some_and(|n| names.contains(n)));
    }

    /// Removes every object of the bench's nodes and every peer pod.
    pub fn clean(&self) {
        let nodes = [self.node.clone(), self.floor_node.clone()];
        self.remove_objects(move |l| l.get(labels::NODE).is_some_and(|n| nodes.contains(n)));
        for file in &self.peer_files {
            let _ = match self.backend {
                Backend::Docker => {
                    let project = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    compose::compose(self, project, file, &["down"])
                }
                _ => self
                    .podman(&["kube", "down"], &[file.to_str().unwrap_or("")])
                    .map(drop),
            };
        }
    }

    /// Stops and removes, all at once, the containers and then the sandboxes whose labels
    /// are `ours`, as far as the runtime lets it.
    fn remove_objects(&self, ours: impl Fn(&BTreeMap<String, String>) -> bool) {
        let runtime = &self.runtime;
        self.tokio.block_on(async {
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
    }

    /// Polls until every container of pod `full_name` (of `node`, UID other than `not_uid`)
    /// runs, `count` of them.
    pub fn until_running(
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
    pub fn until_gone(&self, node: &str, full_name: &str) -> Result<SystemTime> {
        self.tokio.block_on(until_gone(
            &*self.runtime,
            node,
            Some(full_name),
            PATIENCE,
            self.poll,
        ))
    }

    /// `podman --url <endpoint> <command> <rest>`; its stdout.
    pub fn podman(&self, command: &[&str], rest: &[&str]) -> Result<String> {
        let mut podman = Command::new("podman");
        podman
            .args(["--url", &self.endpoint])
            .args(command)
            .args(rest);
        stdout_of(podman)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.kill_agent();
        self.clean();
    }
}

/// Polls `runtime` until every container of pod `full_name` (of `node`, UID other than
/// `not_uid`) runs, `count` of them.
pub async fn until_running(
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

/// Polls `runtime` until no container or sandbox of `node` (of pod `full_name`, if given) is
/// left; returns when that was seen.
pub async fn until_gone(
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

/// Runs `tasks` concurrently on the harness's runtime; the first error, once all are done.
pub async fn all<T: Send + 'static>(
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

/// Runs `command` (stdin closed) to its end; its stdout, or an error with its stderr.
pub fn stdout_of(mut command: Command) -> Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    ensure!(
        output.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
