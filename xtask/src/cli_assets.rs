//! The man pages and shell completions of the Debian package, committed under `cli/debian/`
//! where `cargo deb` takes them as assets. They are made by the `staticpod` binary itself from
//! its clap definition (`staticpod man DIR`, a hidden command, and `staticpod completion
//! SHELL`), so they are never written by hand; `cargo xtask codegen` regenerates them and
//! `cargo xtask tidy` fails when the committed ones differ.
//!
//! Committed rather than made at packaging time: `cargo deb` packages files that exist and
//! runs nothing of ours first, and a changed flag then shows in review as a changed page.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{cargo, paths};

/// Where the package's files live, relative to the workspace root.
const DIR: &str = "cli/debian";
/// The man pages' directory under [`DIR`].
const MAN: &str = "man";
/// Each shell whose completion script the package ships, and the script's path under [`DIR`].
const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "completions/staticpod.bash"),
    ("zsh", "completions/_staticpod"),
    ("fish", "completions/staticpod.fish"),
];

/// Files by their path under [`DIR`].
type Files = BTreeMap<String, Vec<u8>>;

/// `cargo xtask codegen`'s part: writes the generated files over the committed ones (and
/// removes the page of a command that is gone), printing each path.
pub fn run() -> Result<()> {
    let generated = generate()?;
    let dir = paths::root().join(DIR);
    for stale in committed()?
        .keys()
        .filter(|path| !generated.contains_key(*path))
    {
        fs::remove_file(dir.join(stale)).with_context(|| format!("removing {DIR}/{stale}"))?;
    }
    for (path, contents) in &generated {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().expect("a path under DIR"))?;
        fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
        println!("{}", file.display());
    }
    Ok(())
}

/// Fails, naming the files, when the committed pages and scripts are not what `staticpod`
/// generates now.
pub fn check_current() -> Result<()> {
    let stale = differing(&generate()?, &committed()?);
    if !stale.is_empty() {
        bail!(
            "{} under {DIR}/ differ from what staticpod generates from its flags: run `cargo \
             xtask codegen` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}

/// The paths whose contents differ between `a` and `b`, or that only one of them has.
fn differing(a: &Files, b: &Files) -> Vec<String> {
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .cloned()
        .collect()
}

/// What the `staticpod` binary of this tree generates.
fn generate() -> Result<Files> {
    cargo::run(&["build", "-p", "staticpod"], &[])?;
    fs::create_dir_all(paths::xtask_dir())?;
    let scratch = tempfile::tempdir_in(paths::xtask_dir())?;
    let pages = scratch.path().join(MAN);
    staticpod(&[
        "man",
        pages.to_str().context("target/ is not a UTF-8 path")?,
    ])?;
    let mut files = man_pages(&pages)?;
    for (shell, path) in COMPLETIONS {
        files.insert(path.to_string(), staticpod(&["completion", shell])?);
    }
    Ok(files)
}

/// The committed pages and scripts.
fn committed() -> Result<Files> {
    let dir = paths::root().join(DIR);
    let mut files = man_pages(&dir.join(MAN))?;
    for (_, path) in COMPLETIONS {
        match fs::read(dir.join(path)) {
            Ok(contents) => {
                files.insert(path.to_string(), contents);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("reading {DIR}/{path}")),
        }
    }
    Ok(files)
}

/// The section 1 pages in `dir` (none when it does not exist), by their path under [`DIR`].
fn man_pages(dir: &Path) -> Result<Files> {
    let mut files = Files::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "1") {
            let name = path.file_name().expect("a file").to_string_lossy();
            files.insert(format!("{MAN}/{name}"), fs::read(&path)?);
        }
    }
    Ok(files)
}

/// Runs this tree's `staticpod ARGS` (already built) and returns its stdout.
fn staticpod(args: &[&str]) -> Result<Vec<u8>> {
    let mut cargo_args = vec!["run", "--quiet", "-p", "staticpod", "--"];
    cargo_args.extend(args);
    cargo::stdout(&cargo_args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_differs_when_its_contents_do_or_one_side_lacks_it() {
        let files = |entries: &[(&str, &str)]| -> Files {
            entries
                .iter()
                .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec()))
                .collect()
        };
        let generated = files(&[("man/a.1", "new"), ("man/b.1", "same"), ("man/c.1", "")]);
        let committed = files(&[("man/a.1", "old"), ("man/b.1", "same"), ("man/d.1", "")]);
        assert_eq!(
            differing(&generated, &committed),
            ["man/a.1", "man/c.1", "man/d.1"]
        );
        assert!(differing(&generated, &generated).is_empty());
    }
}
