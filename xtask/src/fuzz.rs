//! `cargo xtask fuzz`: builds the libFuzzer targets of `fuzz/` on the stable toolchain, with
//! the coverage instrumentation cargo-fuzz gives them under `--sanitizer none` (so no
//! cargo-fuzz, clang or nightly is needed: libfuzzer-sys builds libFuzzer with the C++
//! compiler the machine has), and runs each for a time from its seeds: the committed corpus
//! `fuzz/corpus/<target>/`, the repository's real manifests, and the crash inputs kept in
//! `fuzz/regressions/<target>/`, which are all replayed first. New inputs go to
//! `target/fuzz/corpus/<target>/` (kept between runs), crash inputs to
//! `target/fuzz/artifacts/<target>/`, libFuzzer's output to `target/fuzz/logs/<target>.log`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, paths};

/// One fuzz target: a binary of `fuzz/Cargo.toml` and the directories its seeds are in,
/// relative to the root (its crash inputs, `fuzz/regressions/<name>/`, are added to them).
struct Target {
    name: &'static str,
    seeds: &'static [&'static str],
}

/// The seeds of the targets that read manifests: the committed corpus, kubelet's example
/// static pod and kubeadm's control plane.
const MANIFESTS: &[&str] = &[
    "fuzz/corpus/manifest",
    "examples/manifests",
    "examples/kubeadm",
];

/// Every target, in the order they run.
const TARGETS: &[Target] = &[
    Target {
        name: "manifest",
        seeds: MANIFESTS,
    },
    Target {
        name: "kubelet_config",
        seeds: &["fuzz/corpus/kubelet_config", "examples/kubelet"],
    },
    Target {
        name: "url_body",
        seeds: MANIFESTS,
    },
    Target {
        name: "api_request",
        seeds: &["fuzz/corpus/api_request"],
    },
    Target {
        name: "accept",
        seeds: &["fuzz/corpus/accept"],
    },
];

/// How long each target runs unless told: ten minutes.
pub const LONG_SECONDS: u64 = 600;

/// How long each target runs in `cargo xtask test` (and so in CI): a minute in all.
pub const SHORT_SECONDS: u64 = 12;

/// The profile of `cargo xtask fuzz`: cargo-fuzz's release build.
const LONG_PROFILE: &str = "release";

/// The profile of the short run (`fuzz/Cargo.toml`): less optimised, so built in about
/// half the time, for a minute of fuzzing that needs no top speed.
const SHORT_PROFILE: &str = "short";

/// The flags cargo-fuzz gives rustc for `--sanitizer none`: libFuzzer's coverage counters,
/// comparison tracing, `cfg(fuzzing)`, and the checks a release build leaves out.
const INSTRUMENTATION: &[&str] = &[
    "--cfg",
    "fuzzing",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// What one run of one target did, read from libFuzzer's output.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Inputs run (`stat::number_of_executed_units`).
    pub executions: u64,
    /// Coverage counters (`cov:`) and features (`ft:`) once the seeds were read (`INITED`).
    pub start: Option<(u64, u64)>,
    /// The same at the end (`DONE`, or the last report before a crash).
    pub end: Option<(u64, u64)>,
    /// Inputs in the corpus at the end (`corp:`).
    pub corpus: u64,
    /// Where libFuzzer wrote the input that crashed (`Test unit written to ...`).
    pub crash: Option<String>,
}

/// `cargo xtask fuzz [--seconds N] [--target T]`.
pub fn command(args: &[&str]) -> Result<()> {
    let mut seconds = LONG_SECONDS;
    let mut only = None;
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        match arg {
            "--seconds" => {
                let value = iter.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds {value}: not a whole number"))?;
            }
            "--target" => only = Some(*iter.next().context("--target needs a name")?),
            _ => bail!("unexpected argument `{arg}`: cargo xtask fuzz [--seconds N] [--target T]"),
        }
    }
    let targets: Vec<&Target> = match only {
        Some(name) => match TARGETS.iter().find(|t| t.name == name) {
            Some(target) => vec![target],
            None => bail!(
                "no fuzz target `{name}`; there are {}",
                names(TARGETS.iter())
            ),
        },
        None => TARGETS.iter().collect(),
    };
    let summary = run(&targets, seconds, LONG_PROFILE)?;
    println!("{summary}");
    Ok(())
}

/// The short run of every target that `cargo xtask test` makes; a line of its summary.
pub fn short() -> Result<String> {
    let targets: Vec<&Target> = TARGETS.iter().collect();
    let figures = run_all(&targets, SHORT_SECONDS, SHORT_PROFILE)?;
    let executions: u64 = figures.iter().map(|(_, f)| f.executions).sum();
    Ok(format!(
        "{} targets, {SHORT_SECONDS} s each, {executions} executions, no crash",
        figures.len()
    ))
}

fn names<'a>(targets: impl Iterator<Item = &'a Target>) -> String {
    targets.map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Builds (in `profile`) and runs `targets` for `seconds` each; returns the table of their
/// figures, or fails naming each target that crashed and its input.
fn run(targets: &[&Target], seconds: u64, profile: &str) -> Result<String> {
    let figures = run_all(targets, seconds, profile)?;
    Ok(table(&figures, seconds))
}

fn run_all<'a>(
    targets: &[&'a Target],
    seconds: u64,
    profile: &str,
) -> Result<Vec<(&'a str, Figures)>> {
    let binaries = build(profile)?;
    let mut all = Vec::new();
    for target in targets {
        let figures = run_one(target, &binaries, seconds)?;
        all.push((target.name, figures));
    }
    let crashed: Vec<String> = all
        .iter()
        .filter_map(|(name, f)| f.crash.as_ref().map(|input| format!("{name}: {input}")))
        .collect();
    if !crashed.is_empty() {
        bail!(
            "{}\n\nfuzz targets crashed (libFuzzer's report is above; replay an input with \
             target/fuzz/<triple>/{profile}/<target> <input>):\n  {}",
            table(&all, seconds),
            crashed.join("\n  ")
        );
    }
    Ok(all)
}

/// Builds every target with the instrumentation in `profile`; returns the directory of the
/// binaries. `--target` keeps the flags off build scripts and proc macros, as cargo-fuzz
/// does.
fn build(profile: &str) -> Result<PathBuf> {
    let host = host_triple()?;
    let target_dir = paths::target().join("fuzz");
    let manifest = paths::root().join("fuzz/Cargo.toml");
    // Cargo takes this one before `RUSTFLAGS`, so flags of the caller's cannot mix in.
    let rustflags = INSTRUMENTATION.join("\x1f");
    let target_dir_text = target_dir.display().to_string();
    let manifest_text = manifest.display().to_string();
    cargo::run(
        &[
            "build",
            "--manifest-path",
            &manifest_text,
            "--profile",
            profile,
            "--locked",
            "--bins",
            "--target",
            &host,
        ],
        &[
            ("CARGO_ENCODED_RUSTFLAGS", &rustflags),
            ("CARGO_TARGET_DIR", &target_dir_text),
        ],
    )
    .context(
        "building the fuzz targets (after a change of the crates' dependencies, bring \
         fuzz/Cargo.lock up to date: cargo update --manifest-path fuzz/Cargo.toml --workspace)",
    )?;
    Ok(target_dir.join(host).join(profile))
}

/// The host's target triple, as rustc names it.
fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("running {rustc} -vV"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .with_context(|| format!("{rustc} -vV named no host"))
}

/// Runs one target for `seconds`, libFuzzer's output going to its log.
fn run_one(target: &Target, binaries: &Path, seconds: u64) -> Result<Figures> {
    let root = paths::root();
    let fuzz = paths::target().join("fuzz");
    let corpus = fuzz.join("corpus").join(target.name);
    let artifacts = fuzz.join("artifacts").join(target.name);
    let logs = fuzz.join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{}.log", target.name));
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    // The first directory is where libFuzzer adds what it finds; the others are only read.
    let mut dirs = vec![corpus];
    dirs.extend(target.seeds.iter().map(|dir| root.join(dir)));
    let regressions = root.join("fuzz/regressions").join(target.name);
    if regressions.is_dir() {
        dirs.push(regressions);
    }
    let binary = binaries.join(target.name);
    eprintln!(
        "xtask: fuzzing {} for {seconds} s (libFuzzer's output: {})",
        target.name,
        log_path.display()
    );
    let start = Instant::now();
    let status = Command::new(&binary)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args(["-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"])
        .args(&dirs)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    let output = std::fs::read_to_string(&log_path)
        .with_context(|| format!("reading {}", log_path.display()))?;
    let mut figures = parse(&output);
    if !status.success() && figures.crash.is_none() {
        figures.crash = Some(format!("(none written; {status})"));
    }
    if figures.crash.is_some() {
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        eprintln!(
            "xtask: {} failed after {:.0} s; the end of its log:",
            target.name,
            start.elapsed().as_secs_f64()
        );
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    Ok(figures)
}

/// Reads libFuzzer's figures from its output.
fn parse(output: &str) -> Figures {
    let mut figures = Figures::default();
    for line in output.lines() {
        if let Some(value) = line.strip_prefix("stat::number_of_executed_units:") {
            figures.executions = value.trim().parse().unwrap_or_default();
        } else if let Some(input) = line.split("Test unit written to ").nth(1) {
            figures.crash = Some(input.trim().to_string());
        } else if let Some(counts) = coverage(line) {
            if line.contains("INITED") {
                figures.start = Some(counts);
            }
            figures.end = Some(counts);
            figures.corpus = word_after(line, "corp:")
                .and_then(|c| c.split('/').next()?.parse().ok())
                .unwrap_or(figures.corpus);
        }
    }
    figures
}

/// The `cov:` and `ft:` numbers of a status line (`#1024 NEW cov: 812 ft: 2301 corp: ...`).
fn coverage(line: &str) -> Option<(u64, u64)> {
    if !line.starts_with('#') {
        return None;
    }
    let cov = word_after(line, "cov:")?.parse().ok()?;
    let ft = word_after(line, "ft:")?.parse().ok()?;
    Some((cov, ft))
}

fn word_after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(label)?;
    rest.split_whitespace().next()
}

/// The figures as a table, one line a target.
fn table(figures: &[(&str, Figures)], seconds: u64) -> String {
    let mut out = format!(
        "\nxtask fuzz ({seconds} s a target):\n  {:<16} {:>12} {:>15} {:>17} {:>7}  {}\n",
        "target", "executions", "cov start→end", "ft start→end", "corpus", "crash"
    );
    let pair = |counts: Option<(u64, u64)>, pick: fn((u64, u64)) -> u64| {
        counts.map_or("-".to_string(), |c| pick(c).to_string())
    };
    for (name, f) in figures {
        let cov = format!("{}→{}", pair(f.start, |c| c.0), pair(f.end, |c| c.0));
        let ft = format!("{}→{}", pair(f.start, |c| c.1), pair(f.end, |c| c.1));
        out.push_str(&format!(
            "  {:<16} {:>12} {:>15} {:>17} {:>7}  {}\n",
            name,
            f.executions,
            cov,
            ft,
            f.corpus,
            f.crash.as_deref().unwrap_or("none")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzers_figures_are_read() {
        let output = "\
INFO: Seed: 1234
#7\tINITED cov: 812 ft: 1500 corp: 6/14Kb exec/s: 0 rss: 40Mb
#1024\tNEW    cov: 900 ft: 2301 corp: 40/20Kb lim: 4096 exec/s: 512 rss: 60Mb
#20000\tDONE   cov: 950 ft: 2500 corp: 77/31Kb lim: 4096 exec/s: 1000 rss: 70Mb
Done 20000 runs in 21 second(s)
stat::number_of_executed_units: 20000
stat::average_exec_per_sec:     952
";
        assert_eq!(
            parse(output),
            Figures {
                executions: 20000,
                start: Some((812, 1500)),
                end: Some((950, 2500)),
                corpus: 77,
                crash: None,
            }
        );
        let crashed = "#7\tINITED cov: 812 ft: 1500 corp: 6/14Kb\n\
==1== ERROR: libFuzzer: deadly signal\n\
artifact_prefix='target/fuzz/artifacts/accept/'; Test unit written to target/fuzz/artifacts/accept/crash-da39a3ee\n";
        assert_eq!(
            parse(crashed).crash.as_deref(),
            Some("target/fuzz/artifacts/accept/crash-da39a3ee")
        );
    }
}
