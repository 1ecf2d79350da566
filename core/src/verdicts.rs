//! What the probes of the running containers say at one moment: the snapshot the prober
//! publishes and the planner and the status read. A leaf: it knows nothing of either side.

use std::collections::BTreeMap;

/// What the probes of one container say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// The startup probe passed (or there is none).
    pub started: bool,
    /// The readiness probe passes (or there is none).
    pub ready: bool,
    /// The liveness or startup probe failed: the container must be restarted. The message
    /// says which probe and why.
    pub failed: Option<String>,
}

/// The verdicts of every probed container, by container id. A container without probes,
/// or whose probes have not run yet, has none.
pub type ProbeVerdicts = BTreeMap<String, Verdicts>;
