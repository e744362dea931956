//! The clock the shared code reads, outside the core: the core takes time as an input, and its
//! own tests start their timelines here too.

use std::time::Instant;

/// The monotonic clock's reading now.
pub fn now() -> Instant {
    Instant::now()
}
