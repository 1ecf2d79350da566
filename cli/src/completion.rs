//! `staticpod completion <shell>`: the shell's completion script for every command and flag,
//! generated from the clap definition (clap_complete), as `kubectl completion` prints its own.
//! The Debian package ships the bash, zsh and fish scripts this prints (committed under
//! `cli/debian/completions/` by `cargo xtask codegen`).

use std::process::ExitCode;

use clap_complete::Shell;

/// Prints the completion script of `command` for `shell` to stdout.
pub fn print(shell: Shell, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_string();
    clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
