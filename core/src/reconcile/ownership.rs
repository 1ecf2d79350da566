//! A pod's `fsGroup` on its volumes, as the kubelet's `SetVolumeOwnership`
//! (`pkg/volume/volume_linux.go`) applies it to the volumes it manages (emptyDir, downward
//! API): every file and directory gets the group, group read and write (read only on a
//! read-only volume), directories the group's search bit and setgid, so that files created
//! later keep the group. Symbolic links are left alone. With `fsGroupChangePolicy:
//! OnRootMismatch` nothing is walked when the volume's root has them already.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::volumes::VolumeError;

/// The group a volume is given, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// The `fsGroup`.
    pub gid: u32,
    /// `fsGroupChangePolicy: OnRootMismatch`.
    pub on_root_mismatch: bool,
    /// The volume is mounted read-only: group read, not write.
    pub read_only: bool,
}

const READ_WRITE: u32 = 0o660;
const READ_ONLY: u32 = 0o440;
const SEARCH: u32 = 0o110;
const SETGID: u32 = 0o2000;

impl Ownership {
    /// The mode bits every entry of the volume must have (a directory's with search and
    /// setgid).
    fn mask(&self, dir: bool) -> u32 {
        let mask = if self.read_only {
            READ_ONLY
        } else {
            READ_WRITE
        };
        if dir { mask | SEARCH | SETGID } else { mask }
    }

    /// Gives the volume at `root` the group (blocking).
    pub fn apply(&self, root: &Path) -> Result<(), VolumeError> {
        if self.on_root_mismatch && self.root_matches(root) {
            return Ok(());
        }
        self.walk(root)
    }

    fn root_matches(&self, root: &Path) -> bool {
        std::fs::metadata(root).is_ok_and(|meta| {
            let mask = self.mask(meta.is_dir());
            meta.gid() == self.gid && meta.mode() & mask == mask
        })
    }

    fn walk(&self, path: &Path) -> Result<(), VolumeError> {
        let failed = |source| VolumeError::Create {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::symlink_metadata(path).map_err(failed)?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, None, Some(self.gid)).map_err(failed)?;
        let mode = meta.mode() | self.mask(meta.is_dir());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(failed)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).map_err(failed)? {
                self.walk(&entry.map_err(failed)?.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> (u32, u32) {
        let meta = std::fs::metadata(path).unwrap();
        (meta.gid(), meta.mode() & 0o7777)
    }

    #[test]
    fn every_entry_gets_the_group_and_directories_keep_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sub");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.join("data");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("data", dir.join("link")).unwrap();
        let gid = 4321;
        let ownership = Ownership {
            gid,
            on_root_mismatch: false,
            read_only: false,
        };
        ownership.apply(root.path()).unwrap();
        assert_eq!(mode(&dir), (gid, 0o2770));
        assert_eq!(mode(&file), (gid, 0o660));
        let link = std::fs::symlink_metadata(dir.join("link")).unwrap();
        assert_ne!(link.gid(), gid, "a link is not followed nor changed");
        let read_only = Ownership {
            gid: 4322,
            read_only: true,
            ..ownership
        };
        read_only.apply(root.path()).unwrap();
        assert_eq!(mode(&file), (4322, 0o660), "bits are added, never taken");
    }

    #[test]
    fn on_root_mismatch_walks_only_when_the_root_differs() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("data");
        std::fs::write(&file, "x").unwrap();
        let ownership = Ownership {
            gid: 4321,
            on_root_mismatch: true,
            read_only: false,
        };
        ownership.apply(root.path()).unwrap();
        assert_eq!(
            mode(&file).0,
            4321,
            "a root without the group is a mismatch"
        );
        std::os::unix::fs::lchown(&file, None, Some(0)).unwrap();
        ownership.apply(root.path()).unwrap();
        assert_eq!(mode(&file).0, 0, "a matching root is not walked");
    }
}
