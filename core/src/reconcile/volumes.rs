//! Prepares volumes on the node before a container is created: checks or creates hostPath
//! targets as their `type` says, creates emptyDir directories, and resolves `subPath`.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::configs::MountRequest;
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
    if request.empty_dir {
        create_dir(path)?;
    } else if let Some(kind) = request.host_path_type {
        check_host_path(path, kind)?;
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
            host_path_type: kind,
            empty_dir,
            sub_path: sub_path.map(str::to_string),
            container_path: "/data".to_string(),
            read_only: true,
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
}
