//! The clocks, read here and passed to the core as inputs.

use std::time::{Duration, Instant, SystemTime};

/// The monotonic clock's reading now.
pub fn now() -> Instant {
    Instant::now()
}

/// The local time as `YYYYMMDDHHMMSS`, as management documents carry it.
pub fn local_timestamp() -> String {
    chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
}

/// The wall clock's reading now, as the time since the Unix epoch (zero before it).
pub fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}
