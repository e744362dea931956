//! Local wall-clock time as the management protocol and the client's log file write it.

use chrono::Local;

/// The document `Timestamp` of now: local time as `YYYYMMDDHHMMSS` (SPEC §4.2).
pub fn timestamp() -> String {
    pgexporter_os::clock::local_timestamp()
}

/// The time of a log line: local time as `YYYY-MM-DD HH:MM:SS`.
pub fn log_time() -> String {
    Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_their_layouts() {
        let now = timestamp();
        assert_eq!(now.len(), 14, "{now}");
        assert!(now.bytes().all(|b| b.is_ascii_digit()), "{now}");
        let line = log_time();
        assert_eq!(line.len(), 19, "{line}");
        assert_eq!(&line[4..5], "-");
        assert_eq!(&line[13..14], ":");
    }
}
