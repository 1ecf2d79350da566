//! `cargo xtask`: provisions container runtimes, builds offline test images, runs the
//! test suites and the demo. Plain std + anyhow; see `cargo xtask help`.

mod apt;
mod bench;
mod codegen;
mod containerd;
mod daemon;
mod demo;
mod docker;
mod http;
mod images;
mod paths;
mod podman;
mod runtime;
mod test;

use anyhow::{Context, Result, bail};

use crate::runtime::Runtime;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  runtime up <docker|containerd|podman>      start (or reuse) a runtime, load the test images;
                                             the last line of stdout is its endpoint
  runtime down [docker|containerd|podman|all]  stop what `runtime up` started (default: all)
  images                                     build the offline test images under target/images/
  test [--runtime <name|all>] [-- ARGS]      unit tests, then integration tests on real runtimes
                                             (default: every wired runtime); ARGS go to the
                                             test binaries (e.g. a test name filter)
  demo [--runtime <name>]                    run `staticpod run` on examples/manifests (default: docker)
  bench [--runtime <name|all>] [--pods N]    benchmarks (see BENCHMARKS.md); report in target/bench/
  codegen [--check]                          regenerate the committed CRI bindings from their .proto
                                             (--check: fail if the committed ones differ)
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
            let up = Runtime::parse(name)?.up()?;
            println!("{}", up.endpoint);
            Ok(())
        }
        ["runtime", "down"] | ["runtime", "down", "all"] => {
            for runtime in Runtime::ALL {
                runtime.down()?;
            }
            Ok(())
        }
        ["runtime", "down", name] => Runtime::parse(name)?.down(),
        ["images"] => {
            for image in images::ensure_built()? {
                println!("{} {} {}", image.name, image.id, image.tarball.display());
            }
            Ok(())
        }
        ["test", rest @ ..] => {
            let (runtime, passthrough) = parse_runtime_flag(rest, true)?;
            test::run(runtime, passthrough)
        }
        ["demo", rest @ ..] => {
            let (runtime, passthrough) = parse_runtime_flag(rest, false)?;
            if !passthrough.is_empty() {
                bail!("demo takes no extra arguments\n\n{USAGE}");
            }
            demo::run(runtime.unwrap_or(Runtime::Docker))
        }
        ["bench", rest @ ..] => bench::run(rest),
        ["codegen"] => codegen::run(),
        ["codegen", "--check"] => codegen::check_current(),
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
) -> Result<(Option<Runtime>, Vec<&'a str>)> {
    let mut runtime = None;
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        let value = match arg {
            "--" => return Ok((runtime, iter.copied().collect())),
            "--runtime" => *iter.next().context("--runtime needs a value")?,
            _ => match arg.strip_prefix("--runtime=") {
                Some(value) => value,
                None => bail!("unexpected argument `{arg}`\n\n{USAGE}"),
            },
        };
        runtime = match value {
            "all" if allow_all => None,
            name => Some(Runtime::parse(name)?),
        };
    }
    Ok((runtime, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_flag_forms() {
        let (rt, rest) = parse_runtime_flag(&["--runtime", "containerd", "--", "x"], true).unwrap();
        assert_eq!(rt, Some(Runtime::Containerd));
        assert_eq!(rest, ["x"]);
        let (rt, rest) = parse_runtime_flag(&["--runtime=all"], true).unwrap();
        assert_eq!(rt, None);
        assert!(rest.is_empty());
        assert!(parse_runtime_flag(&["--runtime=all"], false).is_err());
        assert!(parse_runtime_flag(&["--runtime=rkt"], true).is_err());
        assert!(parse_runtime_flag(&["--bogus"], true).is_err());
    }
}
