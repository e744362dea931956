//! Log output of the daemon, and the count of lines written at each level for the
//! `pgexporter_logging_*` families.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pgexporter_core::config::LogLevel;
use pgexporter_core::scrape::LogCounters;
use pgexporter_net::serve::LogSource;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Lines written, by level.
#[derive(Default)]
struct LineCounts {
    info: AtomicU64,
    warn: AtomicU64,
    error: AtomicU64,
}

impl LineCounts {
    fn snapshot(&self) -> LogCounters {
        LogCounters {
            info: self.info.load(Ordering::Relaxed),
            warn: self.warn.load(Ordering::Relaxed),
            error: self.error.load(Ordering::Relaxed),
            fatal: 0,
        }
    }
}

/// Counts the events that pass the level filter, that is the lines actually written.
struct CountingLayer(Arc<LineCounts>);

impl<S: Subscriber> Layer<S> for CountingLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let counter = match *event.metadata().level() {
            Level::INFO => &self.0.info,
            Level::WARN => &self.0.warn,
            Level::ERROR => &self.0.error,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The tracing level of a `log_level` (debug2 to debug5 are TRACE, SPEC §7).
fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug5 | LogLevel::Debug4 | LogLevel::Debug3 | LogLevel::Debug2 => {
            LevelFilter::TRACE
        }
        LogLevel::Debug1 => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::Fatal => LevelFilter::ERROR,
    }
}

/// Installs console logging at `level` on standard error, and returns the line counters.
/// Call once, before anything logs.
pub fn init(level: LogLevel) -> LogSource {
    let counts = Arc::new(LineCounts::default());
    let filter = level_filter(level);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_filter(filter),
        )
        .with(CountingLayer(Arc::clone(&counts)).with_filter(filter))
        .init();
    Arc::new(move || counts.snapshot())
}
