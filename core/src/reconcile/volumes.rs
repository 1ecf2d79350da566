//! Prepares volumes on the node before a container is created: checks or creates hostPath
//! targets as their `type` says, creates emptyDir directories (a tmpfs mounted on the
//! directory for medium `Memory`, as the kubelet does, so every runtime's bind mount
//! carries it), writes downward API files as the kubelet's atomic writer does, and
//! resolves `subPath`.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::configs::{MountRequest, VolumeSource};
use super::downward;
use crate::model::HostPathType;
use staticpod_runtime::Mount;

/// A volume that cannot be mounted.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The hostPath is not what its `type` requires.
    #[error("hostPath {path} is not a {expected}")]
    WrongType {
        /// The path.
        path: PathBuf,
        /// What `type` asked for.
        expected: &'static str,
    },
    /// Reading a file of the node failed.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Mounting or unmounting a tmpfs failed.
    #[error("cannot {action} a tmpfs at {path}")]
    Mount {
        /// `mount` or `unmount`.
        action: &'static str,
        /// The mount point.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A `subPathExpr` names no path the container may mount.
    #[error("subPathExpr {sub_path:?}: {why}")]
    SubPath {
        /// The expression.
        sub_path: String,
        /// The kubelet's words.
        why: String,
    },
    /// Creating a directory or file failed.
    #[error("cannot create {path}")]
    Create {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Makes every requested mount ready and returns the bind mounts to ask the runtime for.
pub fn prepare(requests: &[MountRequest]) -> Result<Vec<Mount>, VolumeError> {
    requests.iter().map(prepare_one).collect()
}

fn prepare_one(request: &MountRequest) -> Result<Mount, VolumeError> {
    let path = &request.volume_path;
    match &request.source {
        VolumeSource::HostPath(Some(kind)) => check_host_path(path, *kind)?,
        VolumeSource::HostPath(None) => {}
        VolumeSource::EmptyDir => create_dir(path)?,
        VolumeSource::Tmpfs { size } => mount_tmpfs(path, *size)?,
        VolumeSource::Files(files) => write_atomically(path, files)?,
    }
    if let Some(ownership) = &request.ownership {
        ownership.apply(path)?;
    }
    let host_path = match &request.sub_path {
        Some(sub_path) => {
            let joined = path.join(sub_path);
            // The kubelet creates a missing subPath as a directory.
            if !joined.exists() {
                create_dir(&joined)?;
            }
            joined
        }
        None => path.clone(),
    };
    Ok(Mount {
        host_path,
        container_path: request.container_path.clone(),
        read_only: request.read_only,
        propagation: request.propagation,
    })
}

/// Creates (or empties) the termination log file at `path` for a new container instance,
/// and removes `stale`, the file of an instance no longer kept.
pub fn termination_log(path: &Path, stale: Option<&Path>) -> Result<(), VolumeError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::File::create(path).map_err(|source| VolumeError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(stale) = stale {
        let _ = std::fs::remove_file(stale);
    }
    Ok(())
}

/// Writes `text` to the file at `path` (its directory created), for the pod files the
/// agent makes (the hosts file).
pub fn write_file(path: &Path, text: &str) -> Result<(), VolumeError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, text).map_err(|source| VolumeError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// The last [`super::configs::MAX_TERMINATION_MESSAGE`] bytes of a termination log, as text;
/// `None` when there is none or it is empty.
pub fn read_termination_message(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    let start = length.saturating_sub(super::configs::MAX_TERMINATION_MESSAGE);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (!text.is_empty()).then_some(text)
}

/// True when `path` is a mount point: it is on another device than its parent.
fn is_mount_point(path: &Path) -> bool {
    let dev = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.dev()).ok();
    match (dev(path), path.parent().and_then(dev)) {
        (Some(own), Some(parent)) => own != parent,
        _ => false,
    }
}

/// Mounts a tmpfs of at most `size` bytes on the volume's directory, unless one is there
/// from an earlier container of the pod.
fn mount_tmpfs(path: &Path, size: Option<u64>) -> Result<(), VolumeError> {
    create_dir(path)?;
    if is_mount_point(path) {
        return Ok(());
    }
    let options = size
        .map(|bytes| format!("size={bytes}"))
        .unwrap_or_default();
    let options = std::ffi::CString::new(options).expect("no NUL in a number");
    rustix::mount::mount(
        "tmpfs",
        path,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        Some(options.as_c_str()),
    )
    .map_err(|errno| VolumeError::Mount {
        action: "mount",
        path: path.to_path_buf(),
        source: errno.into(),
    })
}

/// Unmounts the tmpfs of every Memory emptyDir under `dir` (a pod's
/// `volumes/kubernetes.io~empty-dir`), before the pod's directory is removed.
pub fn unmount_tmpfs_volumes(dir: &Path) -> Vec<VolumeError> {
    let mut errors = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !is_mount_point(&path) {
            continue;
        }
        if let Err(errno) = rustix::mount::unmount(&path, rustix::mount::UnmountFlags::empty()) {
            errors.push(VolumeError::Mount {
                action: "unmount",
                path,
                source: errno.into(),
            });
        }
    }
    errors
}

/// The link in a downward API volume to the directory of its current files.
const DATA_LINK: &str = "..data";

/// Writes `files` into the volume at `dir` as the kubelet's `AtomicWriter`: into a new
/// timestamped directory `..<time>`, then a `..data` link is swapped to it by a rename, so a
/// reader never sees half of an update; each top-level name is a link through `..data`.
fn write_atomically(dir: &Path, files: &[downward::File]) -> Result<(), VolumeError> {
    let create = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VolumeError::Create { path, source }
    };
    create_dir(dir)?;
    let old = std::fs::read_link(dir.join(DATA_LINK)).ok();
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_nanos(now).to_string();
    let stamp: String = stamp
        .trim_end_matches('Z')
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '_' })
        .collect();
    let name = format!("..{stamp}.{}", std::process::id());
    let target = dir.join(&name);
    create_dir(&target)?;
    for file in files {
        let path = target.join(&file.path);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        std::fs::write(&path, &file.contents).map_err(create(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            .map_err(create(&path))?;
    }
    let top_level: std::collections::BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.path.split('/').find(|part| !part.is_empty()))
        .collect();
    for name in &top_level {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_LINK).join(name), &link)
                .map_err(create(&link))?;
        }
    }
    let staged = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(&name, &staged).map_err(create(&staged))?;
    std::fs::rename(&staged, dir.join(DATA_LINK)).map_err(create(&dir.join(DATA_LINK)))?;
    if let Some(old) = old.filter(|old| *old != Path::new(&name)) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    // Names of an earlier payload that this one no longer has.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let entry_name = entry.file_name();
        let entry_name = entry_name.to_string_lossy();
        if !entry_name.starts_with("..") && !top_level.contains(entry_name.as_ref()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), VolumeError> {
    std::fs::create_dir_all(path).map_err(|source| VolumeError::Create {
        path: path.to_path_buf(),
        source,
    })
}

fn check_host_path(path: &Path, kind: HostPathType) -> Result<(), VolumeError> {
    let metadata = std::fs::metadata(path).ok();
    let wrong = |expected| {
        Err(VolumeError::WrongType {
            path: path.to_path_buf(),
            expected,
        })
    };
    match kind {
        HostPathType::Unset => Ok(()),
        HostPathType::DirectoryOrCreate => match metadata {
            None => create_dir(path),
            Some(m) if m.is_dir() => Ok(()),
            Some(_) => wrong("directory"),
        },
        HostPathType::FileOrCreate => match metadata {
            None => {
                if let Some(parent) = path.parent() {
                    create_dir(parent)?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(drop)
                    .map_err(|source| VolumeError::Create {
                        path: path.to_path_buf(),
                        source,
                    })
            }
            Some(m) if m.is_file() => Ok(()),
            Some(_) => wrong("file"),
        },
        HostPathType::Directory if metadata.as_ref().is_some_and(|m| m.is_dir()) => Ok(()),
        HostPathType::Directory => wrong("directory"),
        HostPathType::File if metadata.as_ref().is_some_and(|m| m.is_file()) => Ok(()),
        HostPathType::File => wrong("file"),
        HostPathType::Socket if metadata.as_ref().is_some_and(|m| m.file_type().is_socket()) => {
            Ok(())
        }
        HostPathType::Socket => wrong("socket"),
        HostPathType::CharDevice
            if metadata
                .as_ref()
                .is_some_and(|m| m.file_type().is_char_device()) =>
        {
            Ok(())
        }
        HostPathType::CharDevice => wrong("character device"),
        HostPathType::BlockDevice
            if metadata
                .as_ref()
                .is_some_and(|m| m.file_type().is_block_device()) =>
        {
            Ok(())
        }
        HostPathType::BlockDevice => wrong("block device"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        path: &Path,
        kind: Option<HostPathType>,
        empty_dir: bool,
        sub_path: Option<&str>,
    ) -> MountRequest {
        MountRequest {
            volume_path: path.to_path_buf(),
            source: if empty_dir {
                VolumeSource::EmptyDir
            } else {
                VolumeSource::HostPath(kind)
            },
            sub_path: sub_path.map(str::to_string),
            container_path: "/data".to_string(),
            read_only: true,
            propagation: Default::default(),
            ownership: None,
        }
    }

    #[test]
    fn creates_and_checks_as_the_type_says() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let mounts = prepare(&[request(
            &made,
            Some(HostPathType::DirectoryOrCreate),
            false,
            Some("sub"),
        )])
        .unwrap();
        assert!(made.join("sub").is_dir());
        assert_eq!(mounts[0].host_path, made.join("sub"));
        assert!(mounts[0].read_only);
        let file = dir.path().join("f/conf");
        prepare(&[request(
            &file,
            Some(HostPathType::FileOrCreate),
            false,
            None,
        )])
        .unwrap();
        assert!(file.is_file());
        let error =
            prepare(&[request(&file, Some(HostPathType::Directory), false, None)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("hostPath {} is not a directory", file.display())
        );
        assert!(
            prepare(&[request(
                &dir.path().join("nope"),
                Some(HostPathType::File),
                false,
                None
            )])
            .is_err()
        );
        let scratch = dir
            .path()
            .join("pods/u/volumes/kubernetes.io~empty-dir/cache");
        prepare(&[request(&scratch, None, true, None)]).unwrap();
        assert!(scratch.is_dir());
    }

    #[test]
    fn downward_files_are_swapped_in_through_a_data_link() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("info");
        let file = |path: &str, contents: &str, mode| downward::File {
            path: path.to_string(),
            contents: contents.to_string(),
            mode,
        };
        let first = [
            file("name", "web", 0o644),
            file("meta/labels", "a=\"b\"", 0o600),
        ];
        write_atomically(&volume, &first).unwrap();
        assert_eq!(std::fs::read_to_string(volume.join("name")).unwrap(), "web");
        assert_eq!(
            std::fs::read_to_string(volume.join("meta/labels")).unwrap(),
            "a=\"b\""
        );
        let mode = std::fs::metadata(volume.join("meta/labels"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(volume.join("name")).unwrap(),
            Path::new("..data/name")
        );
        let old = std::fs::read_link(volume.join(DATA_LINK)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        write_atomically(&volume, &[file("name", "api", 0o644)]).unwrap();
        assert_eq!(std::fs::read_to_string(volume.join("name")).unwrap(), "api");
        assert!(!volume.join(&old).exists(), "the old payload is removed");
        assert!(
            !volume.join("meta").exists(),
            "a name no longer written is removed"
        );
    }
}
