//! Whether a server may be connected to now: after a failed connection the server is left
//! alone for a while that doubles with each failure in a row, so that a server that is down
//! or a login stuck behind a lock does not cost a connection attempt and a log line per scrape.

use std::time::{Duration, Instant};

/// The wait after the first failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One server's recent connection failures.
#[derive(Debug, Clone, Default)]
pub(super) struct Reachability {
    /// Failures in a row since the last connection that became ready.
    failures: u32,
    /// No new connection before this.
    retry_at: Option<Instant>,
}

impl Reachability {
    /// Whether a new connection may be opened at `now`.
    pub fn may_connect(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    /// A connection failed before it became ready: the next attempt waits. Returns whether
    /// this is the first failure in a row (a change of state, worth a warning).
    pub fn failed(&mut self, now: Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(16);
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF);
        self.retry_at = Some(now + wait);
        self.failures == 1
    }

    /// A connection became ready. Returns whether the server was failing until now.
    pub fn connected(&mut self) -> bool {
        let was_failing = self.failures > 0;
        *self = Reachability::default();
        was_failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_and_a_connection_resets_them() {
        let now = crate::test_clock::origin();
        let mut reachability = Reachability::default();
        assert!(reachability.may_connect(now));
        assert!(
            reachability.failed(now),
            "the first failure changes the state"
        );
        assert!(!reachability.may_connect(now + Duration::from_millis(999)));
        assert!(reachability.may_connect(now + FIRST_BACKOFF));
        let mut waits = Vec::new();
        for _ in 0..8 {
            assert!(
                !reachability.failed(now),
                "later failures are the same state"
            );
            let wait = (1..=MAX_BACKOFF.as_secs())
                .map(Duration::from_secs)
                .find(|&wait| reachability.may_connect(now + wait))
                .unwrap();
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(reachability.connected());
        assert!(reachability.may_connect(now));
        assert!(!reachability.connected());
    }
}
