//! `cargo xtask tidy`: the conventions of the tree, checked: formatting, clippy, each backend
//! building alone, and what the compiler cannot see (every file says what it is for, every
//! engine and runtime module is on the map in ARCHITECTURE.md, every `#[allow]` says why).
//! `cargo xtask test` runs it first, so CI does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::runtime::Backend;
use crate::{cargo, cli_assets, codegen, paths};

/// One check: its name in the summary, and what runs it.
struct Check {
    name: &'static str,
    run: fn() -> Result<()>,
}

/// Every check, in the order they run. A new check is one more line here (its function
/// returns an error that says what is wrong and what to do).
const CHECKS: &[Check] = &[
    Check {
        name: "cargo fmt --all --check (and fuzz/)",
        run: formatting,
    },
    Check {
        name: "cargo clippy --workspace --all-targets",
        run: clippy,
    },
    Check {
        name: "staticpod with each backend alone",
        run: each_backend_alone,
    },
    Check {
        name: "CRI bindings current",
        run: codegen::check_current,
    },
    Check {
        name: "man pages and completions current",
        run: cli_assets::check_current,
    },
    Check {
        name: "//! lines, ARCHITECTURE.md, #[allow] reasons",
        run: conventions,
    },
];

/// Runs every check, even after one failed, and prints a summary; fails if any failed.
pub fn run() -> Result<()> {
    let results: Vec<(&str, Result<()>)> = CHECKS
        .iter()
        .map(|check| (check.name, (check.run)()))
        .collect();
    eprintln!("\nxtask tidy:");
    for (name, result) in &results {
        match result {
            Ok(()) => eprintln!("  {name:<48} ok"),
            Err(err) => eprintln!("  {name:<48} FAILED\n{}", indent(&format!("{err:#}"))),
        }
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, result)| result.is_err())
        .map(|(name, _)| *name)
        .collect();
    if !failed.is_empty() {
        bail!("tidy: {} failed (see above)", failed.join(", "));
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// The workspace and the fuzz crate, which is a workspace of its own.
fn formatting() -> Result<()> {
    cargo::run(&["fmt", "--all", "--check"], &[])
        .context("the code in the diff above is not as rustfmt writes it: run `cargo fmt --all`")?;
    cargo::run(
        &[
            "fmt",
            "--all",
            "--check",
            "--manifest-path",
            "fuzz/Cargo.toml",
        ],
        &[],
    )
    .context(
        "the fuzz targets in the diff above are not as rustfmt writes them: run \
         `cargo fmt --all --manifest-path fuzz/Cargo.toml`",
    )
}

fn clippy() -> Result<()> {
    cargo::run(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )
    .context("fix what clippy printed above (an #[allow] needs a reason beside it)")
}

/// `staticpod` builds with each backend's feature alone, so code of one backend is guarded by
/// its feature.
fn each_backend_alone() -> Result<()> {
    let failed: Vec<&str> = Backend::ALL
        .iter()
        .map(|backend| backend.name())
        .filter(|feature| {
            let args = [
                "check",
                "-p",
                "staticpod",
                "--no-default-features",
                "--features",
                feature,
            ];
            cargo::run(&args, &[]).is_err()
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "staticpod does not build with the {} feature alone (see the errors above): guard \
             what needs another backend with #[cfg(feature = \"...\")]",
            failed.join(" or ")
        );
    }
    Ok(())
}

/// The checks on the tracked sources themselves.
fn conventions() -> Result<()> {
    let root = paths::root();
    let mut files = Vec::new();
    for path in tracked_rust_files(&root)? {
        match std::fs::read_to_string(root.join(&path)) {
            Ok(text) => files.push((path, text)),
            // Deleted in the working tree, not yet in the index: nothing to check.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("reading {path}")),
        }
    }
    let architecture =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("reading ARCHITECTURE.md")?;
    let findings = source_findings(&files, &architecture);
    if !findings.is_empty() {
        bail!(
            "{} problem(s) in the sources:\n{}",
            findings.len(),
            findings.join("\n")
        );
    }
    Ok(())
}

/// The `.rs` files git tracks, relative to `root`.
fn tracked_rust_files(root: &Path) -> Result<Vec<String>> {
    let output = Command::new("git")
        .args(["ls-files", "-z", "--", "*.rs"])
        .current_dir(root)
        .output()
        .context("running git ls-files")?;
    if !output.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8(output.stdout)
        .context("git ls-files printed a path that is not UTF-8")?
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(str::to_string)
        .collect())
}

/// The crates whose every module ARCHITECTURE.md must name: the engine and the backend API.
const MAPPED_CRATES: [&str; 2] = ["core", "runtime"];

/// Every broken convention of `files` (path relative to the root, text), one line each
/// (`path:line: what is wrong: what to do`). A file whose first line says `@generated` is
/// its generator's to write and is left out.
fn source_findings(files: &[(String, String)], architecture: &str) -> Vec<String> {
    let named = backticked(architecture);
    let mut findings = Vec::new();
    for (path, text) in files {
        let first = text.lines().next().unwrap_or_default();
        if first.contains("@generated") {
            continue;
        }
        if !first.starts_with("//!") {
            findings.push(format!(
                "{path}:1: does not start with a `//!` line: begin it with a `//!` comment \
                 saying what the module is for"
            ));
        }
        findings.extend(
            allows_without_reason(text)
                .into_iter()
                .map(|(line, attribute)| {
                    format!(
                        "{path}:{line}: `{attribute}` does not say why: give the reason in a \
                     `//` comment at the end of the line or on the line above"
                    )
                }),
        );
        if let Some(module) = module_path(path)
            && !named
                .iter()
                .any(|span| span == &module || span.starts_with(&format!("{module}::")))
        {
            findings.push(format!(
                "{path}: module `{module}` is not named in ARCHITECTURE.md: name it there, in \
                 backticks (`{module}`, or an item of it), where its part is described"
            ));
        }
    }
    findings
}

/// The module path of `path` when it is a module of a crate in [`MAPPED_CRATES`]
/// (`core/src/reconcile/plan.rs` → `reconcile::plan`, `runtime/src/inspect.rs` → `inspect`,
/// `core/src/source/mod.rs` → `source`); `None` for other files and for crate roots.
fn module_path(path: &str) -> Option<String> {
    let (krate, rest) = path.split_once("/src/")?;
    if !MAPPED_CRATES.contains(&krate) {
        return None;
    }
    let rest = rest.strip_suffix(".rs")?;
    let rest = rest.strip_suffix("/mod").unwrap_or(rest);
    (rest != "lib").then(|| rest.replace('/', "::"))
}

/// The inline code spans of a Markdown text, fenced blocks left out.
fn backticked(markdown: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut prose = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The `#[allow(...)]` and `#![allow(...)]` attributes of `text` (also inside `cfg_attr`)
/// with no `//` comment on their line or the line above: (line number, attribute).
fn allows_without_reason(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let trimmed = lines[index].trim_start();
        if !(trimmed.starts_with("#[") || trimmed.starts_with("#![")) {
            index += 1;
            continue;
        }
        // An attribute may span lines: read on until its brackets close.
        let start = index;
        let mut attribute = String::new();
        let mut depth = 0i32;
        loop {
            let line = lines[index];
            let code = line.split("//").next().unwrap_or_default();
            attribute.push_str(code.trim());
            depth += code.matches('[').count() as i32 - code.matches(']').count() as i32;
            if depth <= 0 || index + 1 == lines.len() {
                break;
            }
            index += 1;
        }
        let reason = (start..=index).any(|i| lines[i].contains("//"))
            || start
                .checked_sub(1)
                .is_some_and(|above| plain_comment(lines[above]));
        if names_allow(&attribute) && !reason {
            found.push((start + 1, attribute));
        }
        index += 1;
    }
    found
}

/// Whether an attribute's text uses `allow(...)` (not `disallow(`, not `allow_x`).
fn names_allow(attribute: &str) -> bool {
    attribute.match_indices("allow(").any(|(at, _)| {
        !attribute[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// A line that is a `//` comment, not a doc comment (`///`, `//!`).
fn plain_comment(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(path: &str, text: &str) -> Vec<String> {
        let architecture =
            "The planner (`reconcile::plan::plan`) and `inspect`.\n```\nsource::dir\n```\n";
        source_findings(&[(path.to_string(), text.to_string())], architecture)
    }

    #[test]
    fn a_file_without_its_purpose_line_is_named() {
        assert_eq!(
            findings("cli/src/x.rs", "// not a module doc\nfn main() {}\n"),
            [
                "cli/src/x.rs:1: does not start with a `//!` line: begin it with a `//!` comment saying what the module is for"
            ]
        );
        assert!(findings("cli/src/x.rs", "//! What it is for.\n").is_empty());
        assert!(findings("cli/src/x.rs", "").len() == 1);
        assert!(findings("backend-cri/src/x.rs", "// @generated by prost\n").is_empty());
    }

    #[test]
    fn an_allow_needs_a_reason_beside_it_or_above_it() {
        // Written as a list so that no line of this file starts with the attributes tested.
        let text = [
            "//! M.",
            "#[allow(dead_code)]",
            "fn a() {}",
            "// Only one backend uses it.",
            "#[allow(dead_code)]",
            "fn b() {}",
            "#[allow(unused)] // The fixture is shared.",
            "fn c() {}",
            "/// Doc comments are not reasons.",
            "#[cfg_attr(",
            "    not(feature = \"x\"),",
            "    allow(unused_variables)",
            ")]",
            "fn d() {}",
            "#![allow(clippy::duplicate_mod)]",
            "#[arg(long, allow_hyphen_values = true)]",
            "#[disallow(x)]",
        ]
        .join("\n");
        assert_eq!(
            findings("cli/src/x.rs", &text),
            [
                "cli/src/x.rs:2: `#[allow(dead_code)]` does not say why: give the reason in a `//` comment at the end of the line or on the line above",
                "cli/src/x.rs:10: `#[cfg_attr(not(feature = \"x\"),allow(unused_variables))]` does not say why: give the reason in a `//` comment at the end of the line or on the line above",
                "cli/src/x.rs:15: `#![allow(clippy::duplicate_mod)]` does not say why: give the reason in a `//` comment at the end of the line or on the line above",
            ]
        );
    }

    #[test]
    fn every_engine_and_runtime_module_is_on_the_map() {
        let doc = "//! M.\n";
        assert!(findings("core/src/reconcile/plan.rs", doc).is_empty());
        assert!(findings("runtime/src/inspect.rs", doc).is_empty());
        assert!(findings("core/src/lib.rs", doc).is_empty());
        assert!(findings("cli/src/run.rs", doc).is_empty());
        assert_eq!(
            findings("core/src/source/dir.rs", doc),
            [
                "core/src/source/dir.rs: module `source::dir` is not named in ARCHITECTURE.md: name it there, in backticks (`source::dir`, or an item of it), where its part is described"
            ],
            "a name in a fenced block does not count"
        );
        assert_eq!(findings("runtime/src/backoff/mod.rs", doc).len(), 1);
        assert_eq!(
            module_path("core/src/source/mod.rs").as_deref(),
            Some("source")
        );
        assert_eq!(module_path("runtime/src/lib.rs"), None);
        assert_eq!(module_path("core/benches/planner.rs"), None);
    }
}
