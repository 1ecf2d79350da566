//! Where things live: the workspace root and our directories under `target/`.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory), as an absolute path.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `target/` of the workspace. Deliberately not `CARGO_TARGET_DIR`: runtime state and
/// images must stay at paths that users and tests can find without asking cargo.
pub fn target() -> PathBuf {
    root().join("target")
}

/// The state directory of one runtime that xtask provisions: `target/runtimes/<name>`.
pub fn runtime_dir(name: &str) -> PathBuf {
    target().join("runtimes").join(name)
}

/// Where the offline test images are written: `target/images`.
pub fn images_dir() -> PathBuf {
    target().join("images")
}

/// xtask's own logs (package installs): `target/xtask`.
pub fn xtask_dir() -> PathBuf {
    target().join("xtask")
}
