//! `staticpod validate`: the same reading, validation and defaulting as `run`, printed as
//! `file:line:column: severity: field: message`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use staticpod_core::diagnostic::Severity;
use staticpod_core::ingest::Manifests;
use staticpod_core::source::{Reading, Snapshot, SourceKind, dir};

/// Validates every manifest under `paths`; exit 1 when any has an error.
pub fn validate(paths: &[PathBuf], hostname_override: Option<String>) -> anyhow::Result<ExitCode> {
    let node = crate::node_name(hostname_override);
    let mut errors = 0;
    let mut pods = 0;
    for path in paths {
        let scan = dir::scan(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (skipped, reason) in &scan.skipped {
            println!("{}: skipped: {reason}", skipped.display());
        }
        let mut manifests = Manifests::new(&node);
        let snapshot = Snapshot {
            kind: SourceKind::File,
            location: path.display().to_string(),
            reading: Reading::Complete(scan),
            answer: None,
        };
        manifests.update(snapshot, "");
        for report in manifests.reports() {
            for diagnostic in &report.diagnostics {
                println!("{diagnostic}");
                errors += usize::from(diagnostic.severity == Severity::Error);
            }
            for pod in &report.pods {
                println!("{}: ok: pod {pod}", report.file.display());
            }
            pods += report.pods.len();
        }
    }
    println!("{pods} pod(s) valid, {errors} error(s)");
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
