//! `staticpod validate`: the same reading, validation and defaulting as `run`, of manifest
//! files, directories, a manifest URL (fetched once) and a kubelet configuration, printed as
//! `file:line:column: severity: field: message`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use staticpod_core::diagnostic::{Diagnostic, Severity};
use staticpod_core::ingest::Manifests;
use staticpod_core::kubelet_config;
use staticpod_core::source::http::{Poller, REQUEST_TIMEOUT, UrlSource, parse_headers};
use staticpod_core::source::{Reading, Snapshot, SourceKind, dir};

/// What to check.
#[derive(Debug)]
pub struct Targets {
    /// Manifest files, directories or URLs.
    pub paths: Vec<String>,
    /// A kubelet configuration file.
    pub config: Option<PathBuf>,
    /// `--manifest-url-header` values for the URLs.
    pub headers: Vec<String>,
    /// The node name pods are named for.
    pub node: String,
}

/// Tallies what was printed.
#[derive(Debug, Default)]
struct Tally {
    pods: usize,
    errors: usize,
}

impl Tally {
    fn print(&mut self, diagnostic: &Diagnostic) {
        println!("{diagnostic}");
        self.errors += usize::from(diagnostic.severity == Severity::Error);
    }
}

/// Validates every target; exit 1 when any has an error.
pub fn validate(targets: &Targets) -> anyhow::Result<ExitCode> {
    let mut tally = Tally::default();
    if let Some(config) = &targets.config {
        check_config(config, &mut tally)?;
    }
    for target in &targets.paths {
        let snapshot = if target.starts_with("http://") || target.starts_with("https://") {
            fetch(target, &targets.headers)?
        } else {
            read(Path::new(target))?
        };
        let mut manifests = Manifests::new(&targets.node);
        manifests.update(snapshot, "");
        for report in manifests.reports() {
            for diagnostic in &report.diagnostics {
                tally.print(diagnostic);
            }
            if let Some(error) = report.poll.and_then(|poll| poll.error) {
                println!("{}: error: {error}", report.file.display());
                tally.errors += 1;
            }
            for pod in &report.pods {
                println!("{}: ok: pod {pod}", report.file.display());
            }
            tally.pods += report.pods.len();
        }
    }
    println!("{} pod(s) valid, {} error(s)", tally.pods, tally.errors);
    Ok(if tally.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_config(path: &Path, tally: &mut Tally) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let loaded = kubelet_config::load(path, &text);
    for diagnostic in &loaded.diagnostics {
        tally.print(diagnostic);
    }
    if !loaded.not_used.is_empty() {
        println!(
            "{}: not used by staticpod: {}",
            path.display(),
            loaded.not_used.join(", ")
        );
    }
    if !loaded.has_errors() {
        println!("{}: ok: kubelet configuration", path.display());
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Snapshot> {
    let scan = dir::scan(path).with_context(|| format!("cannot read {}", path.display()))?;
    for (skipped, reason) in &scan.skipped {
        println!("{}: skipped: {reason}", skipped.display());
    }
    Ok(Snapshot {
        kind: SourceKind::File,
        location: path.display().to_string(),
        reading: Reading::Complete(scan),
        answer: None,
    })
}

/// One GET of `url`, as the URL source polls it.
fn fetch(url: &str, headers: &[String]) -> anyhow::Result<Snapshot> {
    let source = UrlSource {
        url: url.to_string(),
        headers: parse_headers(headers.iter().map(String::as_str))?,
        timeout: REQUEST_TIMEOUT,
    };
    let mut poller = Poller::new(source)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(poller.poll()))
}
