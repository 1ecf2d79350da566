//! Background daemons: started detached (own session, output to a log file), tracked by a
//! pid file so that the next run reuses or stops them, and waited on until they answer.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// How long a daemon gets to answer after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A daemon that xtask may start, described by its command line and where its log and pid
/// file live (`<dir>/<name>.log`, `<dir>/<name>.pid`).
#[derive(Debug, Clone)]
pub struct Daemon {
    /// Short name, used for the log and pid file names and in messages.
    pub name: &'static str,
    /// Absolute path of the executable.
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Directory holding the log and pid file.
    pub dir: PathBuf,
}

impl Daemon {
    /// The daemon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    /// The pid file written when xtask starts the daemon.
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    /// The pid of the daemon xtask started, if that process still runs this program
    /// (a pid file left from before a reboot may name an unrelated process by now).
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_path())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (is_alive(pid) && runs_program(pid, &self.program)).then_some(pid)
    }

    /// Starts the daemon in a session of its own (`setsid`), stdin from /dev/null and
    /// stdout+stderr appended to its log: it must never hold our caller's pipes or locks
    /// open.
    pub fn spawn(&self) -> Result<Child> {
        fs::create_dir_all(&self.dir)?;
        let log_path = self.log_path();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        writeln!(
            log,
            "=== {} started by cargo xtask at unix time {}: {} {}",
            self.name,
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            self.program.display(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        eprintln!(
            "xtask: starting {} (log: {})",
            self.name,
            log_path.display()
        );
        // Through `sh`, which closes descriptors 3 to 9 before it execs `setsid`: the daemon
        // must not keep open what our caller handed down, such as the lock of `flock LOCK
        // cargo xtask ...`, or that lock stays held for as long as the daemon runs (every
        // other `flock` on it then waits for ever). std opens its own descriptors
        // close-on-exec; inherited ones are the caller's, and `flock` takes the lowest free.
        let child = Command::new("sh")
            .args([
                "-c",
                "exec setsid \"$@\" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-",
                "sh",
            ])
            .arg(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        // `sh` execs `setsid`, which execs the program in place (our child is never a group
        // leader), so the child's pid is the daemon's.
        fs::write(self.pid_path(), format!("{}\n", child.id()))?;
        Ok(child)
    }

    /// Waits until `ready` returns true, failing early (with the log's tail) if the
    /// process exits, and after [`START_TIMEOUT`].
    pub fn wait_ready(&self, child: &mut Child, mut ready: impl FnMut() -> bool) -> Result<()> {
        let start = Instant::now();
        loop {
            if ready() {
                eprintln!(
                    "xtask: {} is up after {:.1} s",
                    self.name,
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                let _ = fs::remove_file(self.pid_path());
                bail!(
                    "{} exited ({status}) before it answered; end of {}:\n{}",
                    self.name,
                    self.log_path().display(),
                    log_tail(&self.log_path(), 30)
                );
            }
            if start.elapsed() > START_TIMEOUT {
                bail!(
                    "{} did not answer within {} s (it is still running as pid {}); end of {}:\n{}",
                    self.name,
                    START_TIMEOUT.as_secs(),
                    child.id(),
                    self.log_path().display(),
                    log_tail(&self.log_path(), 30)
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Stops the daemon xtask started (SIGTERM, then SIGKILL after `grace`), and removes its
    /// pid file. Returns whether there was one to stop; a daemon we did not start is left alone.
    pub fn stop(&self, grace: Duration) -> Result<bool> {
        let Some(pid) = self.running_pid() else {
            let _ = fs::remove_file(self.pid_path());
            return Ok(false);
        };
        eprintln!("xtask: stopping {} (pid {pid})", self.name);
        signal(pid, "TERM")?;
        let start = Instant::now();
        while is_alive(pid) {
            if start.elapsed() > grace {
                eprintln!(
                    "xtask: {} did not stop within {} s, killing it",
                    self.name,
                    grace.as_secs()
                );
                signal(pid, "KILL")?;
                let kill_sent = Instant::now();
                while is_alive(pid) && kill_sent.elapsed() < Duration::from_secs(5) {
                    sleep(Duration::from_millis(50));
                }
                break;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_file(self.pid_path());
        Ok(true)
    }
}

/// Sends a signal by name through the shell's `kill` builtin (std has no kill(2) and
/// the workspace forbids `unsafe`; `sh` is always there, procps's `kill` may not be).
fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name, &pid.to_string()])
        .stdin(Stdio::null())
        .status()
        .context("running kill")?;
    if !status.success() && is_alive(pid) {
        bail!("could not send SIG{name} to pid {pid}");
    }
    Ok(())
}

/// Whether `pid` exists and is not a zombie (a zombie is dead, just not yet reaped).
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself hold spaces.
    match stat.rsplit_once(')') {
        Some((_, rest)) => !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')),
        None => false,
    }
}

/// Removes a pid file the daemon `program` writes itself (dockerd's `/var/run/docker.pid`)
/// when the process it names is gone or is another program: a SIGKILLed daemon leaves it
/// behind, and the next one refuses to start (`pid file found, ensure docker is not
/// running`). True when it was removed; a live daemon's file is kept.
pub fn remove_stale_pid_file(path: &Path, program: &Path) -> Result<bool> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let live = text
        .trim()
        .parse::<u32>()
        .is_ok_and(|pid| is_alive(pid) && runs_program(pid, program));
    if live {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("removing {}", path.display())),
    }
}

/// Whether `pid`'s argv[0] names `program` (compared by file name).
fn runs_program(pid: u32, program: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let argv0 = Path::new(std::str::from_utf8(argv0).unwrap_or_default());
    argv0.file_name().is_some() && argv0.file_name() == program.file_name()
}

/// The last `lines` lines of a log file (or a note that it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_runs_its_program() {
        let pid = std::process::id();
        assert!(is_alive(pid));
        let exe = fs::read_link("/proc/self/exe").unwrap();
        assert!(runs_program(pid, &exe));
        assert!(!runs_program(pid, Path::new("/usr/sbin/dockerd")));
    }

    #[test]
    fn a_pid_file_of_a_gone_or_other_process_is_removed_and_a_live_ones_kept() {
        let dir = tempfile_dir("pidfile");
        let file = dir.join("daemon.pid");
        let exe = fs::read_link("/proc/self/exe").unwrap();
        fs::write(&file, std::process::id().to_string()).unwrap();
        assert!(!remove_stale_pid_file(&file, &exe).unwrap());
        assert!(file.exists(), "a live daemon's pid file is kept");
        assert!(remove_stale_pid_file(&file, Path::new("/usr/sbin/dockerd")).unwrap());
        assert!(!file.exists(), "a pid reused by another program is stale");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        fs::write(&file, gone.to_string()).unwrap();
        assert!(remove_stale_pid_file(&file, &exe).unwrap());
        assert!(
            !remove_stale_pid_file(&file, &exe).unwrap(),
            "no file, nothing to do"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile_dir("tail");
        let file = dir.join("log");
        fs::write(&file, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&file, 2), "b\nc");
        assert_eq!(log_tail(&file, 10), "a\nb\nc");
        fs::remove_dir_all(&dir).unwrap();
    }
}
