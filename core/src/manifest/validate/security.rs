//! The API server's and the kubelet's rules for a pod's security fields: seccomp and
//! AppArmor profiles (`Localhost` names a file or profile, without `..`), `procMount`,
//! `mountPropagation`, and `sysctls` (valid names, once each, none of the host's
//! namespaces; which of them the node allows is the kubelet's admission,
//! `reconcile::admission`).

use super::Findings;
use crate::model::{
    AppArmorProfile, AppArmorProfileType, Container, MountPropagation, PodSpec, ProcMountType,
    SeccompProfile, SeccompProfileType,
};

/// The API server's regular expression for a sysctl's name (`IsValidSysctlName`), dots or
/// slashes between its parts.
const SYSCTL_NAME: &str = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// Whether `name` matches [`SYSCTL_NAME`] within 253 characters: parts of lower-case letters,
/// digits, `-` and `_`, each starting and ending with a letter or digit, joined by `.` or `/`.
fn valid_sysctl_name(name: &str) -> bool {
    let part = |p: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        p.starts_with(alnum)
            && p.ends_with(alnum)
            && p.chars().all(|c| alnum(c) || c == '-' || c == '_')
    };
    name.len() <= 253 && name.split(['.', '/']).all(part)
}

/// The pod's `securityContext`.
pub(super) fn validate_pod(f: &mut Findings<'_>, spec: &PodSpec) {
    let Some(context) = &spec.security_context else {
        return;
    };
    let field = "spec.securityContext";
    if let Some(profile) = &context.seccomp_profile {
        seccomp(f, &format!("{field}.seccompProfile"), profile);
    }
    if let Some(profile) = &context.app_armor_profile {
        apparmor(f, &format!("{field}.appArmorProfile"), profile);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, sysctl) in context.sysctls.iter().enumerate() {
        let name = crate::reconcile::configs::dotted(&sysctl.name);
        let at = format!("{field}.sysctls[{i}].name");
        if !valid_sysctl_name(&sysctl.name) {
            f.error(
                &at,
                format!(
                    "{:?}: must have at most 253 characters and match the regular expression '{SYSCTL_NAME}'",
                    sysctl.name
                ),
            );
        } else if !seen.insert(name.clone()) {
            f.error(&at, format!("duplicate sysctl {name:?}"));
        } else if spec.host_network && name.starts_with("net.") {
            f.error(&at, "may not be specified when 'hostNetwork' is true");
        } else if spec.host_ipc && name.starts_with("kernel.") {
            f.error(&at, "may not be specified when 'hostIPC' is true");
        }
    }
}

/// A container's `securityContext` and the propagation of its mounts.
pub(super) fn validate_container(f: &mut Findings<'_>, field: &str, container: &Container) {
    let context = container.security_context.as_ref();
    if let Some(profile) = context.and_then(|c| c.seccomp_profile.as_ref()) {
        seccomp(
            f,
            &format!("{field}.securityContext.seccompProfile"),
            profile,
        );
    }
    if let Some(profile) = context.and_then(|c| c.app_armor_profile.as_ref()) {
        apparmor(
            f,
            &format!("{field}.securityContext.appArmorProfile"),
            profile,
        );
    }
    if context.and_then(|c| c.proc_mount) == Some(ProcMountType::Unmasked) {
        f.error(
            &format!("{field}.securityContext.procMount"),
            "Unmasked needs the pod's own user namespace (`hostUsers` must be false to use `Unmasked`), and staticpod does not unmask `/proc`",
        );
    }
    let privileged = context.and_then(|c| c.privileged).unwrap_or(false);
    for (i, mount) in container.volume_mounts.iter().enumerate() {
        if mount.mount_propagation == Some(MountPropagation::Bidirectional) && !privileged {
            f.error(
                &format!("{field}.volumeMounts[{i}].mountPropagation"),
                "Bidirectional mount propagation is available only to privileged containers",
            );
        }
    }
}

fn seccomp(f: &mut Findings<'_>, field: &str, profile: &SeccompProfile) {
    let localhost = profile.type_ == SeccompProfileType::Localhost;
    local_profile(f, field, "seccomp", localhost, &profile.localhost_profile);
}

fn apparmor(f: &mut Findings<'_>, field: &str, profile: &AppArmorProfile) {
    let localhost = profile.type_ == AppArmorProfileType::Localhost;
    local_profile(f, field, "AppArmor", localhost, &profile.localhost_profile);
}

/// `localhostProfile`: required for `Localhost` (a relative path without `..` for seccomp,
/// a profile's name for AppArmor), refused for any other type.
fn local_profile(
    f: &mut Findings<'_>,
    field: &str,
    kind: &str,
    localhost: bool,
    profile: &Option<String>,
) {
    let at = format!("{field}.localhostProfile");
    match (localhost, profile.as_deref()) {
        (true, None | Some("")) => {
            f.error(&at, format!("must be set when {kind} type is Localhost"))
        }
        (true, Some(path)) if kind == "seccomp" && path.starts_with('/') => f.error(
            &at,
            format!("must be a path relative to <root-dir>/seccomp, got {path:?}"),
        ),
        (true, Some(path)) if path.split('/').any(|part| part == "..") => {
            f.error(&at, format!("must not contain '..', got {path:?}"))
        }
        (false, Some(_)) => f.error(
            &at,
            format!("can only be set when {kind} type is Localhost"),
        ),
        _ => {}
    }
}
