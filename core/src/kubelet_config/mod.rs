//! The kubelet's configuration file (`--config`): a `KubeletConfiguration`
//! (`kubelet.config.k8s.io/v1beta1`, YAML or JSON), read with the same diagnostics as a
//! manifest (file, line, column, field). The fields staticpod acts on are typed; every other
//! field the kubelet has is accepted and listed once as not used; a name the kubelet does not
//! have is a typo warning. As the kubelet reads a file, a zero duration (`0s`, which kubeadm
//! writes for every duration it leaves alone) means the default.

pub mod fields;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Position, Severity};
use crate::manifest::decode::typed;
use crate::manifest::documents::Document;
use crate::manifest::locate::{FieldIndex, without_indexes};
use crate::quantity::Quantity;
use crate::reconcile::admission::UnsafeSysctls;

/// The API version of the only `KubeletConfiguration` there is.
pub const API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
/// Its kind.
pub const KIND: &str = "KubeletConfiguration";

/// What staticpod takes from a kubelet configuration; `None` where the file leaves the
/// field out (or gives a zero duration or an empty string): the flag or the default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeletConfig {
    /// `staticPodPath`: the manifest directory (or file).
    pub static_pod_path: Option<PathBuf>,
    /// `staticPodURL`: the manifest URL.
    pub static_pod_url: Option<String>,
    /// `staticPodURLHeader`: headers sent to the URL, by name, each value in order.
    pub static_pod_url_header: Vec<(String, String)>,
    /// `fileCheckFrequency`.
    pub file_check_frequency: Option<Duration>,
    /// `httpCheckFrequency`.
    pub http_check_frequency: Option<Duration>,
    /// `syncFrequency`: how often the runtime is relisted besides its events.
    pub sync_frequency: Option<Duration>,
    /// `runtimeRequestTimeout`: how long a runtime call may go unanswered.
    pub runtime_request_timeout: Option<Duration>,
    /// `address`: where the read-only port listens.
    pub address: Option<IpAddr>,
    /// `readOnlyPort`; `Some(0)` turns it off.
    pub read_only_port: Option<u16>,
    /// `healthzPort`; `Some(0)` turns it off.
    pub healthz_port: Option<u16>,
    /// `healthzBindAddress`.
    pub healthz_bind_address: Option<IpAddr>,
    /// `containerRuntimeEndpoint`.
    pub container_runtime_endpoint: Option<String>,
    /// `podLogsDir`.
    pub pod_logs_dir: Option<PathBuf>,
    /// `containerLogMaxSize`, in bytes.
    pub container_log_max_size: Option<u64>,
    /// `containerLogMaxFiles`.
    pub container_log_max_files: Option<u32>,
    /// `seccompDefault`: `RuntimeDefault` for containers whose pod names no profile.
    pub seccomp_default: Option<bool>,
    /// `allowedUnsafeSysctls`: the sysctls pods may set beyond the safe ones.
    pub allowed_unsafe_sysctls: Option<UnsafeSysctls>,
    /// `resolvConf`: the node's resolver file; `Some("")` for none.
    pub resolv_conf: Option<String>,
    /// `clusterDNS`: the cluster's DNS servers.
    pub cluster_dns: Vec<IpAddr>,
    /// `clusterDomain`: searched by `ClusterFirst` pods, the domain of a pod with a
    /// `subdomain`.
    pub cluster_domain: Option<String>,
    /// `crashLoopBackOff.maxContainerRestartPeriod`: the longest crash back-off, acted on as
    /// the kubelet does with its `KubeletCrashLoopBackOffMax` gate on.
    pub max_container_restart_period: Option<Duration>,
    /// `featureGates.ReduceDefaultCrashLoopBackOffDecay`: the crash back-off of 1 s
    /// doubling to 1 min.
    pub reduced_crash_back_off: bool,
}

/// What reading a configuration file gives.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The fields acted on; all `None` when the file has errors.
    pub config: KubeletConfig,
    /// Errors and warnings, each with its position and field.
    pub diagnostics: Vec<Diagnostic>,
    /// Fields of the kubelet's that the file sets and staticpod does not act on, in file
    /// order.
    pub not_used: Vec<String>,
}

impl Loaded {
    /// True when the file has an error: it must not be used.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The fields staticpod acts on, as the file spells them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    api_version: Option<String>,
    kind: Option<String>,
    static_pod_path: Option<String>,
    #[serde(rename = "staticPodURL")]
    static_pod_url: Option<String>,
    #[serde(rename = "staticPodURLHeader")]
    static_pod_url_header: Option<BTreeMap<String, Vec<String>>>,
    file_check_frequency: Option<GoDuration>,
    http_check_frequency: Option<GoDuration>,
    sync_frequency: Option<GoDuration>,
    runtime_request_timeout: Option<GoDuration>,
    address: Option<String>,
    read_only_port: Option<i64>,
    healthz_port: Option<i64>,
    healthz_bind_address: Option<String>,
    container_runtime_endpoint: Option<String>,
    pod_logs_dir: Option<String>,
    container_log_max_size: Option<String>,
    container_log_max_files: Option<i64>,
    seccomp_default: Option<bool>,
    allowed_unsafe_sysctls: Option<Vec<String>>,
    resolv_conf: Option<String>,
    #[serde(rename = "clusterDNS")]
    cluster_dns: Option<Vec<String>>,
    cluster_domain: Option<String>,
    crash_loop_back_off: Option<RawCrashLoopBackOff>,
    feature_gates: Option<BTreeMap<String, bool>>,
}

/// `crashLoopBackOff`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCrashLoopBackOff {
    max_container_restart_period: Option<GoDuration>,
}

/// The top-level fields [`Raw`] types.
const ACTED_ON: &[&str] = &[
    "staticPodPath",
    "staticPodURL",
    "staticPodURLHeader",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "syncFrequency",
    "runtimeRequestTimeout",
    "address",
    "readOnlyPort",
    "healthzPort",
    "healthzBindAddress",
    "containerRuntimeEndpoint",
    "podLogsDir",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "seccompDefault",
    "allowedUnsafeSysctls",
    "resolvConf",
    "clusterDNS",
    "clusterDomain",
    "crashLoopBackOff",
    "featureGates",
];

/// The kubelet's feature gates staticpod acts on; the others are listed as not used.
const GATES_ACTED_ON: &[&str] = &[KUBELET_CRASH_LOOP_BACK_OFF_MAX, REDUCE_DEFAULT_DECAY];
/// On unless set to false: `crashLoopBackOff.maxContainerRestartPeriod` acts.
const KUBELET_CRASH_LOOP_BACK_OFF_MAX: &str = "KubeletCrashLoopBackOffMax";
/// The crash back-off of 1 s doubling to 1 min.
const REDUCE_DEFAULT_DECAY: &str = "ReduceDefaultCrashLoopBackOffDecay";

/// Reads a `containerLogMaxSize` (or `--container-log-max-size`): a positive quantity of
/// bytes (`10Mi`). The kubelet's negative size, which turns its rotation off, is refused:
/// staticpod always rotates the CRI logs it manages.
pub fn parse_log_max_size(text: &str) -> Result<u64, String> {
    let quantity = Quantity::parse(text).map_err(|err| err.to_string())?;
    u64::try_from(quantity.value())
        .ok()
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("{text:?} is not a positive size (as 10Mi)"))
}

/// The fewest files `containerLogMaxFiles` may keep: the current one and a rotated one, as
/// the kubelet requires.
pub const MIN_LOG_MAX_FILES: u32 = 2;

/// The bounds of `crashLoopBackOff.maxContainerRestartPeriod` (the kubelet's validation).
const MIN_RESTART_PERIOD: Duration = Duration::from_secs(1);
const MAX_RESTART_PERIOD: Duration = Duration::from_secs(300);

/// A Kubernetes duration: Go's `time.ParseDuration` syntax (`20s`, `1m0s`, `300ms`); a bare
/// number other than `0` has no unit and is refused, as the kubelet refuses it.
#[derive(Debug, Clone, Copy)]
struct GoDuration(Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(GoDuration)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?}: a duration is a number with a unit, as 20s or 1m0s"
                ))
            })
    }
}

/// Reads a configuration file's text.
pub fn load(file: &Path, text: &str) -> Loaded {
    let document = Document {
        text,
        line_offset: 0,
    };
    let index = FieldIndex::read(text, 0).unwrap_or_default();
    let raw = match typed::<Raw>(&document, &index) {
        Ok((raw, _)) => raw,
        Err(error) => {
            return Loaded {
                diagnostics: vec![error.into_diagnostic(file)],
                ..Loaded::default()
            };
        }
    };
    let mut findings = Findings {
        file,
        index: &index,
        diagnostics: Vec::new(),
    };
    findings.check_type(&raw);
    let mut not_used = findings.check_fields();
    not_used.extend(
        raw.feature_gates
            .iter()
            .flatten()
            .filter(|(gate, _)| !GATES_ACTED_ON.contains(&gate.as_str()))
            .map(|(gate, _)| format!("featureGates.{gate}")),
    );
    let config = findings.config(raw);
    let mut diagnostics = findings.diagnostics;
    diagnostics.sort_by_key(|d| (d.position, d.severity));
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Loaded {
        config: if has_errors {
            KubeletConfig::default()
        } else {
            config
        },
        diagnostics,
        not_used,
    }
}

/// The findings about one file, as they are made.
struct Findings<'a> {
    file: &'a Path,
    index: &'a FieldIndex,
    diagnostics: Vec<Diagnostic>,
}

impl Findings<'_> {
    fn add(&mut self, severity: Severity, field: &str, message: String) {
        let position = self
            .index
            .position(field)
            .or(Some(Position { line: 1, column: 1 }));
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            position,
            field: Some(field.to_string()),
            message,
        });
    }

    fn check_type(&mut self, raw: &Raw) {
        if raw.kind.as_deref() != Some(KIND) {
            let message = match &raw.kind {
                Some(kind) => format!("kind {kind:?} is not a {KIND}"),
                None => format!("kind is missing: a kubelet configuration has `kind: {KIND}`"),
            };
            self.add(Severity::Error, "kind", message);
        }
        if raw.api_version.as_deref() != Some(API_VERSION) {
            let message = match &raw.api_version {
                Some(version) => format!("apiVersion {version:?} is not {API_VERSION}"),
                None => format!("apiVersion is missing: it is {API_VERSION}"),
            };
            self.add(Severity::Error, "apiVersion", message);
        }
    }

    /// Warns of every field the kubelet does not have; returns the kubelet's fields that are
    /// set and not acted on.
    fn check_fields(&mut self) -> Vec<String> {
        let mut not_used = Vec::new();
        let mut typos: BTreeSet<String> = BTreeSet::new();
        let mut by_position: Vec<(&str, Position)> = self.index.paths().collect();
        by_position.sort_by_key(|(_, at)| *at);
        for (path, _) in by_position {
            let pattern = without_indexes(path);
            let top = pattern.split(['.', '[']).next().unwrap_or_default();
            if matches!(top, "apiVersion" | "kind") || ACTED_ON.contains(&top) {
                continue;
            }
            let under = |typo: &String| {
                path.strip_prefix(typo.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
            };
            if typos.iter().any(under) {
                continue;
            }
            let free_form = fields::FREE_FORM_MAPS
                .iter()
                .any(|map| pattern.starts_with(&format!("{map}.")));
            let known = if pattern == top {
                fields::TOP_LEVEL.contains(&top)
            } else {
                free_form
                    || fields::NESTED.contains(&pattern.as_str())
                    || pattern.ends_with("[]") && is_list_field(&pattern)
            };
            if !known {
                typos.insert(path.to_string());
                self.add(
                    Severity::Warning,
                    path,
                    "unknown field, ignored (is it misspelled?)".to_string(),
                );
            } else if pattern == top {
                not_used.push(top.to_string());
            }
        }
        not_used
    }

    fn config(&mut self, raw: Raw) -> KubeletConfig {
        let nonzero = |d: Option<GoDuration>| d.map(|d| d.0).filter(|d| !d.is_zero());
        let gates = raw.feature_gates.unwrap_or_default();
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        KubeletConfig {
            static_pod_path: nonempty(raw.static_pod_path).map(PathBuf::from),
            static_pod_url: nonempty(raw.static_pod_url),
            static_pod_url_header: raw
                .static_pod_url_header
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
                .collect(),
            file_check_frequency: nonzero(raw.file_check_frequency),
            http_check_frequency: nonzero(raw.http_check_frequency),
            sync_frequency: nonzero(raw.sync_frequency),
            runtime_request_timeout: nonzero(raw.runtime_request_timeout),
            address: self.address("address", raw.address),
            read_only_port: self.port("readOnlyPort", raw.read_only_port),
            healthz_port: self.port("healthzPort", raw.healthz_port),
            healthz_bind_address: self.address("healthzBindAddress", raw.healthz_bind_address),
            container_runtime_endpoint: nonempty(raw.container_runtime_endpoint),
            pod_logs_dir: nonempty(raw.pod_logs_dir).map(PathBuf::from),
            container_log_max_size: self.log_max_size(nonempty(raw.container_log_max_size)),
            container_log_max_files: self.log_max_files(raw.container_log_max_files),
            seccomp_default: raw.seccomp_default,
            allowed_unsafe_sysctls: self.unsafe_sysctls(raw.allowed_unsafe_sysctls),
            // Unlike the other strings, an empty resolvConf means something: no file.
            resolv_conf: raw.resolv_conf,
            cluster_dns: self.addresses("clusterDNS", raw.cluster_dns.unwrap_or_default()),
            cluster_domain: nonempty(raw.cluster_domain),
            max_container_restart_period: self.restart_period(
                raw.crash_loop_back_off
                    .and_then(|c| c.max_container_restart_period),
                gates.get(KUBELET_CRASH_LOOP_BACK_OFF_MAX).copied(),
            ),
            reduced_crash_back_off: gates.get(REDUCE_DEFAULT_DECAY) == Some(&true),
        }
    }

    /// As the kubelet validates it: from 1 s to 300 s, and not set with `gate` off.
    fn restart_period(
        &mut self,
        period: Option<GoDuration>,
        gate: Option<bool>,
    ) -> Option<Duration> {
        let period = period?.0;
        if gate == Some(false) {
            let message = format!(
                "set while featureGates.{KUBELET_CRASH_LOOP_BACK_OFF_MAX} is false, which the kubelet refuses"
            );
            self.add(
                Severity::Error,
                "crashLoopBackOff.maxContainerRestartPeriod",
                message,
            );
            return None;
        }
        if (MIN_RESTART_PERIOD..=MAX_RESTART_PERIOD).contains(&period) {
            return Some(period);
        }
        let message = format!(
            "{}s is not between 1s and 300s, as the kubelet requires",
            period.as_secs_f64()
        );
        self.add(
            Severity::Error,
            "crashLoopBackOff.maxContainerRestartPeriod",
            message,
        );
        None
    }

    fn addresses(&mut self, field: &str, texts: Vec<String>) -> Vec<IpAddr> {
        texts
            .into_iter()
            .enumerate()
            .filter_map(|(i, text)| self.address(&format!("{field}[{i}]"), Some(text)))
            .collect()
    }

    fn unsafe_sysctls(&mut self, patterns: Option<Vec<String>>) -> Option<UnsafeSysctls> {
        match UnsafeSysctls::parse(patterns?.iter().map(String::as_str)) {
            Ok(allowed) => Some(allowed),
            Err(message) => {
                self.add(Severity::Error, "allowedUnsafeSysctls", message);
                None
            }
        }
    }

    fn log_max_size(&mut self, text: Option<String>) -> Option<u64> {
        match parse_log_max_size(&text?) {
            Ok(bytes) => Some(bytes),
            Err(message) => {
                self.add(Severity::Error, "containerLogMaxSize", message);
                None
            }
        }
    }

    /// As the kubelet reads a file, 0 is the default.
    fn log_max_files(&mut self, number: Option<i64>) -> Option<u32> {
        let number = number.filter(|n| *n != 0)?;
        match u32::try_from(number) {
            Ok(files) if files >= MIN_LOG_MAX_FILES => Some(files),
            _ => {
                let message = format!(
                    "{number} files: a container's log keeps at least {MIN_LOG_MAX_FILES} (the current one and a rotated one)"
                );
                self.add(Severity::Error, "containerLogMaxFiles", message);
                None
            }
        }
    }

    fn address(&mut self, field: &str, text: Option<String>) -> Option<IpAddr> {
        let text = text.filter(|t| !t.is_empty())?;
        match text.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                let message = format!("{text:?} is not an IP address");
                self.add(Severity::Error, field, message);
                None
            }
        }
    }

    fn port(&mut self, field: &str, number: Option<i64>) -> Option<u16> {
        let number = number?;
        match u16::try_from(number) {
            Ok(port) => Some(port),
            Err(_) => {
                let message = format!("{number} is not a port (0 to 65535)");
                self.add(Severity::Error, field, message);
                None
            }
        }
    }
}

/// True when `pattern` (`x[]`) is an item of a list field: a list of scalars or of structs
/// whose fields are in [`fields::NESTED`].
fn is_list_field(pattern: &str) -> bool {
    let list = &pattern[..pattern.len() - 2];
    fields::TOP_LEVEL.contains(&list) || fields::NESTED.contains(&list)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// What `kubeadm init` (v1.32) writes to `/var/lib/kubelet/config.yaml` on a host with
    /// systemd-resolved.
    const KUBEADM: &str = include_str!("../../../examples/kubelet/kubeadm-v1.32-config.yaml");

    fn check(text: &str, expected: Expect) {
        let loaded = load(Path::new("/var/lib/kubelet/config.yaml"), text);
        let mut out: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        out.push(format!("not used: {}", loaded.not_used.join(", ")));
        expected.assert_eq(&out.join("\n"));
    }

    /// Found by the `kubelet_config` fuzz target (`fuzz/regressions/kubelet_config/`): `?`
    /// is a map whose one key is null, and the error named an empty field.
    #[test]
    fn an_empty_key_is_named() {
        check(
            "?",
            expect![[r#"
            /var/lib/kubelet/config.yaml:1:2: error: "": cannot deserialize null into string; use Option<String>
            not used: "#]],
        );
        check(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\"\": 1\n",
            expect![[r#"
                /var/lib/kubelet/config.yaml:3:1: warning: "": unknown field, ignored (is it misspelled?)
                not used: "#]],
        );
    }

    #[test]
    fn kubeadms_configuration_gives_no_typo_warning_and_its_zero_durations_are_defaults() {
        check(
            KUBEADM,
            expect![
                "not used: authentication, authorization, cgroupDriver, cpuManagerReconcilePeriod, evictionPressureTransitionPeriod, imageMaximumGCAge, imageMinimumGCAge, logging, memorySwap, nodeStatusReportFrequency, nodeStatusUpdateFrequency, rotateCertificates, shutdownGracePeriod, shutdownGracePeriodCriticalPods, streamingConnectionIdleTimeout, volumeStatsAggPeriod"
            ],
        );
        let config = load(Path::new("config.yaml"), KUBEADM).config;
        assert_eq!(
            config,
            KubeletConfig {
                static_pod_path: Some("/etc/kubernetes/manifests".into()),
                healthz_port: Some(10248),
                healthz_bind_address: Some("127.0.0.1".parse().unwrap()),
                resolv_conf: Some("/run/systemd/resolve/resolv.conf".into()),
                cluster_dns: vec!["10.96.0.10".parse().unwrap()],
                cluster_domain: Some("cluster.local".into()),
                ..KubeletConfig::default()
            },
            "0s durations and the empty endpoint leave the defaults"
        );
    }

    #[test]
    fn a_misspelled_field_is_a_warning_at_its_place_and_a_real_one_is_not() {
        check(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPth: /m\nauthentication:\n  x509:\n    clientCAFil: /ca.crt\nevictionHard:\n  memory.available: 100Mi\nshutdownGracePeriodByPodPriority:\n- priority: 1\n  shutdownGracePeriodSecnds: 3\n",
            expect![[r#"
                /var/lib/kubelet/config.yaml:3:1: warning: staticPodPth: unknown field, ignored (is it misspelled?)
                /var/lib/kubelet/config.yaml:6:5: warning: authentication.x509.clientCAFil: unknown field, ignored (is it misspelled?)
                /var/lib/kubelet/config.yaml:11:3: warning: shutdownGracePeriodByPodPriority[0].shutdownGracePeriodSecnds: unknown field, ignored (is it misspelled?)
                not used: authentication, evictionHard, shutdownGracePeriodByPodPriority"#]],
        );
    }

    #[test]
    fn max_container_restart_period_is_bounded_as_the_kubelets() {
        let head = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
        check(
            &format!("{head}crashLoopBackOff:\n  maxContainerRestartPeriod: 5m1s\n"),
            expect![[r#"
                /var/lib/kubelet/config.yaml:4:3: error: crashLoopBackOff.maxContainerRestartPeriod: 301s is not between 1s and 300s, as the kubelet requires
                not used: "#]],
        );
        check(
            &format!(
                "{head}featureGates: {{KubeletCrashLoopBackOffMax: false, AllAlpha: true}}\ncrashLoopBackOff: {{maxContainerRestartPeriod: 30s}}\n"
            ),
            expect![[r#"
                /var/lib/kubelet/config.yaml:4:20: error: crashLoopBackOff.maxContainerRestartPeriod: set while featureGates.KubeletCrashLoopBackOffMax is false, which the kubelet refuses
                not used: featureGates.AllAlpha"#]],
        );
        check(
            &format!("{head}crashLoopBackOff: {{maxContainerRestartPeriod: 500ms}}\n"),
            expect![[r#"
                /var/lib/kubelet/config.yaml:3:20: error: crashLoopBackOff.maxContainerRestartPeriod: 0.5s is not between 1s and 300s, as the kubelet requires
                not used: "#]],
        );
    }

    #[test]
    fn the_fields_acted_on_are_read_in_json_too() {
        let json = r#"{"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "staticPodURL": "http://192.0.2.1/pods.yaml",
            "staticPodURLHeader": {"b": ["again", "beautiful"], "a": ["hello"]},
            "fileCheckFrequency": "5s", "httpCheckFrequency": "1m0s", "syncFrequency": "500ms",
            "runtimeRequestTimeout": "15m",
            "address": "0.0.0.0", "readOnlyPort": 0, "healthzPort": 0,
            "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
            "containerLogMaxSize": "50Mi", "containerLogMaxFiles": 3,
            "resolvConf": "", "clusterDNS": ["10.96.0.10", "fd00::a"], "clusterDomain": "k8s.test",
            "allowedUnsafeSysctls": ["kernel.msg*", "net.ipv4.ip_forward"],
            "crashLoopBackOff": {"maxContainerRestartPeriod": "1m0s"},
            "featureGates": {"ReduceDefaultCrashLoopBackOffDecay": true, "KubeletCrashLoopBackOffMax": true}}"#;
        let loaded = load(Path::new("config.json"), json);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            loaded.config,
            KubeletConfig {
                static_pod_path: None,
                static_pod_url: Some("http://192.0.2.1/pods.yaml".into()),
                static_pod_url_header: vec![
                    pair("a", "hello"),
                    pair("b", "again"),
                    pair("b", "beautiful")
                ],
                file_check_frequency: Some(Duration::from_secs(5)),
                http_check_frequency: Some(Duration::from_secs(60)),
                sync_frequency: Some(Duration::from_millis(500)),
                runtime_request_timeout: Some(Duration::from_secs(900)),
                address: Some("0.0.0.0".parse().unwrap()),
                read_only_port: Some(0),
                healthz_port: Some(0),
                healthz_bind_address: None,
                container_runtime_endpoint: Some("unix:///run/containerd/containerd.sock".into()),
                pod_logs_dir: None,
                container_log_max_size: Some(50 * 1024 * 1024),
                container_log_max_files: Some(3),
                seccomp_default: None,
                allowed_unsafe_sysctls: Some(
                    UnsafeSysctls::parse(["kernel.msg*", "net.ipv4.ip_forward"]).unwrap()
                ),
                resolv_conf: Some(String::new()),
                cluster_dns: vec!["10.96.0.10".parse().unwrap(), "fd00::a".parse().unwrap()],
                cluster_domain: Some("k8s.test".into()),
                max_container_restart_period: Some(Duration::from_secs(60)),
                reduced_crash_back_off: true,
            }
        );
    }

    #[test]
    fn bad_values_and_the_wrong_kind_are_errors_naming_line_column_and_field() {
        check(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfig\naddress: localhost\nreadOnlyPort: 70000\ncontainerLogMaxSize: \"-1\"\ncontainerLogMaxFiles: 1\nclusterDNS: [10.96.0.10, kube-dns]\nallowedUnsafeSysctls: [vm.swappiness]\n",
            expect![[r#"
                /var/lib/kubelet/config.yaml:1:1: error: apiVersion: apiVersion "kubelet.config.k8s.io/v1" is not kubelet.config.k8s.io/v1beta1
                /var/lib/kubelet/config.yaml:2:1: error: kind: kind "KubeletConfig" is not a KubeletConfiguration
                /var/lib/kubelet/config.yaml:3:1: error: address: "localhost" is not an IP address
                /var/lib/kubelet/config.yaml:4:1: error: readOnlyPort: 70000 is not a port (0 to 65535)
                /var/lib/kubelet/config.yaml:5:1: error: containerLogMaxSize: "-1" is not a positive size (as 10Mi)
                /var/lib/kubelet/config.yaml:6:1: error: containerLogMaxFiles: 1 files: a container's log keeps at least 2 (the current one and a rotated one)
                /var/lib/kubelet/config.yaml:7:26: error: clusterDNS[1]: "kube-dns" is not an IP address
                /var/lib/kubelet/config.yaml:8:1: error: allowedUnsafeSysctls: the sysctls "vm.swappiness" are not known to be namespaced
                not used: "#]],
        );
        check(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfileCheckFrequency: 20\n",
            expect![[r#"
                /var/lib/kubelet/config.yaml:3:21: error: fileCheckFrequency: invalid duration "20": a duration is a number with a unit, as 20s or 1m0s
                not used: "#]],
        );
    }
}
