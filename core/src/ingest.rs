//! Safe ingestion: turns successive snapshots of the sources into the set of desired pods,
//! where we do better than the kubelet. A file (or URL body) that becomes invalid keeps its
//! last good pods running and reports why; a source or a file that cannot be read is not
//! taken as removed; two files (or a file and the URL) declaring the same pod never shadow
//! each other silently: the one seen first keeps it, the other is refused with an error
//! naming both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Severity};
use crate::error_chain::describe;
use crate::manifest::{self, defaults::StaticPod};
use crate::source::{HttpAnswer, Reading, ScannedFile, Snapshot, SourceKind};

/// What we know of one manifest file.
#[derive(Debug, Clone)]
struct FileEntry {
    /// The source it belongs to.
    kind: SourceKind,
    /// The text last read, to skip work when nothing changed.
    text: Option<String>,
    /// When this file was first seen with pods, to settle name clashes (first seen wins).
    order: u64,
    /// The pods of the last good version of the file.
    pods: Vec<Arc<StaticPod>>,
    /// Findings about the current version (errors mean `pods` is an older version).
    diagnostics: Vec<Diagnostic>,
    /// Which of `pods` are desired (the others' names were taken first), as last settled.
    wanted: Vec<bool>,
    /// The refusals of this file's pods whose names were taken first, as last settled.
    conflicts: Vec<Diagnostic>,
}

impl FileEntry {
    /// True when the current version has errors and an older version (or nothing) runs.
    fn stale(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// How one manifest file stands, for the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReport {
    /// The file.
    pub file: PathBuf,
    /// Full names of the pods it runs (`namespace/name`).
    pub pods: Vec<String>,
    /// True when the current version has errors and an older version (or nothing) runs.
    pub stale: bool,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// For the URL: how its last poll went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollReport>,
}

/// How the last poll of the manifest URL went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    /// When (RFC 3339).
    pub at: String,
    /// The server's answer, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<HttpAnswer>,
    /// Why the poll gave no complete reading, when it did not; the pods are kept as they
    /// were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The desired pods and everything known about the files they came from.
#[derive(Debug, Default)]
pub struct Manifests {
    node_name: String,
    files: BTreeMap<PathBuf, FileEntry>,
    next_order: u64,
    reported_skips: BTreeSet<PathBuf>,
    desired: Vec<Arc<StaticPod>>,
    /// The URL and its last poll, once polled.
    poll: Option<(PathBuf, PollReport)>,
    /// The desired pods whose file was removed and written anew, valid, since
    /// [`Manifests::take_recreated`] last took them: pods to restart.
    recreated: Vec<Arc<StaticPod>>,
}

impl Manifests {
    /// An empty set for node `node_name`.
    pub fn new(node_name: &str) -> Self {
        Manifests {
            node_name: node_name.to_string(),
            ..Manifests::default()
        }
    }

    /// Takes in a snapshot of a source; `seen` is the current time in RFC 3339 for new
    /// pods' annotation. Returns true when the desired pods changed.
    pub fn update(&mut self, snapshot: Snapshot, seen: &str) -> bool {
        let kind = snapshot.kind;
        let error = match &snapshot.reading {
            Reading::Failed(error) => Some(describe(error)),
            Reading::Complete(_) | Reading::Unchanged => None,
        };
        if kind == SourceKind::Http {
            let report = PollReport {
                at: seen.to_string(),
                answer: snapshot.answer.clone(),
                error: error.clone(),
            };
            self.poll = Some((PathBuf::from(&snapshot.location), report));
        }
        let scan = match snapshot.reading {
            Reading::Complete(scan) => scan,
            Reading::Unchanged => return false,
            Reading::Failed(_) => {
                let error = error.unwrap_or_default();
                tracing::warn!(source = %snapshot.location, "cannot read the {kind} source: {error}; keeping its pods as they are");
                return false;
            }
        };
        for (path, reason) in &scan.skipped {
            if self.reported_skips.insert(path.clone()) {
                tracing::info!(file = %path.display(), "skipping {reason}");
            }
        }
        self.reported_skips
            .retain(|path| scan.skipped.iter().any(|(p, _)| p == path));
        let present: BTreeSet<&Path> = scan.files.iter().map(|f| f.path.as_path()).collect();
        let removed: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(path, entry)| entry.kind == kind && !present.contains(path.as_path()))
            .map(|(path, _)| path.clone())
            .collect();
        for path in removed {
            tracing::info!(file = %path.display(), "manifest removed");
            self.files.remove(&path);
        }
        // The pods of files removed and written again, as they were: those still desired
        // once the new text is read, and valid, are restarted.
        let rewritten: Vec<(PathBuf, Vec<String>)> = scan
            .unlinked
            .iter()
            .filter(|path| present.contains(path.as_path()))
            .filter_map(|path| {
                let entry = self.files.get(path)?;
                let uids = entry.pods.iter().map(|p| p.uid().to_string()).collect();
                Some((path.clone(), uids))
            })
            .collect();
        for file in scan.files {
            self.read_file(file, kind, seen);
        }
        let before: Vec<(String, String)> = self
            .desired
            .iter()
            .map(|p| (p.full_name().to_string(), p.config_hash.clone()))
            .collect();
        self.settle();
        for (path, uids) in rewritten {
            let Some(entry) = self.files.get(&path).filter(|entry| !entry.stale()) else {
                continue;
            };
            let restarted: Vec<Arc<StaticPod>> = entry
                .pods
                .iter()
                .zip(&entry.wanted)
                .filter(|&(pod, &wanted)| wanted && uids.iter().any(|uid| uid == pod.uid()))
                .map(|(pod, _)| pod.clone())
                .collect();
            if !restarted.is_empty() {
                tracing::info!(file = %path.display(), "manifest removed and written again: its pods restart");
                self.recreated.extend(restarted);
            }
        }
        let after: Vec<(String, String)> = self
            .desired
            .iter()
            .map(|p| (p.full_name().to_string(), p.config_hash.clone()))
            .collect();
        before != after
    }

    fn read_file(&mut self, file: ScannedFile, kind: SourceKind, seen: &str) {
        let entry = self
            .files
            .entry(file.path.clone())
            .or_insert_with(|| FileEntry {
                kind,
                text: None,
                order: u64::MAX,
                pods: Vec::new(),
                diagnostics: Vec::new(),
                wanted: Vec::new(),
                conflicts: Vec::new(),
            });
        let text = match file.content {
            Ok(text) => text,
            Err(problem) => {
                let diagnostic = Diagnostic {
                    severity: Severity::Error,
                    file: file.path.clone(),
                    position: None,
                    field: None,
                    message: problem.to_string(),
                };
                if entry.diagnostics != [diagnostic.clone()] {
                    tracing::error!("{diagnostic}{}", keeping(&entry.pods));
                    entry.diagnostics = vec![diagnostic];
                    entry.text = None;
                }
                return;
            }
        };
        if entry.text.as_deref() == Some(text.as_str()) {
            return;
        }
        let loaded = manifest::load(&file.path, kind, &text, &self.node_name, seen);
        for diagnostic in &loaded.diagnostics {
            match diagnostic.severity {
                Severity::Error => tracing::error!("{diagnostic}{}", keeping(&entry.pods)),
                Severity::Warning => tracing::warn!("{diagnostic}"),
            }
        }
        if !loaded.has_errors() {
            // Keep the first-seen time of pods whose content did not change.
            entry.pods = loaded
                .pods
                .into_iter()
                .map(|pod| {
                    entry
                        .pods
                        .iter()
                        .find(|old| old.config_hash == pod.config_hash)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(pod))
                })
                .collect();
            if entry.order == u64::MAX && !entry.pods.is_empty() {
                entry.order = self.next_order;
                self.next_order += 1;
            }
        }
        entry.diagnostics = loaded.diagnostics;
        entry.text = Some(text);
    }

    /// Recomputes the desired pods: files in the order they were first seen, and a pod whose
    /// name is already taken is refused. Linear in the files and their pods: each file keeps
    /// its own refusals and which of its pods are desired, so neither this nor
    /// [`Manifests::reports`] searches the whole node for one file.
    fn settle(&mut self) {
        let mut files: Vec<(&PathBuf, &FileEntry)> = self.files.iter().collect();
        // Stable: files first seen together stay in path order.
        files.sort_by_key(|(_, entry)| entry.order);
        let mut owners: HashMap<(&str, &str), &Path> = HashMap::with_capacity(files.len());
        let mut desired = Vec::new();
        let mut settled: Vec<(PathBuf, Vec<bool>, Vec<Diagnostic>)> = Vec::new();
        for (path, entry) in files {
            let mut wanted = Vec::with_capacity(entry.pods.len());
            let mut conflicts = Vec::new();
            for pod in &entry.pods {
                let key = (pod.namespace(), pod.full_name());
                match owners.get(&key) {
                    Some(owner) => {
                        wanted.push(false);
                        conflicts.push(Diagnostic {
                            severity: Severity::Error,
                            file: path.clone(),
                            position: None,
                            field: Some("metadata.name".to_string()),
                            message: format!(
                                "pod {}/{} is already declared by {}; this declaration is refused (rename one of them)",
                                key.0,
                                key.1,
                                owner.display()
                            ),
                        });
                    }
                    None => {
                        owners.insert(key, path);
                        wanted.push(true);
                        desired.push(pod.clone());
                    }
                }
            }
            // Logged once: a refusal the file had at the last settling is not news.
            for conflict in &conflicts {
                if !entry.conflicts.contains(conflict) {
                    tracing::error!("{conflict}");
                }
            }
            settled.push((path.clone(), wanted, conflicts));
        }
        for (path, wanted, conflicts) in settled {
            if let Some(entry) = self.files.get_mut(&path) {
                entry.wanted = wanted;
                entry.conflicts = conflicts;
            }
        }
        self.desired = desired;
    }

    /// The pods to restart because their file was removed and written again since the
    /// last call.
    pub fn take_recreated(&mut self) -> Vec<Arc<StaticPod>> {
        std::mem::take(&mut self.recreated)
    }

    /// The files skipped (not manifests), as the last reading of the directory found them.
    pub fn skipped(&self) -> &BTreeSet<PathBuf> {
        &self.reported_skips
    }

    /// How many files (or the URL) have errors: invalid, unreadable, or a pod name refused.
    pub fn files_with_errors(&self) -> usize {
        self.files
            .values()
            .filter(|entry| entry.stale() || !entry.conflicts.is_empty())
            .count()
    }

    /// The pods that should run.
    pub fn desired(&self) -> &[Arc<StaticPod>] {
        &self.desired
    }

    /// How each file stands; the URL's report also says how its last poll went, and is there
    /// even before the URL ever answered.
    pub fn reports(&self) -> Vec<ManifestReport> {
        let mut reports: Vec<ManifestReport> = self
            .files
            .iter()
            .map(|(path, entry)| {
                let mut diagnostics = entry.diagnostics.clone();
                diagnostics.extend(entry.conflicts.iter().cloned());
                let pods = entry
                    .pods
                    .iter()
                    .zip(&entry.wanted)
                    .filter(|(_, wanted)| **wanted)
                    .map(|(pod, _)| format!("{}/{}", pod.namespace(), pod.full_name()))
                    .collect();
                ManifestReport {
                    file: path.clone(),
                    pods,
                    stale: entry.stale(),
                    diagnostics,
                    poll: None,
                }
            })
            .collect();
        if let Some((url, poll)) = &self.poll {
            match reports.iter_mut().find(|report| &report.file == url) {
                Some(report) => report.poll = Some(poll.clone()),
                None => reports.push(ManifestReport {
                    file: url.clone(),
                    pods: Vec::new(),
                    stale: poll.error.is_some(),
                    diagnostics: Vec::new(),
                    poll: Some(poll.clone()),
                }),
            }
        }
        reports
    }
}

fn keeping(pods: &[Arc<StaticPod>]) -> String {
    if pods.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = pods.iter().map(|p| p.full_name()).collect();
        format!(" (keeping the running version of {})", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{ReadError, Scan};

    const WEB: &str =
        "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n";

    const URL: &str = "http://192.0.2.1/pods.yaml";

    fn snapshot(kind: SourceKind, reading: Reading) -> Snapshot {
        Snapshot {
            kind,
            location: match kind {
                SourceKind::File => "/m".to_string(),
                SourceKind::Http => URL.to_string(),
            },
            reading,
            answer: None,
        }
    }

    fn files(files: &[(&str, &str)]) -> Scan {
        Scan {
            files: files
                .iter()
                .map(|(path, text)| ScannedFile {
                    path: PathBuf::from(path),
                    content: Ok(text.to_string()),
                })
                .collect(),
            skipped: Vec::new(),
            unlinked: Vec::new(),
        }
    }

    fn scan(contents: &[(&str, &str)]) -> Snapshot {
        snapshot(SourceKind::File, Reading::Complete(files(contents)))
    }

    fn served(body: &str) -> Snapshot {
        snapshot(SourceKind::Http, Reading::Complete(files(&[(URL, body)])))
    }

    fn failed(kind: SourceKind) -> Snapshot {
        let error = std::io::Error::other("gone");
        snapshot(kind, Reading::Failed(ReadError::Unreadable(error)))
    }

    fn names(manifests: &Manifests) -> Vec<(String, String)> {
        manifests
            .desired()
            .iter()
            .map(|p| (p.full_name().to_string(), p.uid().to_string()))
            .collect()
    }

    #[test]
    fn an_invalid_edit_keeps_the_last_good_pod_and_reports_the_error() {
        let mut m = Manifests::new("node0");
        assert!(m.update(scan(&[("/m/web.yaml", WEB)]), "t0"));
        let good = names(&m);
        assert!(!m.update(
            scan(&[("/m/web.yaml", "kind: Pod\nmetadata: {name: web\n")]),
            "t1"
        ));
        assert_eq!(names(&m), good);
        let report = &m.reports()[0];
        assert!(report.stale);
        assert_eq!(report.diagnostics[0].severity, Severity::Error);
        assert_eq!(report.pods, ["default/web-node0"]);
    }

    #[test]
    fn an_unreadable_directory_or_file_removes_nothing() {
        let mut m = Manifests::new("node0");
        m.update(scan(&[("/m/web.yaml", WEB)]), "t0");
        assert!(!m.update(failed(SourceKind::File), "t1"));
        let unreadable = Scan {
            files: vec![ScannedFile {
                path: PathBuf::from("/m/web.yaml"),
                content: Err(crate::source::FileProblem::Unreadable(
                    "permission denied".into(),
                )),
            }],
            skipped: Vec::new(),
            unlinked: Vec::new(),
        };
        assert!(!m.update(
            snapshot(SourceKind::File, Reading::Complete(unreadable)),
            "t2"
        ));
        assert_eq!(m.desired().len(), 1);
    }

    /// Fault 4d of the matrix at the scale of its directory: many files declaring one pod
    /// and many invalid ones. Each clash stays on its own file (the reports are built per
    /// file, not by searching the node's refusals for each), the first file keeps the pod,
    /// and a file removed takes its refusal with it.
    #[test]
    fn thousands_of_clashing_and_invalid_files_each_report_their_own_refusal() {
        let bad = WEB.replace("image: nginx:1.25", "image: 7, imagePullPolicy: Sometimes");
        let paths: Vec<String> = (0..2000).map(|i| format!("/m/m{i:04}.yaml")).collect();
        let contents: Vec<(&str, &str)> = paths
            .iter()
            .enumerate()
            .map(|(i, path)| (path.as_str(), if i % 2 == 0 { WEB } else { &bad }))
            .collect();
        let mut m = Manifests::new("node0");
        assert!(m.update(scan(&contents), "t0"));
        assert_eq!(names(&m).len(), 1);
        let reports = m.reports();
        assert_eq!(reports.len(), 2000);
        assert_eq!(reports[0].pods, ["default/web-node0"]);
        assert!(reports[0].diagnostics.is_empty());
        let clash = &reports[2];
        assert!(clash.pods.is_empty() && !clash.stale);
        assert_eq!(clash.diagnostics.len(), 1);
        assert!(
            clash.diagnostics[0]
                .message
                .contains("is already declared by /m/m0000.yaml"),
            "{:?}",
            clash.diagnostics
        );
        assert!(reports[1].stale && reports[1].pods.is_empty());
        assert_eq!(m.files_with_errors(), 1999);
        // The owner goes: the next file first seen takes the pod over, the rest still clash.
        m.update(scan(&contents[1..]), "t1");
        let reports = m.reports();
        assert_eq!(reports[1].pods, ["default/web-node0"]);
        assert!(reports[1].diagnostics.is_empty());
        assert_eq!(m.files_with_errors(), 1998);
    }

    #[test]
    fn a_file_removed_and_written_again_restarts_its_pods_unless_the_new_text_is_invalid() {
        let rewritten = |text: &str| {
            let mut scan = files(&[
                ("/m/web.yaml", text),
                ("/m/db.yaml", &WEB.replace("web", "db")),
            ]);
            scan.unlinked = vec![PathBuf::from("/m/web.yaml"), PathBuf::from("/m/gone.yaml")];
            snapshot(SourceKind::File, Reading::Complete(scan))
        };
        let mut m = Manifests::new("node0");
        m.update(rewritten(WEB), "t0");
        assert!(m.take_recreated().is_empty(), "a new file restarts nothing");
        let uids = names(&m);
        assert!(!m.update(rewritten(WEB), "t1"), "the same pods are desired");
        let web = uids.iter().find(|(name, _)| name == "web-node0").unwrap();
        let recreated = m.take_recreated();
        let recreated: Vec<&str> = recreated.iter().map(|p| p.uid()).collect();
        assert_eq!(recreated, [web.1.as_str()]);
        assert!(m.take_recreated().is_empty(), "taken once");
        m.update(rewritten("kind: Pod\nmetadata: {name: web\n"), "t2");
        assert!(
            m.take_recreated().is_empty(),
            "an invalid text restarts nothing"
        );
        assert_eq!(names(&m), uids);
    }

    #[test]
    fn an_edit_is_a_new_pod_and_removal_removes_it() {
        let mut m = Manifests::new("node0");
        m.update(scan(&[("/m/web.yaml", WEB)]), "t0");
        let first = names(&m);
        assert!(
            !m.update(scan(&[("/m/web.yaml", WEB)]), "t1"),
            "same content, no change"
        );
        let edited = WEB.replace("nginx:1.25", "nginx:1.26");
        assert!(m.update(scan(&[("/m/web.yaml", &edited)]), "t2"));
        assert_eq!(names(&m)[0].0, first[0].0);
        assert_ne!(names(&m)[0].1, first[0].1);
        assert!(m.update(scan(&[]), "t3"));
        assert!(m.desired().is_empty());
    }

    #[test]
    fn the_first_file_seen_keeps_a_clashing_name_and_the_other_is_refused_naming_both() {
        let mut m = Manifests::new("node0");
        m.update(scan(&[("/m/z.yaml", WEB)]), "t0");
        let owner = names(&m);
        m.update(scan(&[("/m/a.yaml", WEB), ("/m/z.yaml", WEB)]), "t1");
        assert_eq!(
            names(&m),
            owner,
            "the later file, though first by name, does not take over"
        );
        let refused = m
            .reports()
            .into_iter()
            .find(|r| r.file == Path::new("/m/a.yaml"))
            .unwrap();
        assert!(refused.pods.is_empty());
        let message = refused.diagnostics[0].to_string();
        assert!(
            message.contains("/m/a.yaml") && message.contains("/m/z.yaml"),
            "{message}"
        );
    }

    #[test]
    fn the_url_and_the_directory_are_read_apart_and_clash_like_two_files() {
        let mut m = Manifests::new("node0");
        m.update(scan(&[("/m/web.yaml", WEB)]), "t0");
        let db = WEB.replace("name: web}", "name: db}");
        assert!(m.update(served(&format!("{db}---\n{WEB}")), "t1"));
        let desired = names(&m);
        assert_eq!(desired.len(), 2, "web from the file, db from the URL");
        let http = m
            .desired()
            .iter()
            .find(|p| p.full_name() == "db-node0")
            .unwrap();
        assert_eq!(
            http.pod.metadata.annotations[crate::manifest::defaults::CONFIG_SOURCE_ANNOTATION],
            "http"
        );
        let url = m
            .reports()
            .into_iter()
            .find(|r| r.file == Path::new(URL))
            .unwrap();
        let message = url.diagnostics[0].to_string();
        assert!(
            message.contains(URL) && message.contains("/m/web.yaml"),
            "the URL's web is refused naming both sources: {message}"
        );
        assert!(
            !m.update(scan(&[("/m/web.yaml", WEB)]), "t2"),
            "a directory reading does not remove the URL's pods"
        );
        assert!(!m.update(failed(SourceKind::Http), "t3"));
        assert!(!m.update(snapshot(SourceKind::Http, Reading::Unchanged), "t4"));
        assert_eq!(
            names(&m),
            desired,
            "a failed or unchanged poll keeps the pods"
        );
        assert!(m.update(served(""), "t5"), "an empty body declares no pods");
        assert_eq!(names(&m).len(), 1);
    }

    #[test]
    fn the_same_pod_from_the_file_and_the_url_has_different_uids() {
        let mut file = Manifests::new("node0");
        file.update(scan(&[("/m/web.yaml", WEB)]), "t0");
        let mut url = Manifests::new("node0");
        url.update(served(WEB), "t0");
        assert_ne!(names(&file)[0].1, names(&url)[0].1);
    }

    #[test]
    fn the_urls_report_says_how_its_last_poll_went_even_before_it_answered() {
        let mut m = Manifests::new("node0");
        m.update(failed(SourceKind::Http), "t0");
        let reports = m.reports();
        let poll = reports[0].poll.as_ref().unwrap();
        assert_eq!(reports[0].file, Path::new(URL));
        assert_eq!(poll.at, "t0");
        assert_eq!(
            poll.error.as_deref(),
            Some("cannot read the manifest path: gone")
        );
    }
}
