//! A real Prometheus (Debian's, installed by `cargo xtask test`) scraping one agent's
//! `/metrics` every second: an instance per test, on its own loopback port, with its
//! configuration and its database in the test's directory, stopped when the test ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use staticpod_testkit::net::http_get_body;

use super::wait_listening;

/// Where Debian's Prometheus is.
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// One Prometheus instance.
pub struct Prometheus {
    port: u16,
    child: Child,
}

impl Prometheus {
    /// Starts Prometheus on `port`, scraping 127.0.0.1:`target`, with its files under `dir`.
    pub fn start(dir: &Path, port: u16, target: u16) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: staticpod\n  static_configs:\n  - targets: ['127.0.0.1:{target}']\n"
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log_file = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_file).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {PROMETHEUS} (cargo xtask test installs it): {e}")
            });
        wait_listening("prometheus", port, &log_file);
        Prometheus { port, child }
    }

    /// The value of the instant PromQL `query`, when it has exactly one sample; else what
    /// Prometheus answered.
    pub fn value(&self, query: &str) -> Result<f64, String> {
        let query: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let path = format!("/api/v1/query?query={query}");
        let body = http_get_body(self.port, &path)?;
        let answer: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        match answer["data"]["result"].as_array().map(Vec::as_slice) {
            Some([sample]) => sample["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no value in {sample}")),
            _ => Err(format!("not one sample: {body}")),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
