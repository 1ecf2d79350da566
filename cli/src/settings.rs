//! The settings of `staticpod run`, resolved as the kubelet resolves its own: each from its
//! command-line flag, else from the `--config` file (a `KubeletConfiguration`), else the
//! default. Where staticpod's default differs from the kubelet's, it is said here and in
//! README (the read-only port is on, on loopback).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use staticpod::runtimes;
use staticpod_core::diagnostic::Severity;
use staticpod_core::kubelet_config::{self, KubeletConfig};
use staticpod_core::metrics::instrumented::DEFAULT_REQUEST_TIMEOUT;
use staticpod_core::reconcile::admission::UnsafeSysctls;
use staticpod_core::reconcile::configs::Dirs;
use staticpod_core::reconcile::dns::{DEFAULT_RESOLV_CONF, NodeDns};
use staticpod_core::reconcile::plan::CrashBackoff;
use staticpod_core::source::http::{REQUEST_TIMEOUT, UrlSource, parse_headers};
use staticpod_runtime::backend::Backend;
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LogRotation};

/// The kubelet's manifest directory, used when neither a directory nor a URL is given.
pub const DEFAULT_MANIFEST_PATH: &str = "/etc/kubernetes/manifests";
/// The kubelet's `podLogsDir`.
const DEFAULT_POD_LOGS_DIR: &str = "/var/log/pods";
/// The kubelet's default for `fileCheckFrequency` and `httpCheckFrequency`.
const DEFAULT_CHECK_FREQUENCY: Duration = Duration::from_secs(20);
/// The read-only port, on unless turned off (the kubelet's is off when a file configures it).
const DEFAULT_READ_ONLY_PORT: u16 = 10255;
/// The kubelet's `healthzPort`.
const DEFAULT_HEALTHZ_PORT: u16 = 10248;

/// Flags of `staticpod run`, named after the kubelet's where it has them. A flag given on
/// the command line wins over the `--config` file.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// `text` or `json`, the kubelet's log formats.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub logging_format: String,
    /// A kubelet configuration file (`kind: KubeletConfiguration`); its fields staticpod acts
    /// on are used where no flag is given.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of static pod manifests, or a single manifest file [default:
    /// /etc/kubernetes/manifests, unless a manifest URL is given].
    #[arg(long)]
    pod_manifest_path: Option<PathBuf>,
    /// URL to download static pod manifests from, as often as `--http-check-frequency`.
    #[arg(long)]
    manifest_url: Option<String>,
    /// Headers for `--manifest-url`: `name:value` pairs separated by commas; may be given
    /// several times, and a name several times.
    #[arg(long)]
    manifest_url_header: Vec<String>,
    /// Which runtime to drive.
    #[arg(long, value_parser = runtimes::runtime_flag(), default_value = "docker")]
    runtime: Backend,
    /// The runtime's socket, `unix:///path`; defaults to the runtime's usual socket.
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
    /// Node name used in pod names; defaults to the host name.
    #[arg(long)]
    hostname_override: Option<String>,
    /// Where pod volumes (emptyDir) live.
    #[arg(long, default_value = "/var/lib/staticpod")]
    root_dir: PathBuf,
    /// Where CRI runtimes and Podman write the pods' container logs, as the kubelet lays them out
    /// (`<namespace>_<pod>_<uid>/<container>/<n>.log`) [default: /var/log/pods].
    #[arg(long)]
    pod_logs_dir: Option<PathBuf>,
    /// The size a container's log file may reach before it is rotated, a quantity
    /// [default: 10Mi].
    #[arg(long, value_parser = kubelet_config::parse_log_max_size)]
    container_log_max_size: Option<u64>,
    /// How many log files a container keeps, the current one included [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u32).range(i64::from(kubelet_config::MIN_LOG_MAX_FILES)..))]
    container_log_max_files: Option<u32>,
    /// How often the manifest path is re-read besides inotify events [default: 20s].
    #[arg(long, value_parser = humantime::parse_duration)]
    file_check_frequency: Option<Duration>,
    /// How often the manifest URL is polled [default: 20s].
    #[arg(long, value_parser = humantime::parse_duration)]
    http_check_frequency: Option<Duration>,
    /// How often the runtime is re-read besides its events [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    sync_frequency: Option<Duration>,
    /// How long a call of the container runtime may go unanswered before it fails (a stop
    /// is also given its grace period, an exec its timeout; a pull has no bound)
    /// [default: 2m].
    #[arg(long, value_parser = humantime::parse_duration)]
    runtime_request_timeout: Option<Duration>,
    /// Image of the sandbox (pause) container on Docker and Podman.
    #[arg(long, default_value = runtimes::DEFAULT_PAUSE_IMAGE)]
    pod_infra_container_image: String,
    /// Address of the read-only port [default: 127.0.0.1].
    #[arg(long)]
    address: Option<IpAddr>,
    /// The read-only port (`GET /pods`, `/manifests`, `/healthz`); 0 turns it off
    /// [default: 10255].
    #[arg(long)]
    read_only_port: Option<u16>,
    /// Port of the health endpoint (`GET /healthz`); 0 turns it off [default: 10248].
    #[arg(long)]
    healthz_port: Option<u16>,
    /// Address of the health endpoint [default: 127.0.0.1].
    #[arg(long)]
    healthz_bind_address: Option<IpAddr>,
    /// Run containers whose pod names no seccomp profile under the runtime's default
    /// (`RuntimeDefault`) instead of `Unconfined`, as the kubelet's flag [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    seccomp_default: Option<bool>,
    /// Sysctls pods may set beyond the kubelet's safe ones, comma-separated names or
    /// prefixes ending in `*` (`kernel.msg*,net.ipv4.ip_forward`), each of the pod's IPC
    /// or network namespace [default: none].
    #[arg(long, value_delimiter = ',')]
    allowed_unsafe_sysctls: Vec<String>,
    /// The node's resolver file, the base of the pods' `/etc/resolv.conf` (`Default` DNS
    /// policy, and `ClusterFirst` without `--cluster-dns`); "" for none: the node's loopback
    /// is the pods' nameserver [default: /etc/resolv.conf].
    #[arg(long)]
    resolv_conf: Option<String>,
    /// The cluster's DNS servers for `ClusterFirst` pods, comma-separated IPs [default:
    /// none: such pods fall back to the node's resolver, with a `MissingClusterDNS` event].
    #[arg(long, value_delimiter = ',')]
    cluster_dns: Vec<IpAddr>,
    /// The cluster's domain (`cluster.local`): searched by `ClusterFirst` pods, and a pod
    /// with a `subdomain` is named `<hostname>.<subdomain>.<namespace>.svc.<domain>`
    /// [default: none].
    #[arg(long)]
    cluster_domain: Option<String>,
}

/// Everything `staticpod run` runs with.
#[derive(Debug)]
pub struct Settings {
    /// The runtime.
    pub runtime: Backend,
    /// Its endpoint.
    pub endpoint: String,
    /// The node's name.
    pub node_name: String,
    /// `--root-dir` and `--pod-logs-dir`.
    pub dirs: Dirs,
    /// How the CRI and Podman logs under `--pod-logs-dir` are rotated.
    pub log_rotation: LogRotation,
    /// The manifest directory (or file), when there is one, and how often it is re-read.
    pub manifest_path: Option<(PathBuf, Duration)>,
    /// The manifest URL, when there is one, and how often it is polled.
    pub manifest_url: Option<(UrlSource, Duration)>,
    /// How often the runtime is relisted.
    pub sync_frequency: Duration,
    /// The sandbox image.
    pub pause_image: String,
    /// Where the read-only port listens; `None` when it is off.
    pub read_only: Option<SocketAddr>,
    /// Where the health endpoint listens; `None` when it is off.
    pub healthz: Option<SocketAddr>,
    /// `--seccomp-default`.
    pub seccomp_default: bool,
    /// The sysctls allowed beyond the safe ones.
    pub unsafe_sysctls: UnsafeSysctls,
    /// `--resolv-conf`, `--cluster-dns`, `--cluster-domain`.
    pub dns: NodeDns,
    /// The crash back-off: the kubelet's (or its reduced one, the file's
    /// `ReduceDefaultCrashLoopBackOffDecay` gate), capped by the file's
    /// `crashLoopBackOff.maxContainerRestartPeriod` (neither has a flag).
    pub crash_backoff: CrashBackoff,
    /// `--runtime-request-timeout`.
    pub runtime_request_timeout: Duration,
}

impl RunArgs {
    /// The settings: flags, then the configuration file, then the defaults. A configuration
    /// file with an error stops here; its warnings and unused fields are logged.
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None => KubeletConfig::default(),
        };
        let manifest_url = self.manifest_url.or(file.static_pod_url);
        let manifest_path = self
            .pod_manifest_path
            .or(file.static_pod_path)
            .or_else(|| manifest_url.is_none().then(|| DEFAULT_MANIFEST_PATH.into()));
        let headers = if self.manifest_url_header.is_empty() {
            // A header flag replaces the file's headers, as the kubelet's does.
            file.static_pod_url_header
        } else {
            parse_headers(self.manifest_url_header.iter().map(String::as_str))?
        };
        let check = |flag: Option<Duration>, file: Option<Duration>| {
            flag.or(file).unwrap_or(DEFAULT_CHECK_FREQUENCY)
        };
        let file_check = check(self.file_check_frequency, file.file_check_frequency);
        let http_check = check(self.http_check_frequency, file.http_check_frequency);
        let max_size = self.container_log_max_size.or(file.container_log_max_size);
        let max_files = self
            .container_log_max_files
            .or(file.container_log_max_files);
        let pod_logs = std::path::absolute(
            self.pod_logs_dir
                .or(file.pod_logs_dir)
                .unwrap_or_else(|| DEFAULT_POD_LOGS_DIR.into()),
        )?;
        let listen = |port: Option<u16>, address: Option<IpAddr>, default_port| {
            let port = port.unwrap_or(default_port);
            let address = address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            (port != 0).then(|| SocketAddr::new(address, port))
        };
        Ok(Settings {
            runtime: self.runtime,
            endpoint: self
                .container_runtime_endpoint
                .or(file.container_runtime_endpoint)
                .unwrap_or_else(|| self.runtime.default_endpoint().to_string()),
            node_name: crate::node_name(self.hostname_override),
            log_rotation: LogRotation {
                directory: pod_logs.clone(),
                max_size: max_size.unwrap_or(DEFAULT_MAX_SIZE),
                max_files: max_files.unwrap_or(DEFAULT_MAX_FILES),
            },
            dirs: Dirs {
                root: std::path::absolute(&self.root_dir)?,
                pod_logs,
            },
            manifest_path: match manifest_path {
                Some(path) => Some((std::path::absolute(path)?, file_check)),
                None => None,
            },
            manifest_url: manifest_url.map(|url| {
                let source = UrlSource {
                    url,
                    headers,
                    timeout: REQUEST_TIMEOUT,
                };
                (source, http_check)
            }),
            sync_frequency: self
                .sync_frequency
                .or(file.sync_frequency)
                .unwrap_or(self.runtime.default_resync()),
            pause_image: self.pod_infra_container_image,
            read_only: listen(
                self.read_only_port.or(file.read_only_port),
                self.address.or(file.address),
                DEFAULT_READ_ONLY_PORT,
            ),
            healthz: listen(
                self.healthz_port.or(file.healthz_port),
                self.healthz_bind_address.or(file.healthz_bind_address),
                DEFAULT_HEALTHZ_PORT,
            ),
            seccomp_default: self
                .seccomp_default
                .or(file.seccomp_default)
                .unwrap_or(false),
            unsafe_sysctls: if self.allowed_unsafe_sysctls.is_empty() {
                file.allowed_unsafe_sysctls.unwrap_or_default()
            } else {
                UnsafeSysctls::parse(self.allowed_unsafe_sysctls.iter().map(String::as_str))
                    .map_err(|why| anyhow::anyhow!("--allowed-unsafe-sysctls: {why}"))?
            },
            dns: NodeDns {
                resolv_conf: match self.resolv_conf.or(file.resolv_conf) {
                    Some(path) if path.is_empty() => None,
                    Some(path) => Some(path.into()),
                    None => Some(DEFAULT_RESOLV_CONF.into()),
                },
                cluster_dns: if self.cluster_dns.is_empty() {
                    file.cluster_dns
                } else {
                    self.cluster_dns
                },
                cluster_domain: self
                    .cluster_domain
                    .filter(|d| !d.is_empty())
                    .or(file.cluster_domain),
            },
            crash_backoff: {
                let base = if file.reduced_crash_back_off {
                    CrashBackoff::REDUCED
                } else {
                    CrashBackoff::default()
                };
                file.max_container_restart_period
                    .map_or(base, |max| base.with_max(max))
            },
            runtime_request_timeout: match self.runtime_request_timeout {
                Some(timeout) if timeout.is_zero() => {
                    bail!("--runtime-request-timeout: must be more than 0s")
                }
                flag => flag
                    .or(file.runtime_request_timeout)
                    .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            },
        })
    }
}

/// Reads a configuration file for `run`: its errors stop the start, its warnings and the
/// fields staticpod does not use are logged once.
fn read_config(path: &Path) -> anyhow::Result<KubeletConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let loaded = kubelet_config::load(path, &text);
    let mut errors = Vec::new();
    for diagnostic in &loaded.diagnostics {
        match diagnostic.severity {
            Severity::Error => errors.push(diagnostic.to_string()),
            Severity::Warning => tracing::warn!("{diagnostic}"),
        }
    }
    if !errors.is_empty() {
        bail!("invalid --config file:\n{}", errors.join("\n"));
    }
    if !loaded.not_used.is_empty() {
        tracing::info!(
            file = %path.display(),
            "configuration fields not used by staticpod: {}",
            loaded.not_used.join(", ")
        );
    }
    Ok(loaded.config)
}

#[cfg(test)]
mod tests {
    //! Flags over the `--config` file over the defaults.

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        run: RunArgs,
    }

    fn settings(config: &str, flags: &[&str]) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let text = format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n{config}"
        );
        std::fs::write(&path, text).unwrap();
        let config_flag = format!("--config={}", path.display());
        let args = ["staticpod", "--runtime=docker", config_flag.as_str()]
            .into_iter()
            .chain(flags.iter().copied());
        Command::parse_from(args).run.resolve().unwrap()
    }

    #[test]
    fn allowed_unsafe_sysctls_come_from_the_flag_over_the_file() {
        let allowed = |patterns: &[&str]| UnsafeSysctls::parse(patterns.iter().copied()).unwrap();
        let file = "allowedUnsafeSysctls: [kernel.msgmax]\n";
        assert_eq!(
            settings(file, &[]).unsafe_sysctls,
            allowed(&["kernel.msgmax"])
        );
        assert_eq!(
            settings(file, &["--allowed-unsafe-sysctls=net.*,kernel.sem"]).unsafe_sysctls,
            allowed(&["net.*", "kernel.sem"])
        );
        assert_eq!(settings("", &[]).unsafe_sysctls, UnsafeSysctls::default());
    }

    #[test]
    fn the_files_max_container_restart_period_caps_the_crash_back_off() {
        assert_eq!(settings("", &[]).crash_backoff, CrashBackoff::default());
        let reduced = "featureGates: {ReduceDefaultCrashLoopBackOffDecay: true}\n";
        assert_eq!(settings(reduced, &[]).crash_backoff, CrashBackoff::REDUCED);
        assert_eq!(
            settings(
                &format!("{reduced}crashLoopBackOff: {{maxContainerRestartPeriod: 5m0s}}\n"),
                &[]
            )
            .crash_backoff,
            CrashBackoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(300)
            },
            "the node's configuration takes precedence over the gate's maximum"
        );
        assert_eq!(
            settings("crashLoopBackOff: {maxContainerRestartPeriod: 1s}\n", &[]).crash_backoff,
            CrashBackoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn the_runtime_request_timeout_comes_from_the_flag_the_file_or_the_kubelets_default() {
        let timeout =
            |config: &str, flags: &[&str]| settings(config, flags).runtime_request_timeout;
        let file = "runtimeRequestTimeout: 4m\n";
        assert_eq!(timeout("", &[]), Duration::from_secs(120));
        assert_eq!(
            timeout("runtimeRequestTimeout: 0s\n", &[]),
            Duration::from_secs(120)
        );
        assert_eq!(timeout(file, &[]), Duration::from_secs(240));
        assert_eq!(
            timeout(file, &["--runtime-request-timeout=30s"]),
            Duration::from_secs(30)
        );
        let zero = [
            "staticpod",
            "--runtime=docker",
            "--runtime-request-timeout=0s",
        ];
        let error = Command::parse_from(zero).run.resolve().unwrap_err();
        assert_eq!(
            error.to_string(),
            "--runtime-request-timeout: must be more than 0s"
        );
    }

    #[test]
    fn the_seccomp_default_flag_wins_over_the_files_either_way() {
        assert!(settings("seccompDefault: true\n", &[]).seccomp_default);
        assert!(!settings("seccompDefault: true\n", &["--seccomp-default=false"]).seccomp_default);
        assert!(settings("seccompDefault: false\n", &["--seccomp-default"]).seccomp_default);
        assert!(!settings("", &[]).seccomp_default, "off by default");
    }

    #[test]
    fn the_dns_flags_win_over_the_files() {
        let file = "clusterDomain: cluster.local\nclusterDNS: [10.96.0.10]\nresolvConf: /run/systemd/resolve/resolv.conf\n";
        let from_file = settings(file, &[]).dns;
        assert_eq!(from_file.cluster_domain.as_deref(), Some("cluster.local"));
        assert_eq!(
            from_file.cluster_dns,
            ["10.96.0.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            from_file.resolv_conf.as_deref(),
            Some(Path::new("/run/systemd/resolve/resolv.conf"))
        );
        let flags = [
            "--cluster-domain=example.internal",
            "--cluster-dns=192.0.2.1,192.0.2.2",
            "--resolv-conf=",
        ];
        let from_flags = settings(file, &flags).dns;
        assert_eq!(
            from_flags.cluster_domain.as_deref(),
            Some("example.internal")
        );
        assert_eq!(from_flags.cluster_dns.len(), 2);
        assert_eq!(
            from_flags.resolv_conf, None,
            "an empty --resolv-conf is no file"
        );
        let defaults = settings("", &[]).dns;
        assert_eq!(defaults.cluster_domain, None);
        assert!(defaults.cluster_dns.is_empty());
        assert_eq!(
            defaults.resolv_conf.as_deref(),
            Some(Path::new(DEFAULT_RESOLV_CONF))
        );
    }
}
