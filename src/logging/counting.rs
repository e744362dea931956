//! The count of lines written at each level, read by the `pgexporter_logging_*` families.

use std::sync::atomic::{AtomicU64, Ordering};

use pgexporter_core::scrape::LogCounters;

use super::level::Severity;

/// Lines written, by level; TRACE and DEBUG lines are not counted (no family reports them).
#[derive(Debug, Default)]
pub(super) struct LineCounts {
    info: AtomicU64,
    warn: AtomicU64,
    error: AtomicU64,
    fatal: AtomicU64,
}

impl LineCounts {
    /// Counts one line written at `severity`.
    pub(super) fn count(&self, severity: Severity) {
        let counter = match severity {
            Severity::Trace | Severity::Debug => return,
            Severity::Info => &self.info,
            Severity::Warn => &self.warn,
            Severity::Error => &self.error,
            Severity::Fatal => &self.fatal,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(super) fn snapshot(&self) -> LogCounters {
        LogCounters {
            info: self.info.load(Ordering::Relaxed),
            warn: self.warn.load(Ordering::Relaxed),
            error: self.error.load(Ordering::Relaxed),
            fatal: self.fatal.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_its_counter() {
        let counts = LineCounts::default();
        for severity in [
            Severity::Trace,
            Severity::Debug,
            Severity::Info,
            Severity::Warn,
            Severity::Warn,
            Severity::Error,
            Severity::Error,
            Severity::Error,
            Severity::Fatal,
        ] {
            counts.count(severity);
        }
        assert_eq!(
            counts.snapshot(),
            LogCounters {
                info: 1,
                warn: 2,
                error: 3,
                fatal: 1
            }
        );
    }
}
