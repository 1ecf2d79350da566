//! Which files in a manifest directory are manifests. The kubelet reads every file that is
//! not a dot file, so `web.yaml.bak` or an editor's swap file silently replaces the real pod;
//! we read only `.yaml`, `.yml` and `.json` and name what we skip.

use std::fmt;
use std::path::Path;

/// Why a file is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A dot file (the kubelet skips these too).
    Hidden,
    /// An editor's or package manager's leftover (`~`, `.swp`, `.bak`, `.dpkg-old`, ...).
    Leftover,
    /// Not `.yaml`, `.yml` or `.json`.
    NotManifest,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Hidden => "a hidden file",
            SkipReason::Leftover => "an editor or package manager leftover",
            SkipReason::NotManifest => "not a .yaml, .yml or .json file",
        })
    }
}

const LEFTOVER_SUFFIXES: &[&str] = &[
    "~",
    ".swp",
    ".swo",
    ".swx",
    ".bak",
    ".orig",
    ".rej",
    ".tmp",
    ".old",
    ".save",
    ".rpmnew",
    ".rpmsave",
    ".rpmorig",
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-dist",
    ".dpkg-bak",
    ".dpkg-tmp",
    ".ucf-old",
    ".ucf-new",
    ".ucf-dist",
    ".pacnew",
    ".pacsave",
];

/// `None` when the file is a manifest to read, else why not.
pub fn skip_reason(path: &Path) -> Option<SkipReason> {
    let name = path.file_name()?.to_string_lossy();
    if name.starts_with('.') {
        return Some(SkipReason::Hidden);
    }
    if (name.starts_with('#') && name.ends_with('#'))
        || LEFTOVER_SUFFIXES
            .iter()
            .any(|suffix| name.ends_with(suffix))
        || name.contains(".dpkg-")
        || name.contains(".ucf-")
    {
        return Some(SkipReason::Leftover);
    }
    let is_manifest = [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if is_manifest {
        None
    } else {
        Some(SkipReason::NotManifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_manifests_and_names_the_rest() {
        let reason = |name: &str| skip_reason(Path::new(name));
        for name in ["web.yaml", "web.yml", "web.json", "etcd.yaml"] {
            assert_eq!(reason(name), None, "{name}");
        }
        for name in [
            "web.yaml.bak",
            "web.yaml~",
            "web.yaml.swp",
            "web.yaml.dpkg-old",
            "web.yaml.rpmnew",
            "#web.yaml#",
            "web.yaml.orig",
        ] {
            assert_eq!(reason(name), Some(SkipReason::Leftover), "{name}");
        }
        assert_eq!(reason(".web.yaml.swp"), Some(SkipReason::Hidden));
        assert_eq!(reason(".web.yaml"), Some(SkipReason::Hidden));
        assert_eq!(reason("README.md"), Some(SkipReason::NotManifest));
    }
}
