//! The kubelet's node e2e style of telling what containers did: each container logs
//! `<time> <name> Starting|Started|Exiting` to a file shared by the pod's containers (a
//! hostPath here, so it outlives every container and the agent), and the test compares
//! the orderings (`test/e2e_node/container_lifecycle_pod_construction.go`'s `ExecCommand`
//! and `containerOutputList`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where a pod's containers write their lines, inside each container.
const LOG: &str = "/persistent/log";

/// What a container of the kubelet's `ExecCommand` does (its `execCommand`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Exec {
    /// Its exit status.
    pub exit_code: i32,
    /// Seconds between `Starting` and `Started`.
    pub start_delay: u32,
    /// Seconds between `Started` and `Exiting`.
    pub delay: u32,
    /// Seconds it takes to exit once it gets SIGTERM.
    pub termination_seconds: u32,
}

impl Exec {
    /// A container that runs `delay` seconds and exits with `exit_code`.
    pub fn exits(exit_code: i32, delay: u32) -> Exec {
        Exec {
            exit_code,
            delay,
            ..Exec::default()
        }
    }

    /// The `sh -c` script of container `name`: `Starting`, the start delay, `Started`, the
    /// delay, `Exiting`, the exit; SIGTERM logs `Exiting` after the termination seconds.
    /// Sleeps run in the background so that the shell handles the signal at once.
    pub fn script(&self, name: &str) -> String {
        self.script_logging_to(name, LOG)
    }

    /// [`Exec::script`], its lines appended to `log`.
    fn script_logging_to(&self, name: &str, log: &str) -> String {
        let mut s = format!(
            "log() {{ read up _ < /proc/uptime; echo \"$up {name} $1\" >> {log}; }}; log Starting; "
        );
        let sleep = |s: &mut String, seconds: u32| {
            write!(s, "sleep {seconds} & wait $!; ").unwrap();
        };
        s.push_str("_term() { ");
        sleep(&mut s, self.termination_seconds);
        write!(
            s,
            "log Exiting; exit {}; }}; trap _term TERM; ",
            self.exit_code
        )
        .unwrap();
        if self.start_delay > 0 {
            sleep(&mut s, self.start_delay);
        }
        // A startup probe can look for it (`test -f started`), as the kubelet's tests do.
        s.push_str("touch started; log Started; ");
        if self.delay > 0 {
            sleep(&mut s, self.delay);
        }
        write!(s, "log Exiting; exit {}", self.exit_code).unwrap();
        s
    }

    /// A container of a manifest, `name` running this, with the kubelet's `preparePod`
    /// resources and the `persistent` volume mounted; `extra` is more of its fields, each
    /// line indented by four spaces.
    pub fn container(&self, name: &str, extra: &str) -> String {
        self.container_of("busybox:1.36", name, extra)
    }

    /// [`Exec::container`] with image `image`.
    pub fn container_of(&self, image: &str, name: &str, extra: &str) -> String {
        format!(
            "  - name: {name}\n    image: '{image}'\n    command: {}\n    resources: {{requests: {{memory: 15Mi}}, limits: {{memory: 35Mi}}}}\n    volumeMounts: [{{name: persistent, mountPath: /persistent}}]\n{extra}",
            self.command(name)
        )
    }

    /// The command of `name` running this, as a YAML flow sequence (for a container or an
    /// exec hook or probe).
    pub fn command(&self, name: &str) -> String {
        format!("[sh, -c, '{}']", self.script(name))
    }
}

/// The `persistent` volume of a pod's manifest: the host directory `dir`.
pub fn volume(dir: &Path) -> String {
    format!(
        "  volumes:\n  - {{name: persistent, hostPath: {{path: {}, type: DirectoryOrCreate}}}}\n",
        dir.display()
    )
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Seconds since the node booted.
    pub at: f64,
    /// The container.
    pub name: String,
    /// `Starting`, `Started`, `Exiting`.
    pub word: String,
}

/// A pod's log, in the order its lines were written.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    entries: Vec<Entry>,
}

impl std::fmt::Display for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            writeln!(f, "{i}) {:.2} {} {}", e.at, e.name, e.word)?;
        }
        Ok(())
    }
}

impl Timeline {
    /// Reads the log that the containers of a pod whose volume is `dir` wrote.
    pub fn read(dir: &Path) -> Timeline {
        let text = std::fs::read_to_string(log_file(dir)).unwrap_or_default();
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some(Entry {
                    at: words.next()?.parse().ok()?,
                    name: words.next()?.to_string(),
                    word: words.next()?.to_string(),
                })
            })
            .collect();
        Timeline { entries }
    }

    /// The index of the first `word` of `name` at or after `from`.
    pub fn find(&self, name: &str, word: &str, from: usize) -> Option<usize> {
        self.entries
            .iter()
            .skip(from)
            .position(|e| e.name == name && e.word == word)
            .map(|i| i + from)
    }

    /// The index of the first `word` of `name` at or after `from`, or an error with the
    /// whole timeline.
    pub fn index(&self, name: &str, word: &str, from: usize) -> Result<usize, String> {
        self.find(name, word, from)
            .ok_or_else(|| format!("no `{name} {word}` from line {from} on in\n{self}"))
    }

    /// How many times `name` logged `word`.
    pub fn count(&self, name: &str, word: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.name == name && e.word == word)
            .count()
    }

    /// `lhs` started, and `rhs` was starting after that (the kubelet's `StartsBefore`).
    pub fn starts_before(&self, lhs: &str, rhs: &str) -> Result<(), String> {
        let started = self.index(lhs, "Started", 0)?;
        self.index(rhs, "Starting", started + 1).map(drop)
    }

    /// `lhs` exited, and `rhs` exited after that (the kubelet's `ExitsBefore`).
    pub fn exits_before(&self, lhs: &str, rhs: &str) -> Result<(), String> {
        let exited = self.index(lhs, "Exiting", 0)?;
        self.index(rhs, "Exiting", exited + 1).map(drop)
    }

    /// Each of `names` started and exited before the next one (the kubelet's
    /// `StartsBefore` and `ExitsBefore` of each pair in turn).
    pub fn ran_one_after_another(&self, names: &[&str]) -> Result<(), String> {
        for pair in names.windows(2) {
            self.starts_before(pair[0], pair[1])?;
            self.exits_before(pair[0], pair[1])?;
        }
        Ok(())
    }

    /// `name` started (the kubelet's `Starts`).
    pub fn starts(&self, name: &str) -> Result<(), String> {
        self.index(name, "Started", 0).map(drop)
    }

    /// `name` exited (the kubelet's `Exits`).
    pub fn exits(&self, name: &str) -> Result<(), String> {
        self.index(name, "Exiting", 0).map(drop)
    }

    /// `name` never started (the kubelet's `DoesntStart`).
    pub fn doesnt_start(&self, name: &str) -> Result<(), String> {
        match self.find(name, "Started", 0) {
            None => Ok(()),
            Some(i) => Err(format!("{name} started at line {i} in\n{self}")),
        }
    }

    /// `lhs` and `rhs` ran together, `rhs` starting after `lhs` (the kubelet's
    /// `RunTogether`).
    pub fn run_together(&self, lhs: &str, rhs: &str) -> Result<(), String> {
        let lhs_start = self.index(lhs, "Started", 0)?;
        let rhs_start = self.index(rhs, "Started", lhs_start + 1)?;
        let lhs_exit = self.index(lhs, "Exiting", lhs_start + 1)?;
        if rhs_start > lhs_exit {
            return Err(format!("{rhs} started after {lhs} exited in\n{self}"));
        }
        let rhs_exit = self.index(rhs, "Exiting", rhs_start + 1)?;
        if lhs_start > rhs_exit {
            return Err(format!("{lhs} started after {rhs} exited in\n{self}"));
        }
        Ok(())
    }

    /// `lhs` and `rhs` ran together, whichever started first (the kubelet's symmetric
    /// `RunTogether`, beside `RunTogetherLhsFirst`, which is [`Timeline::run_together`]).
    pub fn run_together_either_first(&self, lhs: &str, rhs: &str) -> Result<(), String> {
        self.run_together(lhs, rhs)
            .or_else(|_| self.run_together(rhs, lhs))
    }

    /// `name` was starting more than once (the kubelet's `HasRestarted`).
    pub fn has_restarted(&self, name: &str) -> Result<(), String> {
        match self.count(name, "Starting") {
            0 | 1 => Err(format!("{name} never restarted in\n{self}")),
            _ => Ok(()),
        }
    }

    /// `name` was starting exactly once (the kubelet's `HasNotRestarted`).
    pub fn has_not_restarted(&self, name: &str) -> Result<(), String> {
        match self.count(name, "Starting") {
            1 => Ok(()),
            n => Err(format!("{name} was starting {n} times in\n{self}")),
        }
    }
}

/// The log file in a pod's volume directory `dir`.
fn log_file(dir: &Path) -> PathBuf {
    dir.join(Path::new(LOG).strip_prefix("/persistent").unwrap())
}

/// A pod manifest as the kubelet's `preparePod` makes one: containers of [`Exec`], all
/// with the `persistent` volume, here the host directory `dir`; `spec` is the pod's
/// `restartPolicy` line and any more of its fields, each line indented by two spaces.
pub fn pod(name: &str, spec: &str, dir: &Path, inits: &[String], containers: &[String]) -> String {
    let mut text = format!("kind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}");
    if !inits.is_empty() {
        text.push_str("  initContainers:\n");
        text.extend(inits.iter().map(String::as_str));
    }
    text.push_str("  containers:\n");
    text.extend(containers.iter().map(String::as_str));
    text.push_str(&volume(dir));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Runs `exec`'s script for `name` with the node's `sh`, logging to `dir/log`. Its
    /// output goes nowhere: a background `sleep` the shell leaves behind when its trap exits
    /// (a container's PID namespace would end it) must not hold the test's output open, or
    /// `cargo test`'s caller waits for it.
    fn run(exec: Exec, name: &str, dir: &Path) -> std::process::Child {
        let log = log_file(dir);
        Command::new("sh")
            .args([
                "-c",
                &exec.script_logging_to(name, &log.display().to_string()),
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs")
    }

    #[test]
    fn a_container_logs_starting_started_and_exiting_and_exits_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let exec = Exec {
            start_delay: 1,
            ..Exec::exits(3, 1)
        };
        let status = run(exec, "init-1", dir.path()).wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let t = Timeline::read(dir.path());
        let words: Vec<&str> = t.entries.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(words, ["Starting", "Started", "Exiting"], "{t}");
        assert!(
            t.entries[1].at - t.entries[0].at >= 0.9,
            "the start delay: {t}"
        );
        assert!(dir.path().join("started").exists(), "for a startup probe");
        t.ran_one_after_another(&["init-1"]).unwrap();
        t.has_not_restarted("init-1").unwrap();
    }

    #[test]
    fn sigterm_logs_exiting_after_the_termination_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let exec = Exec {
            termination_seconds: 1,
            // Longer than the test waits for SIGTERM's effect; the sleep outlives the shell.
            ..Exec::exits(0, 30)
        };
        let mut child = run(exec, "regular-1", dir.path());
        let started = Instant::now();
        while Timeline::read(dir.path())
            .find("regular-1", "Started", 0)
            .is_none()
        {
            assert!(started.elapsed() < Duration::from_secs(10), "never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let term = Instant::now();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(child.wait().unwrap().code(), Some(0));
        assert!(
            term.elapsed() >= Duration::from_millis(900),
            "{:?}",
            term.elapsed()
        );
        Timeline::read(dir.path()).exits("regular-1").unwrap();
    }

    #[test]
    fn the_kubelets_ordering_checks() {
        let line = |at: f64, name: &str, word: &str| Entry {
            at,
            name: name.to_string(),
            word: word.to_string(),
        };
        let t = Timeline {
            entries: vec![
                line(1.0, "a", "Starting"),
                line(1.1, "a", "Started"),
                line(1.2, "b", "Starting"),
                line(1.3, "b", "Started"),
                line(2.0, "a", "Exiting"),
                line(3.0, "b", "Exiting"),
                line(4.0, "b", "Starting"),
            ],
        };
        t.starts_before("a", "b").unwrap();
        t.exits_before("a", "b").unwrap();
        t.run_together("a", "b").unwrap();
        assert!(t.run_together("b", "a").is_err(), "b started after a");
        t.run_together_either_first("b", "a").unwrap();
        assert!(t.ran_one_after_another(&["a", "b"]).is_ok());
        t.has_restarted("b").unwrap();
        assert!(t.has_not_restarted("b").is_err());
        t.has_not_restarted("a").unwrap();
        assert!(t.doesnt_start("a").is_err());
        t.doesnt_start("c").unwrap();
        assert!(t.starts("c").is_err() && t.exits("c").is_err());
    }
}
