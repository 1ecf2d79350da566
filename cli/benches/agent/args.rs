//! The bench's command line: `--runtime`, `--pods`, `--runs`, `--idle`, `--agent`, `--json`,
//! `--log`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use staticpod_runtime::backend::Backend;

/// What to run.
pub struct Args {
    /// The runtime measured.
    pub backend: Backend,
    /// Pods of the scale phase.
    pub pods: usize,
    /// Recorded runs of each latency phase (after one warm-up run).
    pub runs: usize,
    /// Length of the idle phase.
    pub idle: Duration,
    /// The agent binary measured.
    pub agent: PathBuf,
    /// Where the JSON report goes, if anywhere.
    pub json: Option<PathBuf>,
    /// Where the agent's log goes (kept after the run); a temporary file when not given.
    pub log: Option<PathBuf>,
}

/// Reads the process's arguments.
pub fn parse() -> Result<Args> {
    let mut args = Args {
        backend: Backend::Docker,
        pods: 100,
        runs: 5,
        idle: Duration::from_secs(60),
        agent: PathBuf::from(env!("CARGO_BIN_EXE_staticpod")),
        json: None,
        log: None,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            // cargo bench appends --bench.
            "--bench" => {}
            "--runtime" => args.backend = value()?.parse()?,
            "--pods" => args.pods = value()?.parse().context("--pods")?,
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--idle" => args.idle = Duration::from_secs(value()?.parse().context("--idle")?),
            "--agent" => args.agent = value()?.into(),
            "--json" => args.json = Some(value()?.into()),
            "--log" => args.log = Some(value()?.into()),
            other => bail!("unexpected argument `{other}`"),
        }
    }
    ensure!(
        args.runs >= 1 && args.pods >= 1,
        "--runs and --pods must be at least 1"
    );
    Ok(args)
}
