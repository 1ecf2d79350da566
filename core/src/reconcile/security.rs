//! The kubelet's security decisions for a container, pure: which seccomp profile it runs
//! under (`seccompProfile`, container over pod, then `--seccomp-default`), whether
//! `runAsNonRoot` lets it start as the user it would run as, and its `oom_score_adj`
//! (`pkg/kubelet/qos/policy.go`), bounded by what the node lets a runtime set.

use std::collections::BTreeMap;
use std::path::Path;

use crate::manifest::defaults::StaticPod;
use crate::model::{
    AppArmorProfile, AppArmorProfileType, Container, PodSecurityContext, SeccompProfile,
    SeccompProfileType, SecurityContext,
};
use crate::status::qos_class;
use staticpod_runtime::{AppArmor, ImageUser, Seccomp};

/// What the node decides about every pod, from the kubelet's flags and the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePolicy {
    /// `--cluster-domain` (`clusterDomain`): the domain of a pod with a `subdomain`.
    pub cluster_domain: String,
    /// `--seccomp-default` (`seccompDefault`): `RuntimeDefault` for a container whose pod
    /// names no profile, instead of `Unconfined`.
    pub seccomp_default: bool,
    /// The lowest `oom_score_adj` the runtime can give a process here; `None` when it can
    /// give any. A value below it is raised to it, as containerd's `restrict_oom_score_adj`
    /// and rootless Podman do, rather than failing every container.
    pub oom_score_adj_floor: Option<i64>,
    /// The node's memory in bytes, for a Burstable container's score, the downward API's
    /// unset `limits.memory` and the size of a Memory emptyDir without limits.
    pub memory_capacity: u64,
    /// The node's CPUs, the downward API's unset `limits.cpu`.
    pub cpu_capacity: u64,
    /// The bytes of the filesystem of `--root-dir`, the downward API's unset
    /// `limits.ephemeral-storage`.
    pub ephemeral_storage_capacity: u64,
    /// The node's huge pages in bytes by resource name (`hugepages-2Mi`), the downward API's
    /// unset `limits.hugepages-<size>` (0 for a size the node has none of).
    pub hugepages_capacity: BTreeMap<String, u64>,
    /// The host's kernel enforces AppArmor (`/sys/module/apparmor/parameters/enabled`).
    pub apparmor_enabled: bool,
}

/// `oom_score_adj` of a node-critical pod's and of a Guaranteed pod's containers.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// `oom_score_adj` of a BestEffort pod's containers.
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;
/// `oom_score_adj` of a sandbox's pause process: dockershim's and cri-dockerd's
/// `PodInfraOOMAdj` (containerd gives its own sandboxes the same).
pub const SANDBOX_OOM_SCORE_ADJ: i64 = -998;
/// The priority class that makes a static pod node-critical (`IsNodeCriticalPod`).
const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";

impl NodePolicy {
    /// What this host decides, read from `host` and from the filesystem of `root_dir` (the
    /// agent's `--root-dir`), with the flags' defaults (`--seccomp-default` off, no
    /// cluster domain). The floor of the benchmark runs under the same, or its sandboxes
    /// ask for an `oom_score_adj` the host refuses.
    pub fn of_host(host: &crate::node::HostFacts, root_dir: &Path) -> NodePolicy {
        NodePolicy {
            oom_score_adj_floor: host.oom_score_adj_floor,
            memory_capacity: host.memory_bytes,
            cpu_capacity: host.cpus,
            ephemeral_storage_capacity: crate::node::filesystem_bytes(root_dir),
            hugepages_capacity: host.hugepages.clone(),
            apparmor_enabled: host_apparmor_enabled(),
            ..NodePolicy::default()
        }
    }

    /// `wanted`, raised to the node's floor.
    pub fn bounded(&self, wanted: i64) -> i64 {
        self.oom_score_adj_floor
            .map_or(wanted, |floor| wanted.max(floor))
    }

    /// The `oom_score_adj` of `container` of `pod`, as the kubelet's
    /// `GetContainerOOMScoreAdjust`: -997 for a node-critical pod (a static pod with
    /// `priorityClassName: system-node-critical`) and for a Guaranteed one, 1000 for a
    /// BestEffort one; a Burstable container's falls from 999 to 3 as its memory request
    /// grows towards the node's memory. Then bounded by the node's floor.
    pub fn oom_score_adj(&self, pod: &StaticPod, container: &Container) -> i64 {
        let spec = &pod.pod.spec;
        let wanted = if spec.priority_class_name.as_deref() == Some(SYSTEM_NODE_CRITICAL) {
            GUARANTEED_OOM_SCORE_ADJ
        } else {
            match qos_class(spec) {
                "Guaranteed" => GUARANTEED_OOM_SCORE_ADJ,
                "BestEffort" => BEST_EFFORT_OOM_SCORE_ADJ,
                _ => burstable(container, self.memory_capacity),
            }
        };
        self.bounded(wanted)
    }

    /// The effective seccomp profile of `container` (`None`: the pod's sandbox): the
    /// container's `seccompProfile`, else the pod's, else `RuntimeDefault` with
    /// `--seccomp-default` and `Unconfined` without. A `Localhost` profile is a file under
    /// `<root-dir>/seccomp`.
    pub fn seccomp(
        &self,
        pod: &StaticPod,
        container: Option<&Container>,
        root_dir: &Path,
    ) -> Seccomp {
        let profile = container_or_pod(
            pod,
            container,
            |c| c.seccomp_profile.as_ref(),
            |p| p.seccomp_profile.as_ref(),
        );
        match profile {
            Some(profile) => resolve(profile, root_dir),
            None if self.seccomp_default => Seccomp::RuntimeDefault,
            None => Seccomp::Unconfined,
        }
    }
}

fn resolve(profile: &SeccompProfile, root_dir: &Path) -> Seccomp {
    match profile.type_ {
        SeccompProfileType::RuntimeDefault => Seccomp::RuntimeDefault,
        SeccompProfileType::Unconfined => Seccomp::Unconfined,
        // Validation refuses a Localhost profile without its file.
        SeccompProfileType::Localhost => Seccomp::Localhost(
            seccomp_root(root_dir).join(profile.localhost_profile.as_deref().unwrap_or_default()),
        ),
    }
}

/// The AppArmor profile of `container`: its `appArmorProfile`, else the pod's.
pub fn apparmor(pod: &StaticPod, container: &Container) -> AppArmor {
    match apparmor_profile(pod, container) {
        None => AppArmor::Unset,
        Some(profile) => match profile.type_ {
            AppArmorProfileType::RuntimeDefault => AppArmor::RuntimeDefault,
            AppArmorProfileType::Unconfined => AppArmor::Unconfined,
            AppArmorProfileType::Localhost => {
                AppArmor::Localhost(profile.localhost_profile.clone().unwrap_or_default())
            }
        },
    }
}

fn apparmor_profile<'a>(
    pod: &'a StaticPod,
    container: &'a Container,
) -> Option<&'a AppArmorProfile> {
    container_or_pod(
        pod,
        Some(container),
        |c| c.app_armor_profile.as_ref(),
        |p| p.app_armor_profile.as_ref(),
    )
}

/// A setting of `container`'s `securityContext` (none for the sandbox), else the pod's.
fn container_or_pod<'a, T>(
    pod: &'a StaticPod,
    container: Option<&'a Container>,
    of_container: impl Fn(&'a SecurityContext) -> Option<T>,
    of_pod: impl Fn(&'a PodSecurityContext) -> Option<T>,
) -> Option<T> {
    let own = container
        .and_then(|c| c.security_context.as_ref())
        .and_then(of_container);
    own.or_else(|| pod.pod.spec.security_context.as_ref().and_then(of_pod))
}

/// A pod that asks for AppArmor on a host without it, which the kubelet's AppArmor
/// admission refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot enforce AppArmor: AppArmor is not enabled on the host")]
pub struct AppArmorRefused;

/// Whether `container` may start on a host where AppArmor is (or is not) `enabled`: the
/// kubelet refuses a profile other than `Unconfined` without it.
pub fn verify_apparmor(
    pod: &StaticPod,
    container: &Container,
    enabled: bool,
) -> Result<(), AppArmorRefused> {
    let required = apparmor_profile(pod, container)
        .is_some_and(|profile| profile.type_ != AppArmorProfileType::Unconfined);
    match required && !enabled {
        true => Err(AppArmorRefused),
        false => Ok(()),
    }
}

/// Whether the host's kernel enforces AppArmor, as the kubelet's `IsAppArmorEnabled` reads it.
pub fn host_apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|text| text.trim() == "Y")
}

/// Where `Localhost` seccomp profiles live: `<root-dir>/seccomp`, as the kubelet's.
pub fn seccomp_root(root_dir: &Path) -> std::path::PathBuf {
    root_dir.join("seccomp")
}

/// The kubelet's Burstable score: `1000 - 1000 * request / capacity`, kept within 3..=999
/// so that it stays above a Guaranteed container's and below a BestEffort one's.
fn burstable(container: &Container, memory_capacity: u64) -> i64 {
    let request = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.get("memory"))
        .map_or(0, |q| i64::try_from(q.value()).unwrap_or(i64::MAX));
    let capacity = i64::try_from(memory_capacity).unwrap_or(i64::MAX).max(1);
    let score = 1000 - (1000_i128 * i128::from(request) / i128::from(capacity)) as i64;
    score.clamp(
        1000 + GUARANTEED_OOM_SCORE_ADJ,
        BEST_EFFORT_OOM_SCORE_ADJ - 1,
    )
}

/// Whether `runAsNonRoot` lets `container` start, as the kubelet's `verifyRunAsNonRoot`;
/// `image` is the user its image runs as (read only when it matters: see
/// [`needs_image_user`]). The refusal is the kubelet's message.
pub fn verify_run_as_non_root(
    pod: &StaticPod,
    container: &Container,
    image: &ImageUser,
) -> Result<(), NonRootRefused> {
    if !run_as_non_root(pod, container) {
        return Ok(());
    }
    let refused = |why| NonRootRefused {
        why,
        pod: format!("{}_{}({})", pod.full_name(), pod.namespace(), pod.uid()),
        container: container.name.clone(),
    };
    if let Some(uid) = run_as_user(pod, container) {
        return match uid {
            0 => Err(refused(NonRoot::RunAsUserRoot)),
            _ => Ok(()),
        };
    }
    match (image.uid, image.username.as_str()) {
        (Some(0), _) => Err(refused(NonRoot::ImageRoot)),
        // An image that names no user runs as root: the kubelet's `getImageUser`.
        (None, "") => Err(refused(NonRoot::ImageRoot)),
        (None, name) => Err(refused(NonRoot::NonNumeric(name.to_string()))),
        (Some(_), _) => Ok(()),
    }
}

/// True when the verdict on `container` depends on its image's user: `runAsNonRoot` and no
/// `runAsUser`.
pub fn needs_image_user(pod: &StaticPod, container: &Container) -> bool {
    run_as_non_root(pod, container) && run_as_user(pod, container).is_none()
}

fn run_as_non_root(pod: &StaticPod, container: &Container) -> bool {
    container_or_pod(
        pod,
        Some(container),
        |c| c.run_as_non_root,
        |p| p.run_as_non_root,
    )
    .unwrap_or(false)
}

fn run_as_user(pod: &StaticPod, container: &Container) -> Option<i64> {
    container_or_pod(pod, Some(container), |c| c.run_as_user, |p| p.run_as_user)
}

/// Why `runAsNonRoot` refused a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonRoot {
    /// `runAsUser: 0`.
    RunAsUserRoot,
    /// The image runs as uid 0, or names no user.
    ImageRoot,
    /// The image names its user by a name, which cannot be checked.
    NonNumeric(String),
}

/// A container that `runAsNonRoot` keeps from starting, in the kubelet's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct NonRootRefused {
    /// Why.
    pub why: NonRoot,
    /// The pod as the kubelet's `format.Pod`: `name_namespace(uid)`.
    pub pod: String,
    /// The container's name.
    pub container: String,
}

impl NonRootRefused {
    fn message(&self) -> String {
        let (pod, container) = (&self.pod, &self.container);
        match &self.why {
            NonRoot::RunAsUserRoot => format!(
                "container's runAsUser breaks non-root policy (pod: {pod:?}, container: {container})"
            ),
            NonRoot::ImageRoot => format!(
                "container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {container})"
            ),
            NonRoot::NonNumeric(user) => format!(
                "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: {pod:?}, container: {container})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::manifest;

    fn pod(spec: &str) -> StaticPod {
        manifest::test_pod(&format!(
            "kind: Pod\nmetadata: {{name: web, uid: u1}}\nspec:\n{spec}"
        ))
    }

    fn seccomp_of(spec: &str, policy: &NodePolicy) -> (Seccomp, Seccomp) {
        let pod = pod(spec);
        let root = Path::new("/var/lib/staticpod");
        let container = &pod.pod.spec.containers[0];
        (
            policy.seccomp(&pod, Some(container), root),
            policy.seccomp(&pod, None, root),
        )
    }

    #[test]
    fn the_containers_profile_wins_then_the_pods_then_the_nodes_default() {
        let default = NodePolicy::default();
        let plain = "  containers: [{name: web, image: nginx:1.25}]\n";
        assert_eq!(
            seccomp_of(plain, &default),
            (Seccomp::Unconfined, Seccomp::Unconfined)
        );
        let seccomp_default = NodePolicy {
            seccomp_default: true,
            ..default
        };
        assert_eq!(
            seccomp_of(plain, &seccomp_default),
            (Seccomp::RuntimeDefault, Seccomp::RuntimeDefault)
        );
        let both = "  securityContext: {seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: web\n    image: nginx:1.25\n    securityContext: {seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}}\n";
        assert_eq!(
            seccomp_of(both, &seccomp_default),
            (
                Seccomp::Localhost(PathBuf::from(
                    "/var/lib/staticpod/seccomp/profiles/audit.json"
                )),
                Seccomp::RuntimeDefault
            )
        );
        let unconfined = "  securityContext: {seccompProfile: {type: Unconfined}}\n  containers: [{name: web, image: nginx:1.25}]\n";
        assert_eq!(
            seccomp_of(unconfined, &seccomp_default),
            (Seccomp::Unconfined, Seccomp::Unconfined)
        );
    }

    fn verdict(spec: &str, image_user: &str) -> (bool, Result<(), String>) {
        let pod = pod(spec);
        let container = &pod.pod.spec.containers[0];
        let image = ImageUser::parse(image_user);
        (
            needs_image_user(&pod, container),
            verify_run_as_non_root(&pod, container, &image).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn run_as_non_root_refuses_root_in_the_kubelets_words() {
        let non_root = "  securityContext: {runAsNonRoot: true}\n  containers: [{name: web, image: nginx:1.25}]\n";
        let pod = "(pod: \"web-node0_default(u1)\", container: web)";
        assert_eq!(
            verdict(non_root, ""),
            (
                true,
                Err(format!(
                    "container has runAsNonRoot and image will run as root {pod}"
                ))
            )
        );
        assert_eq!(
            verdict(non_root, "0:0"),
            (
                true,
                Err(format!(
                    "container has runAsNonRoot and image will run as root {pod}"
                ))
            )
        );
        assert_eq!(
            verdict(non_root, "nobody"),
            (
                true,
                Err(format!(
                    "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root {pod}"
                ))
            )
        );
        assert_eq!(verdict(non_root, "1000"), (true, Ok(())));
        let as_user = "  securityContext: {runAsNonRoot: true, runAsUser: 1000}\n  containers: [{name: web, image: nginx:1.25}]\n";
        assert_eq!(verdict(as_user, ""), (false, Ok(())));
        let as_root = "  securityContext: {runAsNonRoot: true}\n  containers:\n  - name: web\n    image: nginx:1.25\n    securityContext: {runAsUser: 0}\n";
        assert_eq!(
            verdict(as_root, "1000"),
            (
                false,
                Err(format!(
                    "container's runAsUser breaks non-root policy {pod}"
                ))
            )
        );
        let overridden = "  securityContext: {runAsNonRoot: true}\n  containers:\n  - name: web\n    image: nginx:1.25\n    securityContext: {runAsNonRoot: false}\n";
        assert_eq!(verdict(overridden, ""), (false, Ok(())));
    }

    #[test]
    fn oom_scores_are_the_kubelets_within_the_nodes_floor() {
        let policy = NodePolicy {
            memory_capacity: 1000 * 1024 * 1024,
            ..NodePolicy::default()
        };
        let score = |spec: &str, policy: &NodePolicy| {
            let pod = pod(spec);
            policy.oom_score_adj(&pod, &pod.pod.spec.containers[0])
        };
        let best_effort = "  containers: [{name: web, image: nginx:1.25}]\n";
        assert_eq!(score(best_effort, &policy), 1000);
        let critical = "  priorityClassName: system-node-critical\n  containers: [{name: web, image: nginx:1.25}]\n";
        assert_eq!(score(critical, &policy), -997);
        let guaranteed = "  containers:\n  - name: web\n    image: nginx:1.25\n    resources: {limits: {cpu: 100m, memory: 100Mi}}\n";
        assert_eq!(score(guaranteed, &policy), -997);
        let burstable = "  containers:\n  - name: web\n    image: nginx:1.25\n    resources: {requests: {memory: 100Mi}}\n";
        assert_eq!(score(burstable, &policy), 900);
        let big = "  containers:\n  - name: web\n    image: nginx:1.25\n    resources: {requests: {memory: 2000Mi}}\n";
        assert_eq!(score(big, &policy), 3);
        let floored = NodePolicy {
            oom_score_adj_floor: Some(0),
            ..policy.clone()
        };
        assert_eq!(score(critical, &floored), 0);
        assert_eq!(score(best_effort, &floored), 1000);
        assert_eq!(floored.bounded(SANDBOX_OOM_SCORE_ADJ), 0);
        assert_eq!(policy.bounded(SANDBOX_OOM_SCORE_ADJ), -998);
    }
}
