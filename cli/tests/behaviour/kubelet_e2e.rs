//! The kubelet's node e2e scenarios (`test/e2e_node`, `test/e2e/common/node`) that need no
//! API server, translated: a static pod stands for the pod the tests create, the agent's
//! `/pods` for the API's status, stopping and starting `staticpod run` for restarting the
//! kubelet, and every container logs `<time> <name> Starting|Started|Exiting` to a hostPath
//! file that the case reads (`support::timeline`). Timings and tolerances are the
//! kubelet's. `E2E.md` lists every scenario: translated here, or why not.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use staticpod_runtime::ContainerState;

use super::backend;
use crate::support::Node;
use crate::support::timeline::{self, Exec, Timeline};

/// The kubelet's `gomega.Consistently` window for "no completed init container should be
/// restarted" after its restart.
const CONSISTENTLY: Duration = Duration::from_secs(60);

/// One pod of a case: its name, its volume's host directory, its init containers' names,
/// and the container that runs for good (an app container, or a long-running init one).
struct E2ePod {
    name: &'static str,
    dir: PathBuf,
    inits: Vec<&'static str>,
    running: &'static str,
}

impl E2ePod {
    /// The init containers that have completed while `running` runs.
    fn completed(&self) -> Vec<&'static str> {
        self.inits
            .iter()
            .copied()
            .take_while(|init| *init != self.running)
            .collect()
    }

    fn timeline(&self) -> Timeline {
        Timeline::read(&self.dir)
    }

    /// Removes this pod's init containers that exited 0, as the kubelet's test does
    /// through CRI while the kubelet is stopped; returns how many.
    fn remove_completed_inits(&self, node: &Node) -> usize {
        let mut removed = 0;
        for init in &self.inits {
            for instance in node.instances(self.name, init) {
                if matches!(instance.state, ContainerState::Exited { exit_code: 0, .. }) {
                    node.remove_container(&instance.id);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Every init container that completed was starting once, and the status counts no
    /// restart of any.
    fn no_init_restarted(&self, node: &Node) -> Result<(), String> {
        let timeline = self.timeline();
        for init in self.completed() {
            timeline.has_not_restarted(init)?;
        }
        let full = node.pod_name(self.name);
        let pods = node.pods();
        let pod = pods
            .items
            .iter()
            .find(|p| p.metadata.name == full)
            .ok_or_else(|| format!("{full} is not in /pods"))?;
        match pod
            .status
            .init_container_statuses
            .iter()
            .find(|s| s.restart_count > 0)
        {
            Some(restarted) => Err(format!("{restarted:?}")),
            None => Ok(()),
        }
    }
}

/// Checks `check` every second for `window`, failing at its first error (gomega's
/// `Consistently`).
fn consistently(window: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Err(error) = check() {
            panic!("{what}: {error}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `container_lifecycle_test.go`, "The kubelet restarts": for a pod initialized and
/// running, and for one whose long-running third init container runs, "should not restart
/// any completed init container after the kubelet restart" and "..., even after the
/// completed init container statuses have been removed and the kubelet restarted". The
/// four scenarios run side by side as four pods of one node, through one agent restart.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn completed_init_containers_are_not_run_again_after_an_agent_restart() {
    let mut node = Node::new(backend(), "e2e-reinit");
    let pods: Vec<E2ePod> = [
        ("initialized", "init-3"),
        ("initialized-removed", "init-3"),
        ("initializing", "long-running-init-3"),
        ("initializing-removed", "long-running-init-3"),
    ]
    .into_iter()
    .map(|(name, third)| {
        let dir = node.scratch(name);
        let long = third.starts_with("long");
        let inits = [
            ("init-1", Exec::exits(0, 1)),
            ("init-2", Exec::exits(0, 1)),
            (third, Exec::exits(0, if long { 300 } else { 1 })),
        ];
        let init_yaml: Vec<String> = inits.iter().map(|(n, e)| e.container(n, "")).collect();
        let regular = [Exec::exits(0, 300).container("regular-1", "")];
        node.write_manifest(
            &format!("{name}.yaml"),
            &timeline::pod(name, "Always", &dir, &init_yaml, &regular),
        );
        E2ePod {
            name,
            dir,
            inits: inits.iter().map(|(n, _)| *n).collect(),
            running: if long { third } else { "regular-1" },
        }
    })
    .collect();
    node.start_agent();
    let before: Vec<String> = pods
        .iter()
        .map(|pod| {
            let container = node.wait_running(pod.name, pod.running);
            node.wait_for(
                &format!("{}/{} to log Started", pod.name, pod.running),
                || pod.timeline().index(pod.running, "Started", 0).map(drop),
            );
            container.id
        })
        .collect();

    node.terminate_agent();
    for pod in pods.iter().filter(|p| p.name.ends_with("-removed")) {
        assert_eq!(
            pod.remove_completed_inits(&node),
            pod.completed().len(),
            "{}: every completed init container removed",
            pod.name
        );
    }
    node.start_agent();

    consistently(
        CONSISTENTLY,
        "no completed init container should be restarted",
        || {
            for (pod, id) in pods.iter().zip(&before) {
                pod.no_init_restarted(&node)
                    .map_err(|e| format!("{}: {e}", pod.name))?;
                let now: Vec<String> = node
                    .running(pod.name, pod.running)
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                if now != [id.clone()] {
                    return Err(format!(
                        "{}/{} was {id}, now {now:?}",
                        pod.name, pod.running
                    ));
                }
            }
            Ok(())
        },
    );
    for pod in &pods {
        let timeline = pod.timeline();
        let [one, two, three] = pod.inits[..] else {
            unreachable!("three init containers")
        };
        timeline.starts_before(one, two).unwrap();
        timeline.exits_before(one, two).unwrap();
        timeline.starts_before(two, three).unwrap();
        if pod.running == "regular-1" {
            timeline.exits_before(two, three).unwrap();
            timeline.starts_before(three, "regular-1").unwrap();
        }
    }
}
