//! Consecutive results against a probe's thresholds: a probe's verdict changes only after
//! `successThreshold` successes or `failureThreshold` failures in a row, as the kubelet's.

use crate::handler::Outcome;

/// Counts consecutive results of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    passing: bool,
}

impl Threshold {
    /// A counter whose verdict starts as `passing`.
    pub fn new(success_threshold: i32, failure_threshold: i32, passing: bool) -> Self {
        Threshold {
            success_threshold: success_threshold.max(1).unsigned_abs(),
            failure_threshold: failure_threshold.max(1).unsigned_abs(),
            successes: 0,
            failures: 0,
            passing,
        }
    }

    /// Records one result; returns the new verdict when it changed.
    pub fn record(&mut self, outcome: &Outcome) -> Option<bool> {
        match outcome {
            Outcome::Success | Outcome::Warning(_) => {
                self.successes += 1;
                self.failures = 0;
                if !self.passing && self.successes >= self.success_threshold {
                    self.passing = true;
                    return Some(true);
                }
            }
            Outcome::Failure(_) => {
                self.failures += 1;
                self.successes = 0;
                if self.passing && self.failures >= self.failure_threshold {
                    self.passing = false;
                    return Some(false);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_only_after_enough_results_in_a_row() {
        let fail = Outcome::Failure("x".into());
        let mut liveness = Threshold::new(1, 3, true);
        assert_eq!(liveness.record(&fail), None);
        assert_eq!(liveness.record(&fail), None);
        assert_eq!(
            liveness.record(&Outcome::Success),
            None,
            "a success resets the count"
        );
        assert_eq!(liveness.record(&fail), None);
        assert_eq!(liveness.record(&fail), None);
        assert_eq!(liveness.record(&fail), Some(false));
        assert_eq!(liveness.record(&fail), None, "reported once");
        let mut readiness = Threshold::new(2, 1, false);
        assert_eq!(readiness.record(&Outcome::Success), None);
        assert_eq!(readiness.record(&Outcome::Success), Some(true));
        assert_eq!(readiness.record(&fail), Some(false));
    }
}
