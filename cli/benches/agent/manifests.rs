//! The pods the bench writes: the latency phases' shapes, the scale phase's sleeper, and
//! how a manifest lands in the directory.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;

/// A container that traps SIGTERM, so stopping it takes no grace period.
pub const SLEEPER: &str = "[sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]";

/// The pod shapes of the latency phases.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// nginx alone.
    One,
    /// nginx and three busybox sleepers.
    Four,
}

impl Shape {
    /// Its name in pod names and in the report.
    pub fn label(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::Four => "four",
        }
    }

    /// The name of its pod in run `run` (`one-r3`).
    pub fn pod_name(self, run: usize) -> String {
        format!("{}-r{run}", self.label())
    }

    /// How many containers its pod has.
    pub fn containers(self) -> usize {
        match self {
            Shape::One => 1,
            Shape::Four => 4,
        }
    }

    /// The manifest; `revision` goes into an env var, so a new revision is a new pod UID.
    pub fn manifest(self, name: &str, revision: u32) -> String {
        let mut text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: bench\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - name: REVISION\n      value: \"{revision}\"\n"
        );
        if let Shape::Four = self {
            for side in ["a", "b", "c"] {
                text.push_str(&format!(
                    "  - name: side-{side}\n    image: busybox:1.36\n    command: {SLEEPER}\n"
                ));
            }
        }
        text
    }
}

/// One busybox sleeper, the pods of the scale phase.
pub fn scale_manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n    command: {SLEEPER}\n"
    )
}

/// Writes a manifest the way config managers do: a dot file, renamed into place. Returns
/// the moment just before the rename, where every measurement starts.
pub fn write_manifest(dir: &Path, file: &str, text: &str) -> Result<SystemTime> {
    let temporary = dir.join(format!(".{file}.tmp"));
    std::fs::write(&temporary, text)?;
    let t0 = SystemTime::now();
    std::fs::rename(&temporary, dir.join(file))?;
    Ok(t0)
}
