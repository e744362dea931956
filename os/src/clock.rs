//! The clocks, read here and passed to the core as inputs.

use std::time::Instant;

/// The monotonic clock's reading now.
pub fn now() -> Instant {
    Instant::now()
}

/// The local time as `YYYYMMDDHHMMSS`, as management documents carry it.
pub fn local_timestamp() -> String {
    chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
}
