//! Prometheus exposition: the text format 0.0.4 and OpenMetrics 1.0.0.
//!
//! [`Encoder`] writes metric families into a caller-owned [`BytesMut`](bytes::BytesMut), one
//! family at a time, so a scrape can stream families out as query results arrive and reuse its
//! buffers between scrapes. [`value`] maps the text PostgreSQL returns to sample values and label
//! values (SPEC §6.1) and parses PostgreSQL array text for histograms.
//!
//! ```
//! use bytes::BytesMut;
//! use pgexporter_core::exposition::{Encoder, Format, MetricType};
//!
//! let encoder = Encoder::new(Format::Text);
//! let mut out = BytesMut::new();
//! let mut family = encoder.family(&mut out, "pgexporter_state", "1 while running", MetricType::Gauge);
//! family.sample(&[], 1.0);
//! encoder.finish(&mut out);
//! assert_eq!(
//!     std::str::from_utf8(&out).unwrap(),
//!     concat!(
//!         "# HELP pgexporter_state 1 while running\n",
//!         "# TYPE pgexporter_state gauge\n",
//!         "pgexporter_state 1\n",
//!     )
//! );
//! ```

mod encoder;
mod escape;
pub mod merge;
mod name;
pub mod parse;
pub mod value;

pub mod strict_parser;

pub use encoder::{
    Encoder, FamilyWriter, Histogram, HistogramError, HistogramWriter, LabelBlock, LabelBlocks,
};
pub use name::{sanitize_label_name, sanitize_metric_name};

/// Appends `value` as both formats write sample values: `NaN`, `+Inf`, `-Inf`, whole numbers
/// without a decimal point, other numbers in the shortest form that reads back exactly.
pub fn write_sample_value(out: &mut bytes::BytesMut, value: f64) {
    escape::write_value(out, value);
}

/// The exposition format of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics text format 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The type of a family of single-value samples, as written on its `# TYPE` line.
///
/// Histograms have their own constructor, [`Encoder::histogram_family`], since their samples
/// are written differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up (reset on restart).
    Counter,
    /// No type given: `untyped` in the text format, `unknown` in OpenMetrics.
    Untyped,
}

impl MetricType {
    /// The word written after the family name on the `# TYPE` line in `format`.
    pub fn type_word(self, format: Format) -> &'static str {
        match (self, format) {
            (MetricType::Gauge, _) => "gauge",
            (MetricType::Counter, _) => "counter",
            (MetricType::Untyped, Format::Text) => "untyped",
            (MetricType::Untyped, Format::OpenMetrics) => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_name_the_version() {
        assert_eq!(
            Format::Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(Format::OpenMetrics.content_type().contains("version=1.0.0"));
    }

    #[test]
    fn untyped_is_unknown_in_openmetrics() {
        assert_eq!(MetricType::Untyped.type_word(Format::Text), "untyped");
        assert_eq!(
            MetricType::Untyped.type_word(Format::OpenMetrics),
            "unknown"
        );
        assert_eq!(
            MetricType::Counter.type_word(Format::OpenMetrics),
            "counter"
        );
    }
}
