//! Rate limiting of repeated lines: the same message from the same place is written at most
//! once per [`REPEAT_WINDOW`]. The repeats in between are counted, and the next line written
//! from that place says how many were left out, so a loop that fails over and over (an accept
//! out of file descriptors, a database that is down) writes one line a second, not millions.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// The shortest time between two writes of one line.
pub(super) const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// Most distinct lines remembered; past it, those not written within the window are
/// forgotten (and a line repeated across many distinct ones is written again).
const REMEMBERED: usize = 1024;

/// What is remembered of a line: when it was last written and how many times it was left out
/// since.
#[derive(Debug, Clone, Copy)]
struct Seen {
    written: Instant,
    left_out: u64,
}

/// What to do with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Write it; the count is how many repeats of it were left out before it.
    Write {
        /// Repeats left out since it was last written.
        left_out: u64,
    },
    /// Leave it out: it was written less than [`REPEAT_WINDOW`] ago.
    LeaveOut,
}

/// The lines recently written, by place and message.
#[derive(Debug, Default)]
pub(super) struct Repeats {
    seen: HashMap<u64, Seen>,
}

impl Repeats {
    /// Whether the line `message` from `file:line` is written at `now`.
    pub(super) fn check(&mut self, now: Instant, file: &str, line: u32, message: &str) -> Verdict {
        let key = key_of(file, line, message);
        if let Some(seen) = self.seen.get_mut(&key) {
            if now.saturating_duration_since(seen.written) < REPEAT_WINDOW {
                seen.left_out += 1;
                return Verdict::LeaveOut;
            }
            let left_out = seen.left_out;
            *seen = Seen {
                written: now,
                left_out: 0,
            };
            return Verdict::Write { left_out };
        }
        if self.seen.len() >= REMEMBERED {
            self.seen
                .retain(|_, seen| now.saturating_duration_since(seen.written) < REPEAT_WINDOW);
        }
        if self.seen.len() < REMEMBERED {
            self.seen.insert(
                key,
                Seen {
                    written: now,
                    left_out: 0,
                },
            );
        }
        Verdict::Write { left_out: 0 }
    }
}

fn key_of(file: &str, line: u32, message: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (file, line, message).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_written_once_a_second_with_the_count_left_out() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        let write = |left_out| Verdict::Write { left_out };
        assert_eq!(repeats.check(start, "a.rs", 1, "accept failed"), write(0));
        for n in 1..1000 {
            let now = start + Duration::from_micros(n * 900);
            assert_eq!(
                repeats.check(now, "a.rs", 1, "accept failed"),
                Verdict::LeaveOut
            );
        }
        assert_eq!(
            repeats.check(start, "a.rs", 2, "accept failed"),
            write(0),
            "another place is another line"
        );
        assert_eq!(
            repeats.check(start, "a.rs", 1, "other message"),
            write(0),
            "another message is another line"
        );
        let later = start + REPEAT_WINDOW;
        assert_eq!(repeats.check(later, "a.rs", 1, "accept failed"), write(999));
        assert_eq!(
            repeats.check(later, "a.rs", 1, "accept failed"),
            Verdict::LeaveOut
        );
        assert_eq!(
            repeats.check(later + REPEAT_WINDOW, "a.rs", 1, "accept failed"),
            write(1)
        );
    }

    #[test]
    fn memory_stays_bounded_by_distinct_lines() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        for n in 0..REMEMBERED * 3 {
            let message = n.to_string();
            assert_eq!(
                repeats.check(start, "a.rs", 1, &message),
                Verdict::Write { left_out: 0 }
            );
        }
        assert_eq!(repeats.seen.len(), REMEMBERED);
        let later = start + REPEAT_WINDOW;
        repeats.check(later, "a.rs", 1, "new");
        assert_eq!(
            repeats.seen.len(),
            1,
            "lines older than the window are forgotten"
        );
    }
}
