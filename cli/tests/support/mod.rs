//! Harness for the behaviour suite: a real `staticpod run` process against a real runtime,
//! with its own manifest directory, root directory, node name and status port, so tests run
//! side by side. On drop the agent is killed and every object of the test's node is removed
//! through the runtime API, pass or fail; objects of other nodes are never touched.

pub mod etcd;
pub mod nginx;
pub mod pod_watch;
pub mod prometheus;
pub mod timeline;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use staticpod::runtimes::{self, DEFAULT_PAUSE_IMAGE};
use staticpod_core::status::PodListView;
use staticpod_runtime::backend::Backend;
use staticpod_runtime::labels;
use staticpod_runtime::{ContainerInfo, ContainerRuntime, ContainerState, ExecResult, SandboxInfo};
use staticpod_testkit::backend::require_endpoint;
use staticpod_testkit::net::http_get_body;

/// The real kubectl; `cargo xtask test` installs Debian's `kubernetes-client` where there is
/// none.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// The longest any condition is waited for; reaching it fails the test with what was seen.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A hostPort for case number `case` of the suite on `backend` that no other case of any
/// backend uses, so the suites of all backends run side by side.
pub fn case_port(backend: Backend, case: u16) -> u16 {
    let base = match backend {
        Backend::Docker => 21000,
        Backend::Cri => 22000,
        Backend::Podman => 23000,
    };
    base + case
}

static NEXT_STATUS_PORT: AtomicU16 = AtomicU16::new(0);

/// One test's node: a manifest directory, an agent process, and the runtime to inspect.
pub struct Node {
    /// Backend.
    pub backend: Backend,
    /// The runtime's endpoint, as `cargo xtask test` handed it over.
    endpoint: String,
    /// Node name (`--hostname-override`), unique per test.
    pub name: String,
    /// Manifest directory.
    pub manifests: PathBuf,
    /// `--root-dir`.
    pub root: PathBuf,
    status_port: u16,
    /// More flags for `staticpod run`.
    flags: Vec<String>,
    /// More environment for `staticpod run`.
    env: Vec<(String, String)>,
    /// A `--config` file given instead of `--pod-manifest-path`.
    config: Option<PathBuf>,
    /// The endpoint the agent is given, when not the one the node inspects through.
    agent_endpoint: Option<String>,
    /// A command the agent is started through (its program and arguments follow), which
    /// must `exec` it so the agent keeps the child's pid.
    launcher: Vec<String>,
    agent: Option<Child>,
    log: PathBuf,
    runtime: Arc<dyn ContainerRuntime>,
    tokio: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A node for test `case` (a short name) on `backend`, with no agent running yet.
    pub fn new(backend: Backend, case: &str) -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        let manifests = dir.path().join("manifests");
        std::fs::create_dir(&manifests).unwrap();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let endpoint = require_endpoint(backend);
        let runtime = tokio
            .block_on(runtimes::connect(
                backend,
                &endpoint,
                DEFAULT_PAUSE_IMAGE,
                None,
            ))
            .unwrap_or_else(|error| panic!("connect to {backend} at {endpoint}: {error:#}"));
        let offset = NEXT_STATUS_PORT.fetch_add(1, Ordering::SeqCst);
        // Below Linux's ephemeral ports (32768 and up), which any outgoing connection of
        // the machine may hold, and above the cases' hostPorts: 200 a test process.
        let status_port = 24000 + (std::process::id() % 40) as u16 * 200 + offset;
        let node = Node {
            backend,
            endpoint,
            name: format!("{case}-{}", std::process::id()),
            manifests,
            root: dir.path().join("root"),
            status_port,
            flags: Vec::new(),
            env: Vec::new(),
            config: None,
            agent_endpoint: None,
            launcher: Vec::new(),
            agent: None,
            log: dir.path().join("agent.log"),
            runtime,
            tokio,
            _dir: dir,
        };
        node.clean();
        node
    }

    /// A directory of this test's, for its own files (removed with the node).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self._dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Adds `flags` to the agent's command line, after the node's own.
    pub fn add_flags(&mut self, flags: &[&str]) {
        self.flags.extend(flags.iter().map(|f| f.to_string()));
    }

    /// Sets `key` to `value` in the agent's environment.
    pub fn add_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Gives the agent `--config` with `text` (a kubelet configuration) instead of
    /// `--pod-manifest-path`: the configuration names the manifest directory.
    pub fn use_config(&mut self, text: &str) {
        let path = self._dir.path().join("kubelet-config.yaml");
        std::fs::write(&path, text).unwrap();
        self.config = Some(path);
    }

    /// Starts `staticpod run` for this node.
    pub fn start_agent(&mut self) {
        assert!(self.agent.is_none(), "the agent is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let agent = env!("CARGO_BIN_EXE_staticpod");
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(agent);
                command
            }
            None => Command::new(agent),
        };
        command
            .args(["run", "--runtime", self.backend.name()])
            .args([
                "--container-runtime-endpoint",
                self.agent_endpoint.as_deref().unwrap_or(&self.endpoint),
            ]);
        match &self.config {
            Some(config) => command.arg("--config").arg(config),
            None => command.arg("--pod-manifest-path").arg(&self.manifests),
        };
        let child = command
            .arg("--root-dir")
            .arg(&self.root)
            .arg("--pod-logs-dir")
            .arg(self.root.join("logs"))
            .args(["--hostname-override", &self.name])
            .args(["--read-only-port", &self.status_port.to_string()])
            // Many agents run at once: none takes the node's health port.
            .args(["--healthz-port", "0"])
            .args(&self.flags)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start staticpod run");
        self.agent = Some(child);
        self.wait_for("the status endpoint to answer", || {
            self.http_get("/healthz").map(|_| ())
        });
    }

    /// Starts the agent through `launcher` (a program and its arguments, which then `exec`s
    /// the agent's command line): `unshare` to give it namespaces of its own.
    #[allow(dead_code)] // The fault matrix's (cli/tests/faults.rs); the behaviour suite has no use for it.
    pub fn set_launcher(&mut self, launcher: &[&str]) {
        self.launcher = launcher.iter().map(|a| a.to_string()).collect();
    }

    /// Gives the agent `endpoint` instead of the runtime's own (a proxy in front of it); the
    /// node itself still inspects the runtime directly.
    #[allow(dead_code)] // The fault matrix's (cli/tests/faults.rs); the behaviour suite has no use for it.
    pub fn set_agent_endpoint(&mut self, endpoint: &str) {
        self.agent_endpoint = Some(endpoint.to_string());
    }

    /// The running agent's process id; `None` when none was started, it was killed, or it
    /// exited on its own (reaped here).
    #[allow(dead_code)] // The fault matrix's (cli/tests/faults.rs); the behaviour suite has no use for it.
    pub fn agent_pid(&mut self) -> Option<u32> {
        let child = self.agent.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// Stops the agent with SIGTERM, as systemd does, and waits for it to exit.
    pub fn terminate_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let pid = child.id().to_string();
            succeed(Command::new("kill").args(["-TERM", &pid]));
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "the agent exits cleanly on SIGTERM: {status}"
            );
        }
    }

    /// Kills the agent with SIGKILL, as a crash would.
    pub fn kill_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many lines of the agent's log so far `matches`.
    #[allow(dead_code)] // The fault matrix's (cli/tests/faults.rs); the behaviour suite has no use for it.
    pub fn log_lines(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.log().lines().filter(|l| matches(l)).count()
    }

    /// Writes a manifest atomically (write a dot file, rename it in), as editors and config
    /// managers do.
    pub fn write_manifest(&self, name: &str, text: &str) {
        let temporary = self.manifests.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, self.manifests.join(name)).unwrap();
    }

    /// Removes a manifest.
    pub fn remove_manifest(&self, name: &str) {
        std::fs::remove_file(self.manifests.join(name)).unwrap();
    }

    /// Pod full name on this node.
    pub fn pod_name(&self, pod: &str) -> String {
        format!("{pod}-{}", self.name)
    }

    /// This node's containers as the runtime reports them.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        let all = self
            .tokio
            .block_on(self.runtime.list_containers())
            .expect("list containers");
        all.into_iter()
            .filter(|c| c.labels.get(labels::NODE) == Some(&self.name))
            .collect()
    }

    /// Stops container `id` behind the agent's back, as its process dying would.
    pub fn stop_container(&self, id: &str) {
        self.tokio
            .block_on(self.runtime.stop_container(id, Duration::ZERO))
            .expect("stop the container");
    }

    /// Stops sandbox `id` behind the agent's back, as a node's reboot would.
    pub fn stop_sandbox(&self, id: &str) {
        self.tokio
            .block_on(self.runtime.stop_sandbox(id))
            .expect("stop the sandbox");
    }

    /// Removes sandbox `id` behind the agent's back, as `docker rm`, CRI's
    /// `RemovePodSandbox` or `podman pod rm` would.
    #[allow(dead_code)] // The fault matrix's (cli/tests/faults.rs); the behaviour suite has no use for it.
    pub fn remove_sandbox(&self, id: &str) {
        self.tokio
            .block_on(self.runtime.remove_sandbox(id))
            .expect("remove the sandbox");
    }

    /// This node's sandboxes as the runtime reports them.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        let all = self
            .tokio
            .block_on(self.runtime.list_sandboxes())
            .expect("list sandboxes");
        all.into_iter()
            .filter(|s| s.labels.get(labels::NODE) == Some(&self.name))
            .collect()
    }

    /// Removes container `id` behind the agent's back, as `docker rm`, CRI's
    /// `RemoveContainer` or `podman rm` would.
    pub fn remove_container(&self, id: &str) {
        self.tokio
            .block_on(self.runtime.remove_container(id))
            .expect("remove the container");
    }

    /// Runs `command` in container `id` through the runtime (what `kubectl exec` would ask
    /// the kubelet for), waiting 60 s at most: its exit code and output.
    #[allow(dead_code)] // The behaviour suite's; the fault matrix has no use for it.
    pub fn exec(&self, id: &str, command: &[&str]) -> ExecResult {
        let command: Vec<String> = command.iter().map(|a| a.to_string()).collect();
        self.tokio
            .block_on(
                self.runtime
                    .exec_sync(id, &command, Duration::from_secs(60)),
            )
            .unwrap_or_else(|error| panic!("exec {command:?} in {id}: {error}"))
    }

    /// Every instance, whatever its state, of container `container` of pod `pod`.
    pub fn instances(&self, pod: &str, container: &str) -> Vec<ContainerInfo> {
        let pod = self.pod_name(pod);
        self.containers()
            .into_iter()
            .filter(|c| {
                c.labels.get(labels::POD_NAME) == Some(&pod)
                    && c.labels.get(labels::CONTAINER_NAME).map(String::as_str) == Some(container)
            })
            .collect()
    }

    /// Running containers named `container` of pod `pod`.
    pub fn running(&self, pod: &str, container: &str) -> Vec<ContainerInfo> {
        self.instances(pod, container)
            .into_iter()
            .filter(|c| matches!(c.state, ContainerState::Running { .. }))
            .collect()
    }

    /// Waits until `pod`'s `container` runs, and returns it.
    pub fn wait_running(&self, pod: &str, container: &str) -> ContainerInfo {
        self.wait_for(&format!("{pod}/{container} to run"), || {
            let mut running = self.running(pod, container);
            if running.len() == 1 {
                Ok(running.remove(0))
            } else {
                Err(format!("{} running", running.len()))
            }
        })
    }

    /// Polls `check` until it returns `Ok`, failing after [`PATIENCE`] with the last error
    /// and the agent's log.
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match check() {
                Ok(value) => return value,
                Err(last) if Instant::now() > deadline => {
                    panic!(
                        "gave up waiting for {what}: {last}\n--- agent log ---\n{}",
                        self.log()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// GET from the agent's status endpoint.
    pub fn http_get(&self, path: &str) -> Result<String, String> {
        http_get_body(self.status_port, path)
    }

    /// The agent's read-only port, where `/metrics` is.
    pub fn read_only_port(&self) -> u16 {
        self.status_port
    }

    /// The agent's `/pods`.
    pub fn pods(&self) -> PodListView {
        let body = self.http_get("/pods").expect("GET /pods");
        serde_json::from_str(&body).expect("a PodList")
    }

    /// Output of `staticpod get pods` against this node's agent: (stdout, stderr).
    pub fn get_pods(&self) -> (String, String) {
        let get = self.staticpod(&["get", "pods"]);
        assert!(get.success, "staticpod get pods failed: {get:?}");
        (get.stdout, get.stderr)
    }

    /// Runs `staticpod args --server <this node's read-only port>` to its end: what it
    /// printed, as a kubectl run's.
    pub fn staticpod(&self, args: &[&str]) -> Kubectl {
        let server = format!("http://127.0.0.1:{}", self.status_port);
        let output = Command::new(env!("CARGO_BIN_EXE_staticpod"))
            .args(args)
            .args(["--server", &server])
            .stdin(Stdio::null())
            .output()
            .expect("the staticpod binary runs");
        Kubectl::from(output)
    }

    /// `kubectl` pointed at this node's read-only port, with an empty kubeconfig and a
    /// discovery cache of this test's, so the machine's configuration and cache are never
    /// read.
    fn kubectl_command(&self, args: &[&str]) -> Command {
        let kube = self.scratch("kube");
        let config = kube.join("config");
        if !config.exists() {
            std::fs::write(&config, "").unwrap();
        }
        let mut command = Command::new(KUBECTL);
        command
            .arg(format!("--kubeconfig={}", config.display()))
            .arg(format!("--cache-dir={}", kube.join("cache").display()))
            .args([
                "--server",
                &format!("http://127.0.0.1:{}", self.status_port),
            ])
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }

    /// Runs `kubectl args` against this node to its end.
    pub fn kubectl(&self, args: &[&str]) -> Kubectl {
        let output = self
            .kubectl_command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {KUBECTL} (cargo xtask test installs it): {e}"));
        Kubectl::from(output)
    }

    /// Starts `kubectl args` that keeps running (`get pods -w`); stopped when dropped.
    pub fn kubectl_watch(&self, args: &[&str]) -> Watching {
        let mut child = self
            .kubectl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {KUBECTL} (cargo xtask test installs it): {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Watching {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Removes every object of this node from the runtime.
    fn clean(&self) {
        let runtime = self.runtime.clone();
        let node = self.name.clone();
        self.tokio.block_on(async move {
            let Ok(containers) = runtime.list_containers().await else {
                return;
            };
            for c in containers
                .iter()
                .filter(|c| c.labels.get(labels::NODE) == Some(&node))
            {
                let _ = runtime.stop_container(&c.id, Duration::ZERO).await;
                let _ = runtime.remove_container(&c.id).await;
            }
            let Ok(sandboxes) = runtime.list_sandboxes().await else {
                return;
            };
            for s in sandboxes
                .iter()
                .filter(|s| s.labels.get(labels::NODE) == Some(&node))
            {
                let _ = runtime.stop_sandbox(&s.id).await;
                let _ = runtime.remove_sandbox(&s.id).await;
            }
        });
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_agent();
        self.clean();
        // A Memory emptyDir the agent did not get to unmount (a failed case), or a case's own
        // mount in its scratch directories, is not left mounted: the latest first, so that
        // nested ones go before what holds them.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for point in mounts.lines().rev().filter_map(|l| l.split(' ').nth(1)) {
            if Path::new(point).starts_with(self._dir.path()) {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        if std::thread::panicking() {
            eprintln!("--- agent log of {} ---\n{}", self.name, self.log());
        }
    }
}

/// What one `kubectl` run printed, and whether it succeeded.
#[derive(Debug)]
pub struct Kubectl {
    /// Exit status 0.
    pub success: bool,
    /// Its output.
    pub stdout: String,
    /// Its errors.
    pub stderr: String,
}

impl From<std::process::Output> for Kubectl {
    fn from(output: std::process::Output) -> Kubectl {
        Kubectl {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into(),
            stderr: String::from_utf8_lossy(&output.stderr).into(),
        }
    }
}

impl Kubectl {
    /// Asserts that kubectl failed saying `expected` (`Error from server (NotFound): ...`).
    pub fn assert_refused(&self, expected: &str) {
        assert!(
            !self.success && self.stderr.contains(expected),
            "kubectl should have failed with {expected:?}: {self:?}"
        );
    }

    /// The words of the first line of `stdout`: a table's header.
    pub fn header(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect()
    }

    /// The cells of the row of `stdout` whose first cell is `first`, if there is one.
    pub fn row(&self, first: &str) -> Option<Vec<String>> {
        self.stdout
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .find(|cells| cells.first().map(String::as_str) == Some(first))
    }
}

/// A `kubectl` that keeps running, its output read line by line.
pub struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watching {
    /// Waits for a line that satisfies `wanted` and returns it, failing after [`PATIENCE`]
    /// with every line seen.
    pub fn wait_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "gave up waiting for {what}; kubectl printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `what` listens on 127.0.0.1:`port` (20 s at most), polling its port: the
/// process gives no other sign; fails the test with `log`.
pub fn wait_listening(what: &str, port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads a file the pod wrote through a hostPath volume.
pub fn read_host_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// `podman --url <endpoint> <args>` on the Podman service under test; its stdout, trimmed,
/// or a panic with its stderr.
pub fn podman(args: &[&str]) -> String {
    let endpoint = require_endpoint(Backend::Podman);
    let output = succeed(Command::new("podman").args(["--url", &endpoint]).args(args));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `command` to its end; its output, or a panic with its stderr when it fails.
fn succeed(command: &mut Command) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
