//! `cargo xtask`: provisions container runtimes, builds offline test images, checks the
//! tree's conventions, runs the test suites, the demo and the benchmarks, and builds the
//! Debian package. Plain std + anyhow; see `cargo xtask help`.

mod apt;
mod bench;
mod cargo;
mod cli_assets;
mod codegen;
mod containerd;
mod daemon;
mod deb;
mod deb_check;
mod demo;
mod docker;
mod faults;
mod fuzz;
mod http;
mod images;
mod paths;
mod peers;
mod plot;
mod podman;
mod runtime;
mod test;
mod tidy;

use anyhow::{Context, Result, bail};

use crate::runtime::{Backend, Provision};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  runtime up <docker|containerd|podman>      start (or reuse) a runtime, load the test images;
                                             the last line of stdout is its endpoint
  runtime down [docker|containerd|podman|all]  stop what `runtime up` started (default: all)
  images                                     build the offline test images under target/images/
  tidy                                       fmt, clippy, each backend alone, and the tree's
                                             conventions (//! lines, ARCHITECTURE.md, #[allow] reasons)
  test [--runtime <name|all>] [-- ARGS]      tidy, unit tests, the package check (deb --check;
                                             left out with --runtime or ARGS), then integration
                                             tests on real runtimes (default: every wired
                                             runtime); ARGS go to the test binaries (e.g. a test
                                             name filter)
  test --faults [--runtime <name|all>] [-- ARGS]
                                             only the fault matrix (RELIABILITY.md) on real
                                             runtimes, its table printed; `test` runs it too
  demo [--runtime <name>]                    run `staticpod run` on examples/manifests (default: docker)
  bench [--runtime <name|all>] [--pods N]    benchmarks (see BENCHMARKS.md); report in target/bench/
  fuzz [--seconds N] [--target T]            build the fuzz targets of fuzz/ (libFuzzer, stable
                                             toolchain) and run each for N s (default 600; `test`
                                             runs each for 12 s); prints executions, coverage,
                                             crashes (see RELIABILITY.md)
  codegen [--check]                          regenerate the committed gRPC bindings from their .protos,
                                             and the package's man pages and shell completions
                                             from staticpod's flags (--check: fail if the
                                             committed ones differ)
  deb [--check]                              build the Debian package (cargo deb -p staticpod,
                                             release profile); prints the .deb's path
                                             (--check, as root: the package check of `test`
                                             alone: build, lintian, dpkg -i, checks, dpkg -r/-P)
";

fn main() {
    if let Err(err) = run(std::env::args().skip(1).collect()) {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

/// Dispatches on the command line (without the program name).
fn run(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["runtime", "up", name] => {
            let up = name.parse::<Backend>()?.up()?;
            println!("{}", up.endpoint);
            Ok(())
        }
        ["runtime", "down"] | ["runtime", "down", "all"] => {
            for backend in Backend::ALL {
                backend.down()?;
            }
            Ok(())
        }
        ["runtime", "down", name] => name.parse::<Backend>()?.down(),
        ["images"] => {
            for image in images::ensure_built()? {
                println!("{} {} {}", image.name, image.id, image.tarball.display());
            }
            Ok(())
        }
        ["tidy"] => tidy::run(),
        ["codegen"] => {
            codegen::run()?;
            cli_assets::run()
        }
        ["codegen", "--check"] => {
            codegen::check_current()?;
            cli_assets::check_current()
        }
        ["deb"] => deb::run(),
        ["deb", "--check"] => {
            println!("{}", deb_check::run()?);
            Ok(())
        }
        ["test", "--faults", rest @ ..] => {
            let (backend, passthrough) = parse_runtime_flag(rest, true)?;
            let runtimes: Vec<Backend> = match backend {
                Some(backend) => vec![backend],
                None => Backend::ALL.into_iter().filter(|b| b.wired()).collect(),
            };
            println!("{}", faults::run(&runtimes, &passthrough)?);
            Ok(())
        }
        ["test", rest @ ..] => {
            let (backend, passthrough) = parse_runtime_flag(rest, true)?;
            test::run(backend, passthrough)
        }
        ["demo", rest @ ..] => {
            let (backend, passthrough) = parse_runtime_flag(rest, false)?;
            if !passthrough.is_empty() {
                bail!("demo takes no extra arguments\n\n{USAGE}");
            }
            demo::run(backend.unwrap_or(Backend::Docker))
        }
        ["bench", rest @ ..] => bench::run(rest),
        ["fuzz", rest @ ..] => fuzz::command(rest),
        [] | ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{USAGE}", args.join(" ")),
    }
}

/// Splits `[--runtime NAME] [-- ARGS...]`; `all` (when allowed) means no single runtime.
fn parse_runtime_flag<'a>(
    args: &[&'a str],
    allow_all: bool,
) -> Result<(Option<Backend>, Vec<&'a str>)> {
    let mut backend = None;
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        let value = match arg {
            "--" => return Ok((backend, iter.copied().collect())),
            "--runtime" => *iter.next().context("--runtime needs a value")?,
            _ => match arg.strip_prefix("--runtime=") {
                Some(value) => value,
                None => bail!("unexpected argument `{arg}`\n\n{USAGE}"),
            },
        };
        backend = match value {
            "all" if allow_all => None,
            name => Some(name.parse()?),
        };
    }
    Ok((backend, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_flag_forms() {
        let (rt, rest) = parse_runtime_flag(&["--runtime", "containerd", "--", "x"], true).unwrap();
        assert_eq!(rt, Some(Backend::Cri));
        assert_eq!(rest, ["x"]);
        let (rt, rest) = parse_runtime_flag(&["--runtime=all"], true).unwrap();
        assert_eq!(rt, None);
        assert!(rest.is_empty());
        assert!(parse_runtime_flag(&["--runtime=all"], false).is_err());
        assert!(parse_runtime_flag(&["--runtime=rkt"], true).is_err());
        assert!(parse_runtime_flag(&["--bogus"], true).is_err());
    }
}
