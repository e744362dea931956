//! How long a listener rests after a failed accept.
//!
//! An accept fails when the process is out of file descriptors (or the system out of
//! memory); the waiting connection stays in the listen queue, so trying again at once fails
//! again at once: a loop that does spins and logs without end. A listener rests instead,
//! [`FIRST_REST`] after the first failure, twice as long after each next one up to
//! [`LONGEST_REST`], and accepts at full speed again after its first success.

use std::time::{Duration, Instant};

/// The rest after a first failed accept.
pub const FIRST_REST: Duration = Duration::from_millis(100);

/// The longest rest: a listener whose accepts keep failing tries once a second.
pub const LONGEST_REST: Duration = Duration::from_secs(1);

/// One listener's rests; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct AcceptBackoff {
    /// The last rest, zero while accepts succeed.
    rest: Duration,
    /// When the current rest ends.
    resume_at: Option<Instant>,
}

impl AcceptBackoff {
    /// An accept failed at `now`: the instant until which the listener rests.
    pub fn failed(&mut self, now: Instant) -> Instant {
        self.rest = if self.rest.is_zero() {
            FIRST_REST
        } else {
            (self.rest * 2).min(LONGEST_REST)
        };
        let resume_at = now + self.rest;
        self.resume_at = Some(resume_at);
        resume_at
    }

    /// An accept succeeded: the next failure rests [`FIRST_REST`] again.
    pub fn accepted(&mut self) {
        self.rest = Duration::ZERO;
        self.resume_at = None;
    }

    /// When the current rest ends, while the listener rests at `now`.
    #[must_use]
    pub fn resting_until(&self, now: Instant) -> Option<Instant> {
        self.resume_at.filter(|at| now < *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::origin;

    #[test]
    fn rests_double_up_to_a_second_and_reset_after_a_success() {
        let now = origin();
        let mut backoff = AcceptBackoff::default();
        assert_eq!(backoff.resting_until(now), None);
        let rests: Vec<Duration> = (0..6).map(|_| backoff.failed(now) - now).collect();
        let millis: Vec<u128> = rests.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.resting_until(now), Some(now + LONGEST_REST));
        assert_eq!(backoff.resting_until(now + LONGEST_REST), None);
        backoff.accepted();
        assert_eq!(backoff.failed(now) - now, FIRST_REST);
    }
}
