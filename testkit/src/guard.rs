//! Removing what a test created from the runtime, pass or fail, even from a `Drop`, and
//! touching nothing else: everything is found by the test pod's UID.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

use staticpod_runtime::labels::POD_UID;
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, PortMapping, SandboxConfig, SandboxInfo,
};

use crate::fixtures::{container_config, sandbox_config, test_node};

/// A cleanup a test registers with its [`TestPod`].
type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One test's pod on a real runtime: a UID unique to the test and this process, a node no
/// agent runs as, a log directory of its own, and a guard that removes every object carrying
/// that UID (then whatever else the test registered) when dropped, even when the test fails.
pub struct TestPod<R: ContainerRuntime + Clone + 'static> {
    /// The runtime under test.
    pub runtime: R,
    /// The pod's UID.
    pub uid: String,
    /// The sandbox's log directory.
    pub logs: PathBuf,
    node: String,
    cleanups: Mutex<Vec<Cleanup>>,
}

impl<R: ContainerRuntime + Clone + 'static> TestPod<R> {
    /// The pod of test `test` in the integration suite `suite` (see [`test_node`]).
    pub fn new(runtime: R, suite: &str, test: &str) -> Self {
        let uid = format!("{}-{}", test.replace('_', "-"), std::process::id());
        let logs = std::env::temp_dir().join(format!("staticpod-{suite}-{uid}"));
        std::fs::create_dir_all(&logs).expect("the pod's log directory");
        TestPod {
            runtime,
            uid,
            logs,
            node: test_node(suite),
            cleanups: Mutex::default(),
        }
    }

    /// The pod's sandbox config (pod `sptest`) with `port_mappings`.
    pub fn sandbox(&self, port_mappings: Vec<PortMapping>) -> SandboxConfig {
        SandboxConfig {
            port_mappings,
            log_directory: self.logs.clone(),
            seccomp: staticpod_runtime::Seccomp::default(),
            oom_score_adj: None,
            ..sandbox_config("sptest", &self.node, &self.uid)
        }
    }

    /// Container `name` of the pod from `image`, running `command` (none: the image's), with
    /// `GREETING=hello` in its environment.
    pub fn container(&self, name: &str, image: &str, command: &[&str]) -> ContainerConfig {
        ContainerConfig {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            env: vec![("GREETING".into(), "hello".into())],
            ..container_config(name, image, &self.sandbox(vec![]))
        }
    }

    /// The pod's sandboxes as listed.
    pub async fn sandboxes(&self) -> Vec<SandboxInfo> {
        sandboxes_of(&self.runtime, &self.uid).await
    }

    /// The pod's containers as listed.
    pub async fn containers(&self) -> Vec<ContainerInfo> {
        containers_of(&self.runtime, &self.uid).await
    }

    /// Runs `cleanup` too when the pod is dropped: for objects the test made outside the
    /// trait (a foreign container holding a name, say).
    pub fn on_drop(&self, cleanup: impl Future<Output = ()> + Send + 'static) {
        self.cleanups.lock().unwrap().push(Box::pin(cleanup));
    }
}

impl<R: ContainerRuntime + Clone + 'static> Drop for TestPod<R> {
    fn drop(&mut self) {
        let runtime = self.runtime.clone();
        let uid = self.uid.clone();
        let cleanups = std::mem::take(&mut *self.cleanups.lock().unwrap());
        let _ = std::fs::remove_dir_all(&self.logs);
        block_on_thread(async move {
            remove_pod(&runtime, &uid).await;
            for cleanup in cleanups {
                cleanup.await;
            }
        });
    }
}

/// The sandboxes of the pod with `uid`; panics when the runtime cannot list them.
pub async fn sandboxes_of(runtime: &dyn ContainerRuntime, uid: &str) -> Vec<SandboxInfo> {
    let all = runtime.list_sandboxes().await.expect("list sandboxes");
    all.into_iter()
        .filter(|s| has_uid(&s.labels, uid))
        .collect()
}

/// The containers of the pod with `uid`; panics when the runtime cannot list them.
pub async fn containers_of(runtime: &dyn ContainerRuntime, uid: &str) -> Vec<ContainerInfo> {
    let all = runtime.list_containers().await.expect("list containers");
    all.into_iter()
        .filter(|c| has_uid(&c.labels, uid))
        .collect()
}

/// Removes every container, then every sandbox, of the pod with `uid`, as far as the runtime
/// lets it: cleanup after a test, pass or fail, that touches nothing else.
pub async fn remove_pod(runtime: &dyn ContainerRuntime, uid: &str) {
    if let Ok(containers) = runtime.list_containers().await {
        for c in containers.iter().filter(|c| has_uid(&c.labels, uid)) {
            let _ = runtime.remove_container(&c.id).await;
        }
    }
    if let Ok(sandboxes) = runtime.list_sandboxes().await {
        for s in sandboxes.iter().filter(|s| has_uid(&s.labels, uid)) {
            let _ = runtime.remove_sandbox(&s.id).await;
        }
    }
}

/// Runs `cleanup` to its end on a runtime of its own in a thread of its own: a `Drop` cannot
/// await, and may run inside the test's runtime, where blocking on it is not allowed.
pub fn block_on_thread(cleanup: impl Future<Output = ()> + Send + 'static) {
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cleanup runtime")
            .block_on(cleanup);
    });
    let _ = thread.join();
}

fn has_uid(labels: &BTreeMap<String, String>, uid: &str) -> bool {
    labels.get(POD_UID).is_some_and(|value| value == uid)
}
