//! Docker's peer: `docker-compose` (Debian's package) of the compose file a user would
//! write for the same pod, one project per pod, timed as `podman kube play` is on Podman.

use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, ensure};

use crate::manifests::{SLEEPER, Shape};
use crate::node::{Bench, stdout_of};
use crate::{PATIENCE, POLL};

/// The compose file of `shape`'s pod: the same images, commands and environment, each
/// container a service on the project's network (compose's own equivalent of a pod).
pub fn compose_file(shape: Shape, revision: u32) -> String {
    let mut text = format!(
        "version: \"3\"\nservices:\n  web:\n    image: nginx:1.25\n    environment:\n      REVISION: \"{revision}\"\n"
    );
    if let Shape::Four = shape {
        for side in ["a", "b", "c"] {
            text.push_str(&format!(
                "  side-{side}:\n    image: busybox:1.36\n    command: {SLEEPER}\n"
            ));
        }
    }
    text
}

/// `docker-compose -p <project> -f <file> <command>` against the bench's daemon (Debian's
/// `docker-compose` package).
pub fn compose(bench: &Bench, project: &str, file: &Path, command: &[&str]) -> Result<()> {
    let mut compose = Command::new("docker-compose");
    compose
        .env("DOCKER_HOST", &bench.endpoint)
        .args(["--project-name", project, "--file"])
        .arg(file)
        .args(command);
    stdout_of(compose).map(drop)
}

/// The latest `started_at` of project `project`'s containers, once `count` of them run
/// (and, after an edit, once every one runs with `revision`'s environment).
pub fn last_started(
    bench: &Bench,
    project: &str,
    count: usize,
    revision: u32,
) -> Result<SystemTime> {
    let deadline = Instant::now() + PATIENCE;
    let wanted = format!("REVISION={revision},");
    loop {
        let ids = docker(
            bench,
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={project}"),
            ],
        )?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        let mut last = SystemTime::UNIX_EPOCH;
        let mut running = 0;
        if !ids.is_empty() {
            let mut args = vec![
                "inspect",
                "--format",
                "{{.State.StartedAt}} {{.State.Status}} {{range .Config.Env}}{{.}},{{end}}",
            ];
            args.extend(ids.iter().copied());
            // A container removed between the two calls fails the inspect: poll again.
            for line in docker(bench, &args).unwrap_or_default().lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [started, "running", ..] = fields.as_slice() else {
                    continue;
                };
                // The web container of an earlier revision, not replaced yet.
                if line.contains("REVISION=") && !line.contains(&wanted) {
                    continue;
                }
                running += 1;
                let started = humantime::parse_rfc3339(started).context("State.StartedAt")?;
                last = last.max(started);
            }
        }
        if running == count {
            return Ok(last);
        }
        ensure!(
            Instant::now() < deadline,
            "compose project {project}: {running} of {count} containers running"
        );
        std::thread::sleep(POLL);
    }
}

/// `docker <args>` against the bench's daemon; its stdout.
fn docker(bench: &Bench, args: &[&str]) -> Result<String> {
    let mut docker = Command::new("docker");
    docker.env("DOCKER_HOST", &bench.endpoint).args(args);
    stdout_of(docker)
}
