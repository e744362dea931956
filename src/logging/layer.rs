//! The tracing layer that filters events by the live threshold and writes them as lines.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};

use super::Shared;
use super::format::{Record, Stamp};
use super::level::{FATAL_FIELD, Severity};

/// Writes every event at or above the threshold. Callsites below it are disabled in tracing's
/// interest cache, so they cost nothing until the threshold moves (`Logging::apply` rebuilds
/// the cache).
pub(super) struct LogLayer(Arc<Shared>);

impl LogLayer {
    pub(super) fn new(shared: Arc<Shared>) -> LogLayer {
        LogLayer(shared)
    }

    fn allows(&self, metadata: &Metadata<'_>) -> bool {
        self.0.threshold.allows(Severity::of(metadata))
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.allows(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _context: Context<'_, S>) -> bool {
        self.allows(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.0.threshold.level_filter())
    }

    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let metadata = event.metadata();
        let severity = Severity::of(metadata);
        if !self.0.threshold.allows(severity) {
            return;
        }
        let mut text = EventText::default();
        event.record(&mut text);
        let message = text.into_message();
        let record = Record {
            severity,
            file: metadata.file().unwrap_or("?"),
            line: metadata.line().unwrap_or(0),
            message: &message,
        };
        self.0.emit(Stamp::now(), &record);
    }
}

/// The message of an event followed by its other fields as `name=value`.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl EventText {
    fn into_message(mut self) -> String {
        if !self.fields.is_empty() {
            if !self.message.is_empty() {
                self.message.push(' ');
            }
            self.message.push_str(&self.fields);
        }
        self.message
    }

    /// Where the value of `field` goes, `None` for the FATAL marker.
    fn target(&mut self, field: &Field) -> Option<&mut String> {
        match field.name() {
            "message" => Some(&mut self.message),
            FATAL_FIELD => None,
            name => {
                if !self.fields.is_empty() {
                    self.fields.push(' ');
                }
                self.fields.push_str(name);
                self.fields.push('=');
                Some(&mut self.fields)
            }
        }
    }
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(out) = self.target(field) {
            out.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(out) = self.target(field) {
            // Formatting into a String cannot fail.
            let _ = write!(out, "{value:?}");
        }
    }
}
