//! The clocks, read here and passed to the core as inputs.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The monotonic clock's reading now.
pub fn now() -> Instant {
    Instant::now()
}

/// The wall clock: seconds since the Unix epoch (negative before it).
pub fn epoch_seconds() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

/// The local time as `YYYYMMDDHHMMSS`, as management documents carry it.
pub fn local_timestamp() -> String {
    chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
}
