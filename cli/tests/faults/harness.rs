//! The fault matrix's tools: the census of a node (pods lost, doubled, leftovers, half-made
//! pods), waiting for convergence while counting doubles, the row each case reports, the
//! runtime daemon killed and started again through `cargo xtask runtime up`, a socket proxy
//! that delays every call, and a seeded random source that names its seed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use staticpod_runtime::backend::Backend;
use staticpod_runtime::labels;
use staticpod_runtime::{ContainerState, SandboxState};
use staticpod_testkit::backend::require_endpoint;

use crate::support::{Node, PATIENCE};

/// The one container of every pod the matrix runs.
pub const CONTAINER: &str = "main";

/// A pod of one busybox container that runs until stopped and exits at once on SIGTERM (a
/// shell's `wait` is interrupted by the trap; a bare `sleep` as PID 1 ignores the signal).
pub fn sleeper(name: &str, extra_env: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: {CONTAINER}\n    image: busybox:1.36\n    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']\n    env:\n    - name: VERSION\n      value: \"{extra_env}\"\n"
    )
}

/// What the runtime holds for a node, against what should run.
#[derive(Debug, Default, Clone)]
pub struct Census {
    /// Desired pods without a ready sandbox and a running container.
    pub lost: BTreeSet<String>,
    /// Pods with more than one ready sandbox or running container.
    pub doubled: BTreeSet<String>,
    /// Objects that should not be there: of pods not desired, sandboxes that are not ready,
    /// containers outside their pod's ready sandbox or created and never started.
    pub leftovers: Vec<String>,
    /// Half-made pods: a ready sandbox with no container, a container created and never
    /// started.
    pub half_made: usize,
    /// The full names of the pods with leftovers.
    pub left_by: BTreeSet<String>,
}

impl Census {
    /// Nothing lost, doubled, left over or half made.
    pub fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.leftovers.is_empty()
            && self.half_made == 0
    }
}

/// Counts `node`'s objects against `desired` (short pod names, one [`CONTAINER`] each).
pub fn census(node: &Node, desired: &BTreeSet<String>) -> Census {
    let sandboxes = node.sandboxes();
    let containers = node.containers();
    let wanted: BTreeMap<String, &String> = desired.iter().map(|p| (node.pod_name(p), p)).collect();
    let pod_of =
        |l: &BTreeMap<String, String>| l.get(labels::POD_NAME).cloned().unwrap_or_default();
    let mut census = Census::default();
    let mut ready: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &sandboxes {
        let pod = pod_of(&s.labels);
        if wanted.contains_key(&pod) && s.state == SandboxState::Ready {
            ready.entry(pod).or_default().push(s.id.clone());
        } else {
            census
                .leftovers
                .push(format!("sandbox {} of {pod} ({:?})", short(&s.id), s.state));
            census.left_by.insert(pod);
        }
    }
    let mut running: BTreeMap<String, usize> = BTreeMap::new();
    for c in &containers {
        let pod = pod_of(&c.labels);
        let in_ready = ready
            .get(&pod)
            .is_some_and(|ids| c.sandbox_id.as_ref().is_none_or(|id| ids.contains(id)));
        let what = format!(
            "container {} of {pod} ({})",
            short(&c.id),
            state_word(&c.state)
        );
        if !wanted.contains_key(&pod) || !in_ready {
            census.leftovers.push(what);
            census.left_by.insert(pod);
            continue;
        }
        match c.state {
            ContainerState::Running { .. } => *running.entry(pod).or_default() += 1,
            ContainerState::Created => {
                census.half_made += 1;
                census.leftovers.push(what);
                census.left_by.insert(pod);
            }
            _ => {}
        }
    }
    for (full, short_name) in &wanted {
        let sandboxes = ready.get(full).map_or(0, Vec::len);
        let runs = running.get(full).copied().unwrap_or(0);
        if sandboxes == 0 || runs == 0 {
            census.lost.insert((*short_name).clone());
        }
        if sandboxes > 1 || runs > 1 {
            census.doubled.insert((*short_name).clone());
        }
        let any_container = containers.iter().any(|c| &pod_of(&c.labels) == full);
        if sandboxes >= 1 && !any_container {
            census.half_made += 1;
        }
    }
    census
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn state_word(state: &ContainerState) -> &'static str {
    match state {
        ContainerState::Created => "created",
        ContainerState::Running { .. } => "running",
        ContainerState::Exited { .. } => "exited",
        _ => "unknown",
    }
}

/// How a wait for convergence went.
#[derive(Debug, Clone)]
pub struct Convergence {
    /// Whether the census came clean within [`PATIENCE`].
    pub converged: bool,
    /// How long it took (or [`PATIENCE`]).
    pub secs: f64,
    /// The most pods seen doubled in any one census on the way.
    pub max_doubled: usize,
    /// The last census.
    pub last: Census,
    /// When it did not converge: the agent's last warnings and errors about the pods that
    /// were lost or left over, so that a failed row says why.
    pub complaints: Vec<String>,
}

impl Convergence {
    /// Nothing when it converged; else the last census and the agent's complaints.
    pub fn why_not(&self) -> String {
        if self.converged {
            return String::new();
        }
        format!(": {:?}; the agent said: {:?}", self.last, self.complaints)
    }
}

/// The last agent log lines at `WARN` or `ERROR` that name one of `pods` (full names).
fn complaints(node: &Node, pods: &BTreeSet<String>) -> Vec<String> {
    let log = node.log();
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .filter(|l| pods.iter().any(|p| l.contains(p.as_str())))
        .map(|l| l.chars().take(400).collect())
        .collect();
    lines.drain(..lines.len().saturating_sub(8));
    lines
}

/// Waits until `node`'s own client of the runtime answers again after a daemon restart (a
/// gRPC channel fails its first call after the socket went away, then reconnects).
pub fn wait_runtime_answers(node: &Node) {
    let start = Instant::now();
    while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.sandboxes())).is_err() {
        assert!(
            start.elapsed() < PATIENCE,
            "the runtime does not answer again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Takes a census every 200 ms until it is clean, or [`PATIENCE`] has passed.
pub fn converge(node: &Node, desired: &BTreeSet<String>) -> Convergence {
    let start = Instant::now();
    let mut max_doubled = 0;
    loop {
        let census = census(node, desired);
        max_doubled = max_doubled.max(census.doubled.len());
        if census.clean() || start.elapsed() > PATIENCE {
            let mut troubled = census.left_by.clone();
            troubled.extend(census.lost.iter().map(|p| node.pod_name(p)));
            return Convergence {
                converged: census.clean(),
                secs: start.elapsed().as_secs_f64(),
                max_doubled,
                complaints: if census.clean() {
                    Vec::new()
                } else {
                    complaints(node, &troubled)
                },
                last: census,
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The running container of each of `pods` (short names), by pod.
pub fn running_ids(node: &Node, pods: &BTreeSet<String>) -> BTreeMap<String, String> {
    pods.iter()
        .filter_map(|p| {
            let running = node.running(p, CONTAINER);
            (running.len() == 1).then(|| (p.clone(), running[0].id.clone()))
        })
        .collect()
}

/// The restart count label of each running container of `pods`.
pub fn restart_counts(node: &Node, pods: &BTreeSet<String>) -> BTreeMap<String, String> {
    pods.iter()
        .filter_map(|p| {
            let running = node.running(p, CONTAINER);
            (running.len() == 1).then(|| {
                (
                    p.clone(),
                    running[0].labels[labels::CONTAINER_RESTART_COUNT].clone(),
                )
            })
        })
        .collect()
}

/// One row of the matrix.
#[derive(Debug)]
pub struct Row {
    /// The fault, as the table names it.
    pub fault: &'static str,
    /// The backend.
    pub backend: Backend,
    /// What must hold.
    pub expected: String,
    /// What was seen.
    pub observed: String,
    /// Pods lost.
    pub lost: usize,
    /// Pods doubled.
    pub doubled: usize,
    /// Leftover objects.
    pub leftovers: usize,
    /// Agent restarts the case made (SIGKILLs followed by a start).
    pub agent_restarts: usize,
    /// Agent exits the case did not ask for.
    pub agent_exits: usize,
    /// Whether what was seen is what must hold; `None`: skipped, `observed` says why.
    pub pass: Option<bool>,
    started: Instant,
}

impl Row {
    /// A row for `fault` on `backend`, timed from now.
    pub fn new(fault: &'static str, backend: Backend, expected: &str) -> Row {
        Row {
            fault,
            backend,
            expected: expected.to_string(),
            observed: String::new(),
            lost: 0,
            doubled: 0,
            leftovers: 0,
            agent_restarts: 0,
            agent_exits: 0,
            pass: None,
            started: Instant::now(),
        }
    }

    /// Adds what `convergence` saw to the counts.
    pub fn count(&mut self, convergence: &Convergence) {
        self.lost = self.lost.max(convergence.last.lost.len());
        self.doubled = self.doubled.max(convergence.max_doubled);
        self.leftovers = self.leftovers.max(convergence.last.leftovers.len());
    }

    /// Records that the agent is gone without being asked: counted, and the case fails.
    pub fn check_agent(&mut self, node: &mut Node) {
        if node.agent_pid().is_none() {
            self.agent_exits += 1;
        }
    }

    /// Writes the row to `$STATICPOD_FAULTS_REPORT` (one JSON object a line) and to stderr,
    /// then fails the test if the row failed. `pass` is whether what was observed is what was
    /// expected, before the counts (which must all be zero but for asked-for restarts).
    pub fn finish(mut self, pass: bool, observed: String) {
        self.observed = observed;
        let clean =
            self.lost == 0 && self.doubled == 0 && self.leftovers == 0 && self.agent_exits == 0;
        self.pass = Some(pass && clean);
        self.write();
        assert!(
            self.pass == Some(true),
            "fault {} on {}: expected {}; observed {} (lost {}, doubled {}, leftovers {}, agent exits {})",
            self.fault,
            self.backend,
            self.expected,
            self.observed,
            self.lost,
            self.doubled,
            self.leftovers,
            self.agent_exits
        );
    }

    /// Reports the fault as not made real here, saying why; the test passes.
    pub fn skip(mut self, why: &str) {
        self.observed = format!("SKIPPED: {why}");
        self.pass = None;
        self.write();
        eprintln!("SKIPPED {} on {}: {why}", self.fault, self.backend);
    }

    fn write(&self) {
        let row = serde_json::json!({
            "fault": self.fault,
            "backend": self.backend.name(),
            "expected": self.expected,
            "observed": self.observed,
            "lost": self.lost,
            "doubled": self.doubled,
            "leftovers": self.leftovers,
            "agent_restarts": self.agent_restarts,
            "agent_exits": self.agent_exits,
            "result": match self.pass { Some(true) => "pass", Some(false) => "FAIL", None => "skipped" },
            "seconds": self.started.elapsed().as_secs_f64().round(),
        });
        eprintln!("fault row: {row}");
        if let Ok(path) = std::env::var("STATICPOD_FAULTS_REPORT") {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("open {path}: {e}"));
            writeln!(file, "{row}").unwrap();
        }
    }
}

/// A xorshift generator seeded from the clock; its seed goes into the row, so a failing
/// run's random points can be told.
pub struct Rng {
    /// The seed.
    pub seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from `$STATICPOD_FAULTS_SEED`, else the clock.
    pub fn new() -> Rng {
        let seed = std::env::var("STATICPOD_FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        Rng { seed, state: seed }
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % n.max(1)
    }
}

/// The processes of `backend`'s daemon under test: the one `dockerd`; our containerd (its
/// `--config` beside its socket); our Podman service (its socket on its command line).
pub fn daemon_pids(backend: Backend, endpoint: &str) -> Vec<u32> {
    let socket = endpoint.trim_start_matches("unix://");
    let marker = match backend {
        Backend::Docker => String::new(),
        Backend::Cri => Path::new(socket)
            .with_file_name("config.toml")
            .display()
            .to_string(),
        Backend::Podman => socket.to_string(),
    };
    let program = match backend {
        Backend::Docker => "dockerd",
        Backend::Cri => "containerd",
        Backend::Podman => "podman",
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let named = args
            .first()
            .is_some_and(|a| Path::new(a).file_name().is_some_and(|f| f == program));
        if named && args.iter().any(|a| a.contains(&marker)) {
            pids.push(pid);
        }
    }
    pids
}

/// Sends `signal` (`KILL`, `TERM`) to `backend`'s daemon and waits until it is gone (60 s at
/// most); returns the pids signalled.
pub fn stop_daemon(backend: Backend, endpoint: &str, signal: &str) -> Vec<u32> {
    let pids = daemon_pids(backend, endpoint);
    assert!(!pids.is_empty(), "no {backend} daemon found for {endpoint}");
    for pid in &pids {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists() && !zombie(*p))
    {
        assert!(Instant::now() < deadline, "{backend}'s daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    pids
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Starts `backend`'s daemon again the way CI does, `cargo xtask runtime up` (the xtask
/// binary `$STATICPOD_XTASK` when the fault run gave it, else `cargo xtask`); panics with its
/// output when that fails.
pub fn daemon_up(backend: Backend) {
    let mut command = match std::env::var("STATICPOD_XTASK") {
        Ok(xtask) => Command::new(xtask),
        Err(_) => {
            let mut c = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
            c.args(["run", "--quiet", "--package", "xtask", "--"]);
            c
        }
    };
    let output = command
        .args(["runtime", "up", backend.name()])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run cargo xtask runtime up");
    assert!(
        output.status.success(),
        "cargo xtask runtime up {backend} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The peak resident memory of process `pid` (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

/// The resident memory of process `pid` now (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A unix-socket proxy in front of a runtime's socket that holds every chunk a client
/// writes for `delay` before passing it on (answers pass at once): each call is `delay`
/// slower. Counts connections open at once, the most seen, and chunks held at once.
pub struct SlowProxy {
    /// Its socket.
    pub path: PathBuf,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    /// The most connections open at once.
    pub max_open: Arc<AtomicUsize>,
    /// Chunks being held now.
    pub held: Arc<AtomicUsize>,
    /// The most chunks held at once.
    pub max_held: Arc<AtomicUsize>,
    /// Chunks passed on so far.
    pub chunks: Arc<AtomicUsize>,
    /// While set, what clients write is dropped: a daemon that takes calls and never
    /// answers them. A connection that lost a chunk is closed at its next one once cleared
    /// (its stream is broken), so only new connections are answered again.
    pub unanswering: Arc<AtomicBool>,
}

impl SlowProxy {
    /// A proxy in front of `node`'s runtime, holding each chunk `delay`, which `node`'s agent
    /// is to talk to.
    pub fn before_agent(node: &mut Node, delay: Duration) -> SlowProxy {
        let endpoint = require_endpoint(node.backend);
        let upstream = PathBuf::from(endpoint.trim_start_matches("unix://"));
        let proxy = SlowProxy::start(node.scratch("proxy").join("proxy.sock"), upstream, delay);
        node.set_agent_endpoint(&format!("unix://{}", proxy.path.display()));
        proxy
    }

    /// Listens on `path` and proxies to `upstream`, holding each client chunk `delay`.
    pub fn start(path: PathBuf, upstream: PathBuf, delay: Duration) -> SlowProxy {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the proxy's socket");
        let proxy = SlowProxy {
            path,
            open: Arc::default(),
            max_open: Arc::default(),
            held: Arc::default(),
            max_held: Arc::default(),
            chunks: Arc::default(),
            unanswering: Arc::default(),
        };
        let (open, max_open, held, max_held, chunks, unanswering) = (
            proxy.open.clone(),
            proxy.max_open.clone(),
            proxy.held.clone(),
            proxy.max_held.clone(),
            proxy.chunks.clone(),
            proxy.unanswering.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = UnixStream::connect(&upstream) else {
                    continue;
                };
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                max_open.fetch_max(now, Ordering::SeqCst);
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (held, max_held, chunks, open, unanswering) = (
                    held.clone(),
                    max_held.clone(),
                    chunks.clone(),
                    open.clone(),
                    unanswering.clone(),
                );
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut lost = false;
                    while let Ok(n @ 1..) = c_read.read(&mut buf) {
                        if unanswering.load(Ordering::SeqCst) {
                            lost = true;
                            continue;
                        }
                        if lost {
                            break;
                        }
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        max_held.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(delay);
                        held.fetch_sub(1, Ordering::SeqCst);
                        chunks.fetch_add(1, Ordering::SeqCst);
                        if s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        proxy
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
