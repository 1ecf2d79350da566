//! Capped doubling back-off: waits of `initial`, twice that, four times that, and so on up
//! to `max`, for retrying whatever failed (a runtime that is down, a pod's work, an event
//! stream that broke).

use std::time::Duration;

/// The wait after `doublings` doublings of `initial`, capped at `max`; never overflows.
pub fn capped_doubling(initial: Duration, max: Duration, doublings: u32) -> Duration {
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// Doubling delays between attempts, from `initial` up to `max`, back to `initial` on
/// [`Backoff::reset`].
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Delays handed out since the start or the last reset.
    attempts: u32,
}

impl Backoff {
    /// Starts at `initial`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempts: 0,
        }
    }

    /// The delay to wait now; the following one is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = capped_doubling(self.initial, self.max, self.attempts);
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    /// Back to the initial delay, once an attempt worked.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_doubling_doubles_up_to_the_cap_without_overflowing() {
        let delay = |n| capped_doubling(Duration::from_secs(10), Duration::from_secs(300), n);
        let delays: Vec<u64> = (0..7).map(|n| delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(delay(31), Duration::from_secs(300));
        assert_eq!(delay(32), Duration::from_secs(300));
        assert_eq!(delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<u128> = (0..9).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn backoff_cap_below_a_doubling() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(3));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
    }
}
