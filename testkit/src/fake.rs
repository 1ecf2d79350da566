//! An in-memory [`ContainerRuntime`] for tests of the planner, executor and agent: it keeps
//! sandboxes and containers in maps, records every call, and can be told to fail a call, to
//! make a container exit, or to write lines to a container's log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use staticpod_runtime::clock::{Clock, SystemClock};
use staticpod_runtime::logs::{LogFormat, LogMessage, LogOptions, LogStream, StreamType};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ExecResult, ImageEnsured,
    ImageUser, PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
    SandboxState,
};

#[derive(Debug, Default)]
struct State {
    sandboxes: BTreeMap<String, SandboxInfo>,
    containers: BTreeMap<String, ContainerInfo>,
    images: Vec<String>,
    image_users: BTreeMap<String, String>,
    calls: Vec<String>,
    fail: BTreeMap<String, String>,
    down: bool,
    hung: Option<Arc<tokio::sync::Notify>>,
    exec_exit_code: i32,
    next_id: u64,
    events: Vec<mpsc::Sender<()>>,
}

/// One line of a container's log.
#[derive(Debug, Clone)]
struct Line {
    stream: StreamType,
    time: SystemTime,
    text: String,
}

/// The containers' logs, shared with the streams that follow them.
#[derive(Debug, Default)]
struct Logs {
    /// Each container's lines, and whether it still writes (it runs).
    containers: Mutex<BTreeMap<String, (Vec<Line>, bool)>>,
    /// Woken whenever a log grows or its container stops writing.
    changed: Notify,
}

impl Logs {
    fn set_running(&self, id: &str, running: bool) {
        let mut containers = self.containers.lock().unwrap();
        containers.entry(id.to_string()).or_default().1 = running;
        drop(containers);
        self.changed.notify_waiters();
    }
}

/// The fake runtime.
#[derive(Debug)]
pub struct FakeRuntime {
    state: Mutex<State>,
    logs: Arc<Logs>,
    clock: Arc<dyn Clock>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            state: Mutex::default(),
            logs: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl FakeRuntime {
    /// The same runtime, stamping creations, starts and exits with `clock`'s time (a
    /// [`staticpod_runtime::clock::TokioClock`] in tests with paused time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A runtime that holds `images`.
    pub fn with_images(images: &[&str]) -> Self {
        let fake = FakeRuntime::default();
        fake.state.lock().unwrap().images = images.iter().map(|i| i.to_string()).collect();
        fake
    }

    /// Has present image `image` declare `user` (its `Config.User`); an image declares none
    /// unless told.
    pub fn set_image_user(&self, image: &str, user: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .image_users
            .insert(image.to_string(), user.to_string());
    }

    /// Every call so far, as `"operation argument"` lines.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// Makes the next call of `operation` (e.g. `"run_sandbox"`) fail with `message`.
    pub fn fail_next(&self, operation: &str, message: &str) {
        self.state
            .lock()
            .unwrap()
            .fail
            .insert(operation.to_string(), message.to_string());
    }

    /// The exit code every later `exec_sync` returns (0 at first).
    pub fn set_exec_exit_code(&self, exit_code: i32) {
        self.state.lock().unwrap().exec_exit_code = exit_code;
    }

    /// Takes the daemon down (every call fails as unavailable) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Makes the daemon hang (listing sandboxes waits until it is unhung, as a daemon that
    /// accepts calls and never answers them) or stops the hang.
    pub fn set_hung(&self, hung: bool) {
        let mut state = self.state.lock().unwrap();
        match (hung, state.hung.take()) {
            (true, old) => state.hung = Some(old.unwrap_or_default()),
            (false, Some(waiting)) => waiting.notify_waiters(),
            (false, None) => {}
        }
    }

    /// Appends `text`, line by line, to container `id`'s `stream`, stamped with the clock's
    /// time; streams following the log see it at once.
    pub fn write_log(&self, id: &str, stream: StreamType, text: &str) {
        let time = self.clock.now();
        let mut containers = self.logs.containers.lock().unwrap();
        let (lines, _) = containers.entry(id.to_string()).or_default();
        lines.extend(text.lines().map(|line| Line {
            stream,
            time,
            text: line.to_string(),
        }));
        drop(containers);
        self.logs.changed.notify_waiters();
    }

    /// Creates and starts container `web` of a new sandbox (pod `web` on `node0`), for tests
    /// of what reads containers; returns its id.
    pub async fn run_container(&self) -> String {
        let pod = crate::fixtures::sandbox_config("web", "node0", "uid-1");
        let sandbox = self.run_sandbox(&pod).await.unwrap();
        let config = crate::fixtures::container_config("web", "nginx:1.25", &pod);
        let id = self
            .create_container(&sandbox, &config, &pod)
            .await
            .unwrap();
        self.start_container(&id).await.unwrap();
        id
    }

    /// Makes a running container exit with `exit_code` at `finished_at`, and sends an event.
    pub fn exit_container(&self, id: &str, exit_code: i32, finished_at: SystemTime) {
        self.logs.set_running(id, false);
        let mut state = self.state.lock().unwrap();
        if let Some(container) = state.containers.get_mut(id) {
            let started_at = match container.state {
                ContainerState::Running { started_at } => started_at,
                _ => finished_at,
            };
            container.state = ContainerState::Exited {
                exit_code,
                started_at,
                finished_at,
                oom_killed: false,
            };
        }
        state.events.retain(|tx| !tx.is_closed());
        for tx in &state.events {
            let _ = tx.try_send(());
        }
    }

    /// Leaves a container in an unknown state, as containerd's CRI does with one whose
    /// creation its crash cut short.
    pub fn lose_container_state(&self, id: &str) {
        if let Some(container) = self.state.lock().unwrap().containers.get_mut(id) {
            container.state = ContainerState::Unknown;
        }
    }

    /// Current containers.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.state
            .lock()
            .unwrap()
            .containers
            .values()
            .cloned()
            .collect()
    }

    /// Current sandboxes.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.state
            .lock()
            .unwrap()
            .sandboxes
            .values()
            .cloned()
            .collect()
    }

    fn call(&self, operation: &str, argument: &str) -> RuntimeResult<()> {
        let mut state = self.state.lock().unwrap();
        state
            .calls
            .push(format!("{operation} {argument}").trim_end().to_string());
        if state.down {
            return Err(RuntimeError::Unavailable {
                endpoint: "fake".into(),
                source: "the fake daemon is down".into(),
            });
        }
        match state.fail.remove(operation) {
            Some(message) => Err(RuntimeError::Failed {
                operation: operation.to_string(),
                source: message.into(),
            }),
            None => Ok(()),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        format!("{prefix}{}", state.next_id)
    }
}

fn merged(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = labels.clone();
    all.extend(annotations.clone());
    all
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        self.call("version", "")?;
        Ok(RuntimeVersion {
            runtime_name: "fake".into(),
            runtime_version: "1".into(),
            api_version: "1".into(),
        })
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        self.call("ensure_image", image)?;
        let present = self.state.lock().unwrap().images.iter().any(|i| i == image);
        if !policy.must_pull(image, present)? {
            return Ok(ImageEnsured::Present);
        }
        Err(RuntimeError::ImagePull {
            image: image.to_string(),
            source: "no registry in the fake".into(),
        })
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        self.call("image_user", image)?;
        let state = self.state.lock().unwrap();
        if !state.images.iter().any(|i| i == image) {
            return Err(RuntimeError::NotFound {
                kind: "image",
                id: image.to_string(),
            });
        }
        let user = state.image_users.get(image).map_or("", String::as_str);
        Ok(ImageUser::parse(user))
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        self.call(
            "run_sandbox",
            &format!("{}#{}", config.name, config.attempt),
        )?;
        let id = self.next_id("sandbox-");
        let info = SandboxInfo {
            id: id.clone(),
            state: SandboxState::Ready,
            created_at: self.clock.now(),
            ip: (!config.host_network).then(|| "10.88.0.2".to_string()),
            labels: merged(&config.labels, &config.annotations),
        };
        self.state
            .lock()
            .unwrap()
            .sandboxes
            .insert(id.clone(), info);
        Ok(id)
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.call("stop_sandbox", sandbox_id)?;
        if let Some(sandbox) = self.state.lock().unwrap().sandboxes.get_mut(sandbox_id) {
            sandbox.state = SandboxState::NotReady;
        }
        Ok(())
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.call("remove_sandbox", sandbox_id)?;
        self.state.lock().unwrap().sandboxes.remove(sandbox_id);
        Ok(())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        self.call(
            "create_container",
            &format!("{}#{}", config.name, config.attempt),
        )?;
        let id = self.next_id("container-");
        let info = ContainerInfo {
            id: id.clone(),
            sandbox_id: Some(sandbox_id.to_string()),
            image: config.image.clone(),
            image_id: format!("fake://{}", config.image),
            state: ContainerState::Created,
            created_at: self.clock.now(),
            labels: merged(&config.labels, &config.annotations),
        };
        self.state
            .lock()
            .unwrap()
            .containers
            .insert(id.clone(), info);
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.call("start_container", container_id)?;
        self.logs.set_running(container_id, true);
        if let Some(container) = self.state.lock().unwrap().containers.get_mut(container_id) {
            container.state = ContainerState::Running {
                started_at: self.clock.now(),
            };
        }
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        self.call(
            "stop_container",
            &format!("{container_id} grace={}s", grace.as_secs()),
        )?;
        self.logs.set_running(container_id, false);
        if let Some(container) = self.state.lock().unwrap().containers.get_mut(container_id)
            && let ContainerState::Running { started_at } = container.state
        {
            let now = self.clock.now();
            container.state = ContainerState::Exited {
                exit_code: 137,
                started_at,
                finished_at: now,
                oom_killed: false,
            };
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.call("remove_container", container_id)?;
        self.state.lock().unwrap().containers.remove(container_id);
        self.logs.containers.lock().unwrap().remove(container_id);
        self.logs.changed.notify_waiters();
        Ok(())
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        let hang = self.state.lock().unwrap().hung.clone();
        if let Some(hang) = hang {
            hang.notified().await;
        }
        self.call("list_sandboxes", "")?;
        Ok(self.sandboxes())
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        self.call("list_containers", "")?;
        Ok(self.containers())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        _timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        self.call(
            "exec_sync",
            &format!("{container_id} {}", command.join(" ")),
        )?;
        let exit_code = self.state.lock().unwrap().exec_exit_code;
        Ok(ExecResult {
            exit_code,
            output: format!("exit {exit_code}"),
        })
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        let (tx, rx) = mpsc::channel(1);
        self.state.lock().unwrap().events.push(tx);
        Ok(rx)
    }

    /// The lines given to [`FakeRuntime::write_log`], as `options` ask; following ends when
    /// the container exits, is stopped or removed.
    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.call("logs", container_id)?;
        if !self
            .state
            .lock()
            .unwrap()
            .containers
            .contains_key(container_id)
        {
            return Err(RuntimeError::NotFound {
                kind: "container",
                id: container_id.to_string(),
            });
        }
        let written = self
            .logs
            .containers
            .lock()
            .unwrap()
            .get(container_id)
            .map_or(0, |(lines, _)| lines.len());
        let reader = Reader {
            logs: self.logs.clone(),
            id: container_id.to_string(),
            next: options.tail_lines.map_or(0, |tail| {
                written.saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX))
            }),
            follow: options.follow,
            format: LogFormat::new(options),
            done: false,
        };
        Ok(Box::pin(futures_util::stream::unfold(reader, Reader::next)))
    }
}

/// A stream over one fake container's log.
struct Reader {
    logs: Arc<Logs>,
    id: String,
    next: usize,
    follow: bool,
    format: LogFormat,
    done: bool,
}

impl Reader {
    /// The lines written since the last item; with `follow`, waits for more until the
    /// container stops writing.
    async fn next(mut self) -> Option<(RuntimeResult<Bytes>, Self)> {
        let mut out = Vec::new();
        while !self.done && out.is_empty() {
            let changed = self.logs.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let writing = {
                let containers = self.logs.containers.lock().unwrap();
                let (lines, running) = containers
                    .get(&self.id)
                    .map_or((&[][..], false), |(lines, running)| (&lines[..], *running));
                for line in lines.get(self.next..).unwrap_or_default() {
                    let message = LogMessage {
                        stream: line.stream,
                        time: line.time,
                        text: line.text.as_bytes(),
                        partial: false,
                    };
                    self.format.push(message, &mut out);
                }
                self.next = self.next.max(lines.len());
                running
            };
            if self.format.is_full() || !self.follow || !writing {
                self.format.finish(&mut out);
                self.done = true;
            } else if out.is_empty() {
                changed.await;
            }
        }
        (!out.is_empty()).then(|| (Ok(Bytes::from(out)), self))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use staticpod_runtime::ContainerRuntime;

    use super::*;

    async fn read_all(mut stream: LogStream) -> String {
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        text
    }

    #[tokio::test]
    async fn logs_are_the_lines_written_as_the_options_ask() {
        let fake = FakeRuntime::default();
        let id = fake.run_container().await;
        fake.write_log(&id, StreamType::Stdout, "one\ntwo\n");
        fake.write_log(&id, StreamType::Stderr, "three");
        let all = fake.logs(&id, &LogOptions::default()).await.unwrap();
        assert_eq!(read_all(all).await, "one\ntwo\nthree\n");
        let tail = LogOptions {
            tail_lines: Some(2),
            ..LogOptions::default()
        };
        assert_eq!(
            read_all(fake.logs(&id, &tail).await.unwrap()).await,
            "two\nthree\n"
        );
        let err = fake.logs("nope", &LogOptions::default()).await.err();
        assert!(
            matches!(err, Some(RuntimeError::NotFound { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn following_sees_later_lines_and_ends_when_the_container_exits() {
        let fake = Arc::new(FakeRuntime::default());
        let id = fake.run_container().await;
        fake.write_log(&id, StreamType::Stdout, "before");
        let follow = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let mut stream = fake.logs(&id, &follow).await.unwrap();
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"before\n");
        let writer = fake.clone();
        let later = id.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.write_log(&later, StreamType::Stdout, "after");
            writer.exit_container(&later, 0, SystemTime::now());
        });
        assert_eq!(read_all(stream).await, "after\n");
    }
}
