//! A real nginx (Debian's, installed by `cargo xtask test`) serving manifests to the agent's
//! URL source: one instance per test, on its own loopback port, with its own configuration,
//! root and access log in the test's directory, stopped when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::wait_listening;

/// Where Debian's nginx is.
const NGINX: &str = "/usr/sbin/nginx";

/// One nginx instance.
pub struct Nginx {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx on `port`, with its files under `dir` (created).
    pub fn start(dir: &Path, port: u16) -> Nginx {
        std::fs::create_dir_all(dir.join("root")).unwrap();
        // The access log records what the URL source sent and what a 304 cost: the status,
        // the body bytes, the conditional header and the header given to the agent.
        let config = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  log_format probe '$request_method $uri $status $body_bytes_sent inm=\"$http_if_none_match\" token=\"$http_x_staticpod_token\"';\n  access_log {dir}/access.log probe;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  types {{ application/yaml yaml; }}\n  server {{\n    listen 127.0.0.1:{port};\n    root {dir}/root;\n    etag on;\n  }}\n}}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut nginx = Nginx {
            port,
            dir: dir.to_path_buf(),
            child: None,
        };
        nginx.resume();
        nginx
    }

    /// Starts this instance again after [`Nginx::stop`].
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "nginx is already running");
        let log = std::fs::File::create(self.dir.join("stderr.log")).unwrap();
        let child = Command::new(NGINX)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-p")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {NGINX} (cargo xtask test installs it): {e}"));
        self.child = Some(child);
        wait_listening("nginx", self.port, &self.dir.join("error.log"));
    }

    /// Stops nginx; its port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL of the master leaves its worker: ask both to quit at once (SIGTERM).
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// The URL of `file`.
    pub fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }

    /// Serves `text` as `file`, replaced atomically.
    pub fn serve(&self, file: &str, text: &str) {
        let root = self.dir.join("root");
        let temporary = root.join(format!(".{file}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, root.join(file)).unwrap();
    }

    /// Stops serving `file` (a 404 from then on).
    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.join("root").join(file)).unwrap();
    }

    /// The access log so far, a line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
