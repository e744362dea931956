//! Local wall-clock time as the management protocol and the log file write it.
//!
//! The time zone is the system's (`TZ`, else `/etc/localtime`); when it cannot be determined the
//! time is written in UTC.

use jiff::Zoned;

/// The document `Timestamp` of now: local time as `YYYYMMDDHHMMSS` (SPEC §4.2).
pub fn timestamp() -> String {
    document_timestamp(&Zoned::now())
}

/// The time of a log line: local time as `YYYY-MM-DD HH:MM:SS`.
pub fn log_time() -> String {
    Zoned::now().strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn document_timestamp(time: &Zoned) -> String {
    time.strftime("%Y%m%d%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_the_document_layout() {
        let time: Zoned = "2026-11-24T23:57:07+01:00[Europe/Paris]"
            .parse()
            .expect("a valid zoned time");
        assert_eq!(document_timestamp(&time), "20261124235707");
        let now = timestamp();
        assert_eq!(now.len(), 14, "{now}");
        assert!(now.bytes().all(|b| b.is_ascii_digit()), "{now}");
        assert_eq!(log_time().len(), 19);
    }
}
