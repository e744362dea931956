//! Severities of log lines and the live threshold below which lines are dropped.
//!
//! tracing has no FATAL level: a FATAL line is an ERROR event carrying a field named
//! [`FATAL_FIELD`] (whatever its value), or a line written by `Logging::fatal`.

use std::sync::atomic::{AtomicU8, Ordering};

use pgexporter_core::config::LogLevel;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::LevelFilter;

/// The field that turns an ERROR event into a FATAL line: `tracing::error!(fatal = true, ...)`.
pub const FATAL_FIELD: &str = "fatal";

/// The severity of one line, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    const ALL: [Severity; 6] = [
        Severity::Trace,
        Severity::Debug,
        Severity::Info,
        Severity::Warn,
        Severity::Error,
        Severity::Fatal,
    ];

    /// The severity of the lines a callsite writes.
    pub(super) fn of(metadata: &Metadata<'_>) -> Severity {
        match *metadata.level() {
            Level::TRACE => Severity::Trace,
            Level::DEBUG => Severity::Debug,
            Level::INFO => Severity::Info,
            Level::WARN => Severity::Warn,
            _ if metadata.fields().field(FATAL_FIELD).is_some() => Severity::Fatal,
            _ => Severity::Error,
        }
    }

    /// The least severe line written at `log_level` (debug2 to debug5 are TRACE, SPEC §7).
    pub(super) fn threshold(level: LogLevel) -> Severity {
        match level {
            LogLevel::Debug5 | LogLevel::Debug4 | LogLevel::Debug3 | LogLevel::Debug2 => {
                Severity::Trace
            }
            LogLevel::Debug1 => Severity::Debug,
            LogLevel::Info => Severity::Info,
            LogLevel::Warn => Severity::Warn,
            LogLevel::Error => Severity::Error,
            LogLevel::Fatal => Severity::Fatal,
        }
    }

    /// The level name as written in a line.
    pub(super) fn name(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    /// The ANSI colour of the level name on a terminal (the reference's colours).
    pub(super) fn colour(self) -> &'static str {
        match self {
            Severity::Trace => "\x1b[37m",
            Severity::Debug => "\x1b[36m",
            Severity::Info => "\x1b[32m",
            Severity::Warn => "\x1b[91m",
            Severity::Error => "\x1b[31m",
            Severity::Fatal => "\x1b[35m",
        }
    }

    /// The syslog severity code (RFC 3164 table 2).
    pub(super) fn syslog_code(self) -> u8 {
        match self {
            Severity::Trace | Severity::Debug => 7,
            Severity::Info => 6,
            Severity::Warn => 4,
            Severity::Error => 3,
            Severity::Fatal => 2,
        }
    }

    /// The tracing level of the callsites that may write lines of this severity.
    fn level_filter(self) -> LevelFilter {
        match self {
            Severity::Trace => LevelFilter::TRACE,
            Severity::Debug => LevelFilter::DEBUG,
            Severity::Info => LevelFilter::INFO,
            Severity::Warn => LevelFilter::WARN,
            Severity::Error | Severity::Fatal => LevelFilter::ERROR,
        }
    }
}

/// The least severe line that is written, changeable while lines are being written.
pub(super) struct Threshold(AtomicU8);

impl Threshold {
    /// A threshold at `severity`.
    pub(super) fn new(severity: Severity) -> Threshold {
        Threshold(AtomicU8::new(severity as u8))
    }

    /// The current threshold.
    pub(super) fn get(&self) -> Severity {
        let stored = self.0.load(Ordering::Relaxed);
        Severity::ALL
            .into_iter()
            .find(|severity| *severity as u8 == stored)
            .unwrap_or(Severity::Trace)
    }

    /// Moves the threshold to `severity`; true when it changed.
    pub(super) fn set(&self, severity: Severity) -> bool {
        self.0.swap(severity as u8, Ordering::Relaxed) != severity as u8
    }

    /// Whether a line of `severity` is written.
    pub(super) fn allows(&self, severity: Severity) -> bool {
        severity as u8 >= self.0.load(Ordering::Relaxed)
    }

    /// The most verbose tracing level that can pass, for tracing's static filtering.
    pub(super) fn level_filter(&self) -> LevelFilter {
        self.get().level_filter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_levels_map_as_the_spec_says() {
        for level in [
            LogLevel::Debug5,
            LogLevel::Debug4,
            LogLevel::Debug3,
            LogLevel::Debug2,
        ] {
            assert_eq!(Severity::threshold(level), Severity::Trace);
        }
        assert_eq!(Severity::threshold(LogLevel::Debug1), Severity::Debug);
        assert_eq!(Severity::threshold(LogLevel::Info), Severity::Info);
        assert_eq!(Severity::threshold(LogLevel::Warn), Severity::Warn);
        assert_eq!(Severity::threshold(LogLevel::Error), Severity::Error);
        assert_eq!(Severity::threshold(LogLevel::Fatal), Severity::Fatal);
    }

    #[test]
    fn threshold_allows_its_level_and_above() {
        let threshold = Threshold::new(Severity::Warn);
        assert!(!threshold.allows(Severity::Info));
        assert!(threshold.allows(Severity::Warn));
        assert!(threshold.allows(Severity::Fatal));
        assert_eq!(threshold.level_filter(), LevelFilter::WARN);
        assert!(threshold.set(Severity::Fatal));
        assert!(!threshold.set(Severity::Fatal));
        assert_eq!(threshold.get(), Severity::Fatal);
        assert!(!threshold.allows(Severity::Error));
        assert!(threshold.allows(Severity::Fatal));
        assert_eq!(threshold.level_filter(), LevelFilter::ERROR);
    }

    #[test]
    fn every_severity_round_trips_through_the_threshold() {
        let threshold = Threshold::new(Severity::Info);
        for severity in Severity::ALL {
            threshold.set(severity);
            assert_eq!(threshold.get(), severity);
        }
    }

    #[test]
    fn syslog_codes_follow_rfc_3164() {
        assert_eq!(Severity::Fatal.syslog_code(), 2);
        assert_eq!(Severity::Error.syslog_code(), 3);
        assert_eq!(Severity::Warn.syslog_code(), 4);
        assert_eq!(Severity::Info.syslog_code(), 6);
        assert_eq!(Severity::Debug.syslog_code(), 7);
        assert_eq!(Severity::Trace.syslog_code(), 7);
    }
}
