//! When a request's answer is due, and the bounds a client's scrape timeout is held to.

use std::time::{Duration, Instant};

/// The shortest scrape timeout a request may ask for: a shorter
/// `X-Prometheus-Scrape-Timeout-Seconds` is raised to it.
pub const MIN_SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest scrape timeout a request may ask for: a longer one is lowered to it.
pub const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(120);

/// Most time kept back from a request's scrape timeout, so the answer arrives before the
/// client gives up.
const MAX_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The deadline of a request made at `now` by a client that waits `timeout`, held between
/// [`MIN_SCRAPE_TIMEOUT`] and [`MAX_SCRAPE_TIMEOUT`]: a tenth of it (at most
/// [`MAX_DEADLINE_MARGIN`]) is kept for rendering and sending.
pub fn request_deadline(now: Instant, timeout: Duration) -> Instant {
    let timeout = timeout.clamp(MIN_SCRAPE_TIMEOUT, MAX_SCRAPE_TIMEOUT);
    now + timeout - (timeout / 10).min(MAX_DEADLINE_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_held_to_their_bounds_less_a_margin() {
        let now = crate::test_clock::origin();
        let cases = [
            (Duration::from_millis(1), Duration::from_millis(900)),
            (Duration::ZERO, Duration::from_millis(900)),
            (Duration::from_secs(4), Duration::from_millis(3600)),
            (Duration::from_secs(30), Duration::from_secs(29)),
            (Duration::from_secs(86_400), Duration::from_secs(119)),
        ];
        for (timeout, after) in cases {
            assert_eq!(request_deadline(now, timeout), now + after, "{timeout:?}");
        }
    }
}
