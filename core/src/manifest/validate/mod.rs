//! The kubelet's validation rules that matter for a static pod, and ours on top: names,
//! images, ports, volumes, quantities, probes, and no references to API objects (a static
//! pod has no API server to read them from).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod dns;
mod security;

use super::coverage::{self, Coverage};
use super::decode::DecodedPod;
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{
    Container, DownwardApiVolumeFile, EnvVar, FileKeySelector, PodSpec, Probe,
    ResourceFieldSelector,
};
use crate::quantity::Quantity;
use crate::reconcile::downward;

/// Pod fields an environment variable may take with `valueFrom.fieldRef` on a static pod.
pub const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.podIP",
    "status.podIPs",
    "status.hostIP",
    "status.hostIPs",
];

/// Collects the findings about one pod.
struct Findings<'a> {
    file: &'a Path,
    pod: &'a DecodedPod,
    out: Vec<Diagnostic>,
}

impl Findings<'_> {
    fn push(&mut self, severity: Severity, field: &str, message: String) {
        let field = if self.pod.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.pod.prefix)
        };
        self.out.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            position: self.pod.index.position(&field),
            field: Some(field),
            message,
        });
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Error, field, message.into());
    }

    fn warn(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Warning, field, message.into());
    }

    fn api_object(&mut self, field: &str, what: &str) {
        self.error(
            field,
            format!("static pods may not reference API objects ({what}): there is no API server to read them from"),
        );
    }
}

/// Validates one decoded pod; `node_name` is appended to the pod name, so the full name is
/// checked too.
pub fn validate(file: &Path, pod: &DecodedPod, node_name: &str) -> Vec<Diagnostic> {
    let mut findings = Findings {
        file,
        pod,
        out: Vec::new(),
    };
    let f = &mut findings;
    warn_not_acted_on(f);
    let manifest = &pod.pod;
    if !manifest.api_version.is_empty() && manifest.api_version != "v1" {
        f.error(
            "apiVersion",
            format!("must be \"v1\", got {:?}", manifest.api_version),
        );
    }
    let meta = &manifest.metadata;
    if meta.name.is_empty() {
        f.error("metadata.name", "is required");
    } else if let Err(why) = dns1123_subdomain(&meta.name) {
        f.error("metadata.name", why);
    } else if let Err(why) =
        dns1123_subdomain(&format!("{}-{}", meta.name, node_name.to_lowercase()))
    {
        f.error(
            "metadata.name",
            format!("with the node name appended: {why}"),
        );
    }
    if !meta.generate_name.is_empty() {
        f.error(
            "metadata.generateName",
            "is not supported for static pods: give metadata.name",
        );
    }
    if !meta.namespace.is_empty()
        && let Err(why) = dns1123_label(&meta.namespace)
    {
        f.error("metadata.namespace", why);
    }
    validate_spec(f, &manifest.spec);
    findings.out
}

fn validate_spec(f: &mut Findings<'_>, spec: &PodSpec) {
    if spec.containers.is_empty() {
        f.error("spec.containers", "a pod needs at least one container");
    }
    if let Some(name) = spec
        .service_account_name
        .as_ref()
        .or(spec.service_account.as_ref())
    {
        let field = if spec.service_account_name.is_some() {
            "spec.serviceAccountName"
        } else {
            "spec.serviceAccount"
        };
        f.api_object(field, &format!("ServiceAccount {name:?}"));
    }
    if spec.image_pull_secrets.is_some() {
        f.api_object("spec.imagePullSecrets", "Secrets");
    }
    if spec.ephemeral_containers.is_some() {
        f.error(
            "spec.ephemeralContainers",
            "ephemeral containers are added through the API server, not in a manifest",
        );
    }
    if let Some(hostname) = &spec.hostname
        && let Err(why) = dns1123_label(hostname)
    {
        f.error("spec.hostname", why);
    }
    if let Some(subdomain) = &spec.subdomain
        && let Err(why) = dns1123_label(subdomain)
    {
        f.error("spec.subdomain", why);
    }
    if let Some(grace) = spec.termination_grace_period_seconds
        && grace < 0
    {
        f.error("spec.terminationGracePeriodSeconds", "must be 0 or more");
    }
    dns::validate(f, spec);
    security::validate_pod(f, spec);
    let volumes = validate_volumes(f, spec);
    let mut names = BTreeSet::new();
    let mut host_ports = BTreeMap::new();
    let groups = [
        ("spec.initContainers", &spec.init_containers),
        ("spec.containers", &spec.containers),
    ];
    for (group, containers) in groups {
        for (i, container) in containers.iter().enumerate() {
            let field = format!("{group}[{i}]");
            if !container.name.is_empty() && !names.insert(container.name.clone()) {
                f.error(
                    &format!("{field}.name"),
                    format!("duplicate container name {:?}", container.name),
                );
            }
            validate_container(f, &field, container, &volumes, spec);
            security::validate_container(f, &field, container);
            let init = group == "spec.initContainers";
            if !init && container.restart_policy.is_some() {
                f.error(
                    &format!("{field}.restartPolicy"),
                    "may not be set for non-init containers",
                );
            }
            if init && !container.is_sidecar() {
                let probes = [
                    ("livenessProbe", container.liveness_probe.is_some()),
                    ("readinessProbe", container.readiness_probe.is_some()),
                    ("startupProbe", container.startup_probe.is_some()),
                ];
                for (probe, _) in probes.iter().filter(|(_, set)| *set) {
                    f.error(
                        &format!("{field}.{probe}"),
                        "may not be set for init containers without restartPolicy=Always",
                    );
                }
            }
            for (p, port) in container.ports.iter().enumerate() {
                if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                    let key = (
                        host_port,
                        port.protocol,
                        port.host_ip.clone().unwrap_or_default(),
                    );
                    let here = format!("{field}.ports[{p}].hostPort");
                    if let Some(first) = host_ports.insert(key, here.clone()) {
                        f.error(
                            &here,
                            format!("host port {host_port} is already used by {first}"),
                        );
                    }
                }
            }
        }
    }
}

fn validate_volumes(f: &mut Findings<'_>, spec: &PodSpec) -> BTreeSet<String> {
    let volumes = &spec.volumes;
    let mut names = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let field = format!("spec.volumes[{i}]");
        if let Err(why) = dns1123_label(&volume.name) {
            f.error(&format!("{field}.name"), why);
        }
        if !names.insert(volume.name.clone()) {
            f.error(
                &format!("{field}.name"),
                format!("duplicate volume name {:?}", volume.name),
            );
        }
        let api_sources = [
            ("configMap", volume.config_map.is_some(), "ConfigMaps"),
            ("secret", volume.secret.is_some(), "Secrets"),
            (
                "persistentVolumeClaim",
                volume.persistent_volume_claim.is_some(),
                "PersistentVolumeClaims",
            ),
        ];
        let mut sources = refuse_api_sources(f, &field, &api_sources);
        if let Some(host_path) = &volume.host_path {
            sources += 1;
            if !host_path.path.starts_with('/') {
                f.error(
                    &format!("{field}.hostPath.path"),
                    format!("must be an absolute path, got {:?}", host_path.path),
                );
            }
        }
        if let Some(downward_api) = &volume.downward_api {
            sources += 1;
            let field = format!("{field}.downwardAPI");
            validate_mode(
                f,
                &format!("{field}.defaultMode"),
                downward_api.default_mode,
            );
            validate_downward_files(f, &field, &downward_api.items, spec);
        }
        if let Some(projected) = &volume.projected {
            sources += 1;
            let field = format!("{field}.projected");
            validate_mode(f, &format!("{field}.defaultMode"), projected.default_mode);
            for (j, source) in projected.sources.iter().enumerate() {
                let field = format!("{field}.sources[{j}]");
                let api_sources = [
                    ("configMap", source.config_map.is_some(), "ConfigMaps"),
                    ("secret", source.secret.is_some(), "Secrets"),
                    (
                        "serviceAccountToken",
                        source.service_account_token.is_some(),
                        "ServiceAccounts",
                    ),
                    (
                        "clusterTrustBundle",
                        source.cluster_trust_bundle.is_some(),
                        "ClusterTrustBundles",
                    ),
                ];
                refuse_api_sources(f, &field, &api_sources);
                if let Some(downward_api) = &source.downward_api {
                    let field = format!("{field}.downwardAPI");
                    validate_downward_files(f, &field, &downward_api.items, spec);
                }
            }
        }
        if let Some(empty_dir) = &volume.empty_dir {
            sources += 1;
            match empty_dir.medium.as_deref() {
                None | Some("") | Some("Memory") => {}
                Some(other) => f.error(
                    &format!("{field}.emptyDir.medium"),
                    format!("must be \"\" or \"Memory\", got {other:?}"),
                ),
            }
        }
        match sources {
            0 => f.error(
                &field,
                "a volume needs a source: hostPath, emptyDir, downwardAPI or projected",
            ),
            1 => {}
            _ => f.error(&field, "a volume may have only one source"),
        }
    }
    names
}

fn validate_container(
    f: &mut Findings<'_>,
    field: &str,
    container: &Container,
    volumes: &BTreeSet<String>,
    spec: &PodSpec,
) {
    let host_network = spec.host_network;
    if container.name.is_empty() {
        f.error(&format!("{field}.name"), "is required");
    } else if let Err(why) = dns1123_label(&container.name) {
        f.error(&format!("{field}.name"), why);
    }
    if container.image.trim().is_empty() {
        f.error(&format!("{field}.image"), "is required");
    } else if container.image.trim() != container.image
        || container.image.contains(char::is_whitespace)
    {
        f.error(&format!("{field}.image"), "must not contain whitespace");
    }
    if container.env_from.is_some() {
        f.api_object(&format!("{field}.envFrom"), "ConfigMaps or Secrets");
    }
    for (i, env) in container.env.iter().enumerate() {
        validate_env(f, &format!("{field}.env[{i}]"), env, spec);
    }
    let mut port_names = BTreeSet::new();
    for (i, port) in container.ports.iter().enumerate() {
        let pfield = format!("{field}.ports[{i}]");
        if !(1..=65535).contains(&port.container_port) {
            f.error(
                &format!("{pfield}.containerPort"),
                format!("must be between 1 and 65535, got {}", port.container_port),
            );
        }
        if let Some(host_port) = port.host_port {
            if !(0..=65535).contains(&host_port) {
                f.error(
                    &format!("{pfield}.hostPort"),
                    format!("must be between 1 and 65535, got {host_port}"),
                );
            } else if host_network && host_port != 0 && host_port != port.container_port {
                f.error(
                    &format!("{pfield}.hostPort"),
                    "must equal containerPort when hostNetwork is true",
                );
            }
        }
        if let Some(name) = &port.name {
            if let Err(why) = port_name(name) {
                f.error(&format!("{pfield}.name"), why);
            } else if !port_names.insert(name.clone()) {
                f.error(
                    &format!("{pfield}.name"),
                    format!("duplicate port name {name:?}"),
                );
            }
        }
        if let Some(ip) = &port.host_ip
            && !ip.is_empty()
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            f.error(
                &format!("{pfield}.hostIP"),
                format!("must be an IP address, got {ip:?}"),
            );
        }
    }
    let mut mount_paths = BTreeSet::new();
    for (i, mount) in container.volume_mounts.iter().enumerate() {
        let mfield = format!("{field}.volumeMounts[{i}]");
        if !volumes.contains(&mount.name) {
            f.error(
                &format!("{mfield}.name"),
                format!("no volume named {:?} in spec.volumes", mount.name),
            );
        }
        if !mount.mount_path.starts_with('/') {
            f.error(
                &format!("{mfield}.mountPath"),
                format!("must be an absolute path, got {:?}", mount.mount_path),
            );
        } else if !mount_paths.insert(mount.mount_path.clone()) {
            f.error(
                &format!("{mfield}.mountPath"),
                format!("{:?} is mounted twice", mount.mount_path),
            );
        }
        let sub_paths = [
            ("subPath", &mount.sub_path),
            ("subPathExpr", &mount.sub_path_expr),
        ];
        for (name, sub_path) in sub_paths {
            if let Some(sub_path) = sub_path
                && leaves_its_volume(sub_path)
            {
                f.error(
                    &format!("{mfield}.{name}"),
                    "must be a relative path without '..'",
                );
            }
        }
        if mount.sub_path.as_ref().is_some_and(|s| !s.is_empty())
            && mount.sub_path_expr.as_ref().is_some_and(|s| !s.is_empty())
        {
            f.error(
                &format!("{mfield}.subPathExpr"),
                "subPathExpr and subPath are mutually exclusive",
            );
        }
    }
    if let Some(resources) = &container.resources {
        for (kind, map) in [
            ("requests", &resources.requests),
            ("limits", &resources.limits),
        ] {
            for (name, quantity) in map {
                let rfield = format!("{field}.resources.{kind}.{name}");
                if quantity.is_negative() {
                    f.error(&rfield, "must not be negative");
                }
                let unenforced = name == "ephemeral-storage" || downward::is_hugepages(name);
                let known = matches!(name.as_str(), "cpu" | "memory") || unenforced;
                if !known && !name.contains('/') {
                    f.warn(
                        &rfield,
                        format!("unknown resource {name:?}: only cpu and memory are enforced"),
                    );
                } else if unenforced && kind == "limits" {
                    let why = if name == "ephemeral-storage" {
                        "staticpod evicts no pod for its disk use"
                    } else {
                        "staticpod sets no hugetlb cgroup limit"
                    };
                    f.warn(
                        &rfield,
                        format!("limit not enforced ({why}); the downward API reads it"),
                    );
                }
            }
        }
        for (name, request) in &resources.requests {
            if let Some(limit) = resources.limits.get(name)
                && request.millis() > limit.millis()
            {
                f.error(
                    &format!("{field}.resources.requests.{name}"),
                    format!("request {request} is more than the limit {limit}"),
                );
            }
        }
    }
    let probes = [
        ("livenessProbe", &container.liveness_probe),
        ("readinessProbe", &container.readiness_probe),
        ("startupProbe", &container.startup_probe),
    ];
    for (name, probe) in probes {
        if let Some(probe) = probe {
            validate_probe(f, &format!("{field}.{name}"), name, probe);
        }
    }
    if let Some(lifecycle) = &container.lifecycle {
        for (name, handler) in [
            ("postStart", &lifecycle.post_start),
            ("preStop", &lifecycle.pre_stop),
        ] {
            if let Some(handler) = handler {
                let count = [
                    handler.exec.is_some(),
                    handler.http_get.is_some(),
                    handler.tcp_socket.is_some(),
                    handler.sleep.is_some(),
                ]
                .iter()
                .filter(|set| **set)
                .count();
                if count != 1 {
                    f.error(
                        &format!("{field}.lifecycle.{name}"),
                        "needs exactly one of exec, httpGet, tcpSocket, sleep",
                    );
                }
                if handler.tcp_socket.is_some() {
                    f.warn(
                        &format!("{field}.lifecycle.{name}.tcpSocket"),
                        "a tcpSocket hook is kept by the API for compatibility and never run: the kubelet fails it, and so does staticpod",
                    );
                }
            }
        }
        if let Some(signal) = &lifecycle.stop_signal
            && staticpod_runtime::signal::number(signal).is_none()
        {
            f.error(
                &format!("{field}.lifecycle.stopSignal"),
                format!(
                    "unsupported value {signal:?}: a signal name as SIGTERM, SIGUSR1, SIGRTMIN+1 (to +15) or SIGRTMAX-1 (to -14)"
                ),
            );
        }
    }
}

/// Warns once of every field of the pod that is set, part of the API, and not acted on,
/// saying why (the coverage table).
fn warn_not_acted_on(f: &mut Findings<'_>) {
    let prefix = match f.pod.prefix.as_str() {
        "" => String::new(),
        prefix => format!("{prefix}."),
    };
    let paths: Vec<String> = f
        .pod
        .index
        .paths()
        .map(|(path, _)| path.to_string())
        .filter(|path| path.starts_with(&prefix))
        .collect();
    for path in paths {
        let Some((object, field)) = coverage::field_at(&path) else {
            continue;
        };
        if let Some(Coverage::NotActed(why)) = object.coverage(field) {
            let own = path[prefix.len()..].to_string();
            f.warn(&own, format!("accepted and not acted on: {why}"));
        }
    }
}

fn validate_env(f: &mut Findings<'_>, field: &str, env: &EnvVar, spec: &PodSpec) {
    if env.name.is_empty() || env.name.contains('=') || env.name.chars().any(|c| c.is_control()) {
        f.error(
            &format!("{field}.name"),
            format!("must be a non-empty name without '=', got {:?}", env.name),
        );
    }
    let Some(source) = &env.value_from else {
        return;
    };
    if env.value.as_deref().is_some_and(|v| !v.is_empty()) {
        f.error(
            &format!("{field}.valueFrom"),
            "may not be given together with value",
        );
    }
    if source.config_map_key_ref.is_some() {
        f.api_object(&format!("{field}.valueFrom.configMapKeyRef"), "ConfigMaps");
    }
    if source.secret_key_ref.is_some() {
        f.api_object(&format!("{field}.valueFrom.secretKeyRef"), "Secrets");
    }
    if let Some(selector) = &source.resource_field_ref {
        let field = format!("{field}.valueFrom.resourceFieldRef");
        validate_resource_field(f, &field, selector, spec, false);
    }
    if let Some(selector) = &source.file_key_ref {
        validate_file_key_ref(f, &format!("{field}.valueFrom.fileKeyRef"), selector, spec);
    }
    match &source.field_ref {
        Some(field_ref)
            if !ENV_FIELD_PATHS.contains(&field_ref.field_path.as_str())
                && !is_subscript(&field_ref.field_path) =>
        {
            f.error(
            &format!("{field}.valueFrom.fieldRef.fieldPath"),
            format!(
                    "unsupported field {:?}: supported are {}, metadata.labels['<key>'], metadata.annotations['<key>']",
                    field_ref.field_path,
                    ENV_FIELD_PATHS.join(", ")
                ),
            )
        }
        Some(_) => {}
        None if source.config_map_key_ref.is_none()
            && source.secret_key_ref.is_none()
            && source.resource_field_ref.is_none()
            && source.file_key_ref.is_none() =>
        {
            f.error(
                &format!("{field}.valueFrom"),
                "needs fieldRef, resourceFieldRef or fileKeyRef",
            )
        }
        None => {}
    }
}

/// The longest key of an env file a `fileKeyRef` may name (the API's, for `EnvFiles`).
const MAX_FILE_KEY: usize = 128;

/// `fileKeyRef` as the API server validates it: an emptyDir volume of the pod, a relative
/// path inside it, a key of printable ASCII without '='.
fn validate_file_key_ref(
    f: &mut Findings<'_>,
    field: &str,
    selector: &FileKeySelector,
    spec: &PodSpec,
) {
    let volume = spec.volumes.iter().find(|v| v.name == selector.volume_name);
    if volume.is_none_or(|v| v.empty_dir.is_none()) {
        f.error(
            &format!("{field}.volumeName"),
            format!(
                "must name an emptyDir volume of the pod, got {:?}",
                selector.volume_name
            ),
        );
    }
    if selector.path.is_empty() || leaves_its_volume(&selector.path) {
        f.error(
            &format!("{field}.path"),
            format!(
                "must be a relative path without '..', got {:?}",
                selector.path
            ),
        );
    }
    let key = &selector.key;
    if key.is_empty()
        || key.len() > MAX_FILE_KEY
        || !key.chars().all(|c| (' '..='~').contains(&c) && c != '=')
    {
        f.error(
            &format!("{field}.key"),
            format!(
                "must be 1 to {MAX_FILE_KEY} printable ASCII characters without '=', got {key:?}"
            ),
        );
    }
}

/// Whether `path` is absolute or has a `..` part.
fn leaves_its_volume(path: &str) -> bool {
    path.starts_with('/') || path.split('/').any(|part| part == "..")
}

/// `metadata.labels['k']` or `metadata.annotations['k']`.
fn is_subscript(path: &str) -> bool {
    matches!(
        downward::subscript(path),
        Some(("metadata.labels" | "metadata.annotations", key)) if !key.is_empty()
    )
}

/// Pod fields a downward API volume file may hold.
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
];

/// Divisors the API allows for CPU, and for memory and storage.
const CPU_DIVISORS: &[&str] = &["1m", "1"];
const BYTE_DIVISORS: &[&str] = &[
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

fn validate_resource_field(
    f: &mut Findings<'_>,
    field: &str,
    selector: &ResourceFieldSelector,
    spec: &PodSpec,
    in_volume: bool,
) {
    let exists = |name: &str| {
        spec.containers
            .iter()
            .chain(&spec.init_containers)
            .any(|c| c.name == name)
    };
    match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        None if in_volume => f.error(&format!("{field}.containerName"), "is required in a volume"),
        Some(name) if !exists(name) => f.error(
            &format!("{field}.containerName"),
            format!("no container of the pod is named {name:?}"),
        ),
        _ => {}
    }
    let resource = selector
        .resource
        .split_once('.')
        .filter(|(kind, name)| {
            matches!(*kind, "limits" | "requests")
                && (downward::RESOURCES.contains(name) || downward::is_hugepages(name))
        })
        .map(|(_, name)| name);
    let Some(resource) = resource else {
        f.error(
            &format!("{field}.resource"),
            format!(
                "unsupported resource {:?}: supported are limits.cpu, limits.memory, limits.ephemeral-storage, limits.hugepages-<size>, requests.cpu, requests.memory, requests.ephemeral-storage, requests.hugepages-<size>",
                selector.resource
            ),
        );
        return;
    };
    let Some(divisor) = &selector.divisor else {
        return;
    };
    let allowed = if resource == "cpu" {
        CPU_DIVISORS
    } else {
        BYTE_DIVISORS
    };
    let valid = allowed
        .iter()
        .filter_map(|d| Quantity::parse(d).ok())
        .any(|d| d.millis() == divisor.millis());
    if !valid && divisor.millis() != 0 {
        f.error(
            &format!("{field}.divisor"),
            format!("must be one of {} for {resource}", allowed.join(", ")),
        );
    }
}

/// Refuses each source of `sources` (key, set, what it references) that is set, as a
/// reference to an API object; how many were set.
fn refuse_api_sources(f: &mut Findings<'_>, field: &str, sources: &[(&str, bool, &str)]) -> usize {
    let set: Vec<_> = sources.iter().filter(|(_, present, _)| *present).collect();
    for (key, _, what) in &set {
        f.api_object(&format!("{field}.{key}"), what);
    }
    set.len()
}

fn validate_mode(f: &mut Findings<'_>, field: &str, mode: Option<i32>) {
    if let Some(mode) = mode
        && !(0..=0o777).contains(&mode)
    {
        f.error(
            field,
            format!("must be a file mode from 0 to 0777 (511), got {mode}"),
        );
    }
}

fn validate_downward_files(
    f: &mut Findings<'_>,
    field: &str,
    items: &[DownwardApiVolumeFile],
    spec: &PodSpec,
) {
    let mut paths = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("{field}.items[{i}]");
        let parts: Vec<&str> = item.path.split('/').collect();
        if item.path.is_empty()
            || item.path.starts_with('/')
            || item.path.starts_with("..")
            || parts.contains(&"..")
        {
            f.error(
                &format!("{field}.path"),
                format!(
                    "must be a relative path without '..' and not starting with '..', got {:?}",
                    item.path
                ),
            );
        } else if !paths.insert(item.path.clone()) {
            f.error(
                &format!("{field}.path"),
                format!("duplicate path {:?}", item.path),
            );
        }
        validate_mode(f, &format!("{field}.mode"), item.mode);
        match (&item.field_ref, &item.resource_field_ref) {
            (Some(field_ref), None) => {
                let path = field_ref.field_path.as_str();
                if !VOLUME_FIELD_PATHS.contains(&path) && !is_subscript(path) {
                    f.error(
                        &format!("{field}.fieldRef.fieldPath"),
                        format!(
                            "unsupported field {path:?}: supported are {}, metadata.labels['<key>'], metadata.annotations['<key>']",
                            VOLUME_FIELD_PATHS.join(", ")
                        ),
                    );
                }
            }
            (None, Some(selector)) => {
                let field = format!("{field}.resourceFieldRef");
                validate_resource_field(f, &field, selector, spec, true);
            }
            _ => f.error(&field, "needs exactly one of fieldRef and resourceFieldRef"),
        }
    }
}

fn validate_probe(f: &mut Findings<'_>, field: &str, kind: &str, probe: &Probe) {
    let handlers = [
        probe.exec.is_some(),
        probe.http_get.is_some(),
        probe.tcp_socket.is_some(),
        probe.grpc.is_some(),
    ];
    if handlers.iter().filter(|set| **set).count() != 1 {
        f.error(field, "needs exactly one of exec, httpGet, tcpSocket, grpc");
    }
    if let Some(grpc) = &probe.grpc
        && !(1..=65535).contains(&grpc.port)
    {
        f.error(&format!("{field}.grpc.port"), "must be between 1 and 65535");
    }
    let minimums = [
        ("initialDelaySeconds", probe.initial_delay_seconds, 0),
        ("timeoutSeconds", probe.timeout_seconds, 1),
        ("periodSeconds", probe.period_seconds, 1),
        ("successThreshold", probe.success_threshold, 1),
        ("failureThreshold", probe.failure_threshold, 1),
    ];
    for (name, value, minimum) in minimums {
        if let Some(value) = value
            && value < minimum
        {
            f.error(
                &format!("{field}.{name}"),
                format!("must be at least {minimum}, got {value}"),
            );
        }
    }
    if kind != "readinessProbe" && probe.success_threshold.is_some_and(|v| v != 1) {
        f.error(
            &format!("{field}.successThreshold"),
            "must be 1 for liveness and startup probes",
        );
    }
}

/// Checks a DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending
/// with an alphanumeric.
pub fn dns1123_label(value: &str) -> Result<(), String> {
    if value.len() <= 63 && label_shaped(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a valid DNS-1123 label: at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

/// Lower-case letters, digits and '-', starting and ending with a letter or digit.
fn label_shaped(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// Checks a DNS-1123 subdomain as Kubernetes does (`IsDNS1123Subdomain`): at most 253
/// characters of dot-separated parts, each made like a label but with no length of its own
/// (a 70-character pod name is valid; its hostname is cut to 63).
pub fn dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.len() <= 253 && value.split('.').all(label_shaped) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a valid DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"
        ))
    }
}

fn port_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid port name: at most 15 lower-case letters, digits or '-', with at least one letter"
        ))
    }
}
