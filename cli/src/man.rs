//! `staticpod man <dir>` (hidden): the man pages, rendered from the clap definition by
//! clap_mangen: `staticpod.1`, and `staticpod-<command>.1` for each command with its flags, as
//! git's and podman's are laid out. `cargo xtask codegen` commits them under `cli/debian/man/`
//! for the Debian package.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

/// Writes the pages of `command` and of each of its commands that is not hidden into `dir`.
pub fn write(command: clap::Command, dir: &Path) -> anyhow::Result<ExitCode> {
    // The version alone, without the commit `--version` adds: the committed pages would
    // otherwise differ from the generated ones at every commit.
    let version = env!("CARGO_PKG_VERSION");
    let mut command = command.version(version).disable_help_subcommand(true);
    // Built, so that each command knows its display name (`staticpod-run`, the page's name).
    command.build();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for page in pages(command) {
        let name = page.get_name().to_string();
        // Every page's footer names the package and its version, not just the command
        // (clap_mangen's default, as a command carries no version of its own).
        clap_mangen::Man::new(page)
            .source(format!("staticpod {version}"))
            .generate_to(dir)
            .with_context(|| format!("writing the man page of {name} into {}", dir.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `command` and its commands, depth first, leaving out hidden ones (`man` itself).
fn pages(command: clap::Command) -> Vec<clap::Command> {
    let mut pages: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .flat_map(pages)
        .collect();
    pages.push(command);
    pages
}
