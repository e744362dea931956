//! The family-by-family encoder.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::escape::{write_help, write_label_value, write_value};
use super::name::{sanitize_label_name, sanitize_metric_name};
use super::{Format, MetricType};

/// The suffix OpenMetrics requires on every counter sample.
const TOTAL_SUFFIX: &str = "_total";

/// Writes metric families in one [`Format`] into caller-owned buffers.
///
/// Open each family once with [`Encoder::family`] or [`Encoder::histogram_family`] (this writes
/// its `# HELP` and `# TYPE` lines), write its samples through the returned writer, then open
/// the next. Opening the same family twice is a caller error the encoder does not detect: the
/// formats require each family once. End the body with [`Encoder::finish`].
///
/// Names are sanitised as [`sanitize_metric_name`] and [`sanitize_label_name`] describe; a
/// family with empty help text gets no `# HELP` line.
///
/// Counters in OpenMetrics: the `# TYPE` line names the family without `_total` and every
/// sample carries it, whether or not the given name ends in `_total`:
///
/// ```
/// use bytes::BytesMut;
/// use pgexporter_core::exposition::{Encoder, Format, MetricType};
///
/// for (format, expected) in [
///     (Format::Text, "# HELP q_total Queries.\n# TYPE q_total counter\nq_total{server=\"a\"} 7\n"),
///     (Format::OpenMetrics, "# HELP q Queries.\n# TYPE q counter\nq_total{server=\"a\"} 7\n# EOF\n"),
/// ] {
///     let encoder = Encoder::new(format);
///     let mut out = BytesMut::new();
///     encoder.family(&mut out, "q_total", "Queries.", MetricType::Counter)
///         .sample(&[("server", "a")], 7.0);
///     encoder.finish(&mut out);
///     assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    format: Format,
}

impl Encoder {
    /// An encoder writing `format`.
    pub fn new(format: Format) -> Self {
        Encoder { format }
    }

    /// The format this encoder writes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Writes the `# HELP` and `# TYPE` lines of a family of single-value samples to `out` and
    /// returns the writer for its samples.
    pub fn family<'a>(
        &self,
        out: &'a mut BytesMut,
        name: &'a str,
        help: &str,
        metric_type: MetricType,
    ) -> FamilyWriter<'a> {
        let name = sanitize_metric_name(name);
        let openmetrics_counter =
            metric_type == MetricType::Counter && self.format == Format::OpenMetrics;
        let (name, sample_suffix) = if openmetrics_counter {
            (strip_total(name), TOTAL_SUFFIX)
        } else {
            (name, "")
        };
        self.write_header(out, &name, help, metric_type.type_word(self.format));
        FamilyWriter {
            out,
            name,
            sample_suffix,
        }
    }

    /// Writes the `# HELP` and `# TYPE` lines of a histogram family to `out` and returns the
    /// writer for its histograms.
    pub fn histogram_family<'a>(
        &self,
        out: &'a mut BytesMut,
        name: &'a str,
        help: &str,
    ) -> HistogramWriter<'a> {
        let name = sanitize_metric_name(name);
        self.write_header(out, &name, help, "histogram");
        HistogramWriter { out, name }
    }

    /// Ends the body: `# EOF` in OpenMetrics, nothing in the text format. Call once, after the
    /// last family.
    pub fn finish(&self, out: &mut BytesMut) {
        if self.format == Format::OpenMetrics {
            out.put_slice(b"# EOF\n");
        }
    }

    fn write_header(&self, out: &mut BytesMut, name: &str, help: &str, type_word: &str) {
        if !help.is_empty() {
            out.put_slice(b"# HELP ");
            out.put_slice(name.as_bytes());
            out.put_u8(b' ');
            write_help(out, help, self.format);
            out.put_u8(b'\n');
        }
        out.put_slice(b"# TYPE ");
        out.put_slice(name.as_bytes());
        out.put_u8(b' ');
        out.put_slice(type_word.as_bytes());
        out.put_u8(b'\n');
    }
}

/// `name` without a trailing `_total`, unless nothing would be left.
fn strip_total(name: Cow<'_, str>) -> Cow<'_, str> {
    match name {
        Cow::Borrowed(text) => Cow::Borrowed(match text.strip_suffix(TOTAL_SUFFIX) {
            Some(base) if !base.is_empty() => base,
            _ => text,
        }),
        Cow::Owned(mut text) => {
            if text.len() > TOTAL_SUFFIX.len() && text.ends_with(TOTAL_SUFFIX) {
                text.truncate(text.len() - TOTAL_SUFFIX.len());
            }
            Cow::Owned(text)
        }
    }
}

/// The label sets of many samples, each written once (names sanitised, values escaped, the
/// braces included) so that every family sharing them copies the bytes instead of escaping
/// again: the families of one query result share its rows' labels.
#[derive(Debug, Default)]
pub struct LabelBlocks {
    text: BytesMut,
    /// Where each set ends in `text`.
    ends: Vec<usize>,
}

/// One set of [`LabelBlocks`], for [`FamilyWriter::sample_labelled`].
#[derive(Debug, Clone, Copy)]
pub struct LabelBlock<'a>(&'a [u8]);

impl LabelBlocks {
    /// Adds the set `labels` (written as [`FamilyWriter::sample`] would, order kept).
    pub fn push(&mut self, labels: &[(&str, &str)]) {
        write_labels(&mut self.text, labels, None);
        self.ends.push(self.text.len());
    }

    /// The `index`th set added; `None` past the end.
    pub fn get(&self, index: usize) -> Option<LabelBlock<'_>> {
        let end = *self.ends.get(index)?;
        let start = index
            .checked_sub(1)
            .map_or(0, |previous| self.ends[previous]);
        Some(LabelBlock(&self.text[start..end]))
    }
}

/// Writes one sample line: `name+suffix{labels,extra} value`.
fn write_sample(
    out: &mut BytesMut,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, f64)>,
    value: f64,
) {
    out.put_slice(name.as_bytes());
    out.put_slice(suffix.as_bytes());
    write_labels(out, labels, extra);
    out.put_u8(b' ');
    write_value(out, value);
    out.put_u8(b'\n');
}

/// Writes `{labels,extra}`, or nothing when there are no labels.
fn write_labels(out: &mut BytesMut, labels: &[(&str, &str)], extra: Option<(&str, f64)>) {
    if !labels.is_empty() || extra.is_some() {
        out.put_u8(b'{');
        for (index, (label, text)) in labels.iter().enumerate() {
            if index > 0 {
                out.put_u8(b',');
            }
            out.put_slice(sanitize_label_name(label).as_bytes());
            out.put_slice(b"=\"");
            write_label_value(out, text);
            out.put_u8(b'"');
        }
        if let Some((label, bound)) = extra {
            if !labels.is_empty() {
                out.put_u8(b',');
            }
            out.put_slice(label.as_bytes());
            out.put_slice(b"=\"");
            write_value(out, bound);
            out.put_u8(b'"');
        }
        out.put_u8(b'}');
    }
}

/// Writes the samples of one gauge, counter or untyped family; see [`Encoder::family`].
#[derive(Debug)]
pub struct FamilyWriter<'a> {
    out: &'a mut BytesMut,
    name: Cow<'a, str>,
    sample_suffix: &'static str,
}

impl FamilyWriter<'_> {
    /// Writes one sample. `labels` are written in the order given (put `server` first); label
    /// names are sanitised and label values escaped. Returns `self` so samples can be chained.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use pgexporter_core::exposition::{Encoder, Format, MetricType};
    ///
    /// let mut out = BytesMut::new();
    /// Encoder::new(Format::Text)
    ///     .family(&mut out, "pg_up", "", MetricType::Gauge)
    ///     .sample(&[("server", "main"), ("path", "C:\\pg \"x\"\n")], 1.0)
    ///     .sample(&[], f64::NAN);
    /// assert_eq!(
    ///     std::str::from_utf8(&out).unwrap(),
    ///     "# TYPE pg_up gauge\npg_up{server=\"main\",path=\"C:\\\\pg \\\"x\\\"\\n\"} 1\npg_up NaN\n"
    /// );
    /// ```
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        write_sample(
            self.out,
            &self.name,
            self.sample_suffix,
            labels,
            None,
            value,
        );
        self
    }

    /// Writes one sample whose labels were written beforehand into [`LabelBlocks`]; the same
    /// line as [`FamilyWriter::sample`] with those labels.
    pub fn sample_labelled(&mut self, labels: LabelBlock<'_>, value: f64) -> &mut Self {
        self.out.put_slice(self.name.as_bytes());
        self.out.put_slice(self.sample_suffix.as_bytes());
        self.out.put_slice(labels.0);
        self.out.put_u8(b' ');
        write_value(self.out, value);
        self.out.put_u8(b'\n');
        self
    }
}

/// One histogram as PostgreSQL reports it: upper bounds with their cumulative counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Histogram<'a> {
    /// Upper bounds of the buckets, ascending. A final `+Inf` bound is optional: without it the
    /// encoder writes the `+Inf` bucket with [`Histogram::count`].
    pub upper_bounds: &'a [f64],
    /// For each bound, the number of observations less than or equal to it (cumulative).
    pub cumulative_counts: &'a [f64],
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

/// A histogram that cannot be written; nothing was written for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistogramError {
    /// The bounds and counts arrays differ in length.
    #[error("histogram has {bounds} bucket bounds but {counts} bucket counts")]
    LengthMismatch {
        /// Number of upper bounds.
        bounds: usize,
        /// Number of counts.
        counts: usize,
    },
}

/// Writes the histograms of one histogram family; see [`Encoder::histogram_family`].
#[derive(Debug)]
pub struct HistogramWriter<'a> {
    out: &'a mut BytesMut,
    name: Cow<'a, str>,
}

impl HistogramWriter<'_> {
    /// Writes one histogram with `labels` (order kept, `le` added last): its `_bucket` samples
    /// ending with `le="+Inf"`, then `_sum` and `_count`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use pgexporter_core::exposition::{Encoder, Format, Histogram};
    ///
    /// let mut out = BytesMut::new();
    /// let histogram = Histogram {
    ///     upper_bounds: &[0.5, 10.0],
    ///     cumulative_counts: &[1.0, 3.0],
    ///     sum: 12.5,
    ///     count: 4.0,
    /// };
    /// Encoder::new(Format::Text)
    ///     .histogram_family(&mut out, "idle_seconds", "Idle time.")
    ///     .histogram(&[("server", "a")], &histogram)
    ///     .unwrap();
    /// assert_eq!(
    ///     std::str::from_utf8(&out).unwrap(),
    ///     concat!(
    ///         "# HELP idle_seconds Idle time.\n",
    ///         "# TYPE idle_seconds histogram\n",
    ///         "idle_seconds_bucket{server=\"a\",le=\"0.5\"} 1\n",
    ///         "idle_seconds_bucket{server=\"a\",le=\"10\"} 3\n",
    ///         "idle_seconds_bucket{server=\"a\",le=\"+Inf\"} 4\n",
    ///         "idle_seconds_sum{server=\"a\"} 12.5\n",
    ///         "idle_seconds_count{server=\"a\"} 4\n",
    ///     )
    /// );
    /// ```
    ///
    /// # Errors
    /// [`HistogramError::LengthMismatch`] when the bounds and counts differ in length; nothing is
    /// written then.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        histogram: &Histogram<'_>,
    ) -> Result<&mut Self, HistogramError> {
        let bounds = histogram.upper_bounds;
        let counts = histogram.cumulative_counts;
        if bounds.len() != counts.len() {
            return Err(HistogramError::LengthMismatch {
                bounds: bounds.len(),
                counts: counts.len(),
            });
        }
        let name = &self.name;
        for (&bound, &count) in bounds.iter().zip(counts) {
            write_sample(
                self.out,
                name,
                "_bucket",
                labels,
                Some(("le", bound)),
                count,
            );
        }
        if bounds.last() != Some(&f64::INFINITY) {
            let infinity = Some(("le", f64::INFINITY));
            write_sample(self.out, name, "_bucket", labels, infinity, histogram.count);
        }
        write_sample(self.out, name, "_sum", labels, None, histogram.sum);
        write_sample(self.out, name, "_count", labels, None, histogram.count);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &BytesMut) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn written_labels_make_the_same_lines_as_pairs() {
        let sets: [&[(&str, &str)]; 3] = [
            &[("server", "a"), ("query", "SELECT \"x\"\\n\nFROM t")],
            &[],
            &[("bad name", "plain")],
        ];
        let mut blocks = LabelBlocks::default();
        for labels in sets {
            blocks.push(labels);
        }
        for format in [Format::Text, Format::OpenMetrics] {
            let encoder = Encoder::new(format);
            let (mut by_pairs, mut by_blocks) = (BytesMut::new(), BytesMut::new());
            let mut writer = encoder.family(&mut by_pairs, "x_total", "", MetricType::Counter);
            for labels in sets {
                writer.sample(labels, 1.5);
            }
            let mut writer = encoder.family(&mut by_blocks, "x_total", "", MetricType::Counter);
            for index in 0..sets.len() {
                writer.sample_labelled(blocks.get(index).unwrap(), 1.5);
            }
            assert_eq!(text(&by_blocks), text(&by_pairs));
        }
        assert!(blocks.get(sets.len()).is_none());
    }

    #[test]
    fn gauge_family_in_both_formats() {
        for (format, eof) in [(Format::Text, ""), (Format::OpenMetrics, "# EOF\n")] {
            let encoder = Encoder::new(format);
            let mut out = BytesMut::new();
            encoder
                .family(&mut out, "g", "Help.", MetricType::Gauge)
                .sample(&[("server", "s"), ("database", "d")], 2.5);
            encoder.finish(&mut out);
            assert_eq!(
                text(&out),
                format!(
                    "# HELP g Help.\n# TYPE g gauge\ng{{server=\"s\",database=\"d\"}} 2.5\n{eof}"
                )
            );
        }
    }

    #[test]
    fn counter_without_total_suffix() {
        let mut out = BytesMut::new();
        Encoder::new(Format::Text)
            .family(&mut out, "pgexporter_version", "", MetricType::Counter)
            .sample(&[("pgexporter_version", "0.1.0")], 1.0);
        assert_eq!(
            text(&out),
            "# TYPE pgexporter_version counter\npgexporter_version{pgexporter_version=\"0.1.0\"} 1\n"
        );
        let mut out = BytesMut::new();
        Encoder::new(Format::OpenMetrics)
            .family(&mut out, "pgexporter_version", "", MetricType::Counter)
            .sample(&[], 1.0);
        assert_eq!(
            text(&out),
            "# TYPE pgexporter_version counter\npgexporter_version_total 1\n"
        );
    }

    #[test]
    fn counter_named_total_alone_keeps_its_name() {
        let mut out = BytesMut::new();
        Encoder::new(Format::OpenMetrics)
            .family(&mut out, "_total", "", MetricType::Counter)
            .sample(&[], 1.0);
        assert_eq!(text(&out), "# TYPE _total counter\n_total_total 1\n");
    }

    #[test]
    fn sanitised_counter_name_loses_total_in_openmetrics() {
        let mut out = BytesMut::new();
        Encoder::new(Format::OpenMetrics)
            .family(&mut out, "a-b_total", "", MetricType::Counter)
            .sample(&[], 3.0);
        assert_eq!(text(&out), "# TYPE a_b counter\na_b_total 3\n");
    }

    #[test]
    fn untyped_family_words() {
        for (format, word) in [(Format::Text, "untyped"), (Format::OpenMetrics, "unknown")] {
            let mut out = BytesMut::new();
            Encoder::new(format)
                .family(&mut out, "u", "", MetricType::Untyped)
                .sample(&[], -1.0);
            assert_eq!(text(&out), format!("# TYPE u {word}\nu -1\n"));
        }
    }

    #[test]
    fn label_names_are_sanitised_values_escaped() {
        let mut out = BytesMut::new();
        Encoder::new(Format::Text)
            .family(&mut out, "m", "", MetricType::Gauge)
            .sample(&[("bad-name", "a\"b"), ("1st", "\\")], 0.0);
        assert_eq!(
            text(&out),
            "# TYPE m gauge\nm{bad_name=\"a\\\"b\",_1st=\"\\\\\"} 0\n"
        );
    }

    #[test]
    fn histogram_with_explicit_infinity_and_no_labels() {
        let mut out = BytesMut::new();
        let histogram = Histogram {
            upper_bounds: &[1.0, f64::INFINITY],
            cumulative_counts: &[2.0, 5.0],
            sum: 7.0,
            count: 5.0,
        };
        Encoder::new(Format::OpenMetrics)
            .histogram_family(&mut out, "h", "")
            .histogram(&[], &histogram)
            .unwrap();
        assert_eq!(
            text(&out),
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 5\nh_sum 7\nh_count 5\n"
        );
    }

    #[test]
    fn histogram_length_mismatch_writes_nothing() {
        let mut out = BytesMut::new();
        let encoder = Encoder::new(Format::Text);
        let mut family = encoder.histogram_family(&mut out, "h", "");
        let histogram = Histogram {
            upper_bounds: &[1.0, 2.0],
            cumulative_counts: &[1.0],
            sum: 1.0,
            count: 1.0,
        };
        assert_eq!(
            family.histogram(&[], &histogram).unwrap_err(),
            HistogramError::LengthMismatch {
                bounds: 2,
                counts: 1
            }
        );
        assert_eq!(text(&out), "# TYPE h histogram\n");
    }

    #[test]
    fn help_of_openmetrics_escapes_quotes() {
        let mut out = BytesMut::new();
        Encoder::new(Format::OpenMetrics).family(&mut out, "m", "say \"hi\"\n", MetricType::Gauge);
        assert_eq!(text(&out), "# HELP m say \\\"hi\\\"\\n\n# TYPE m gauge\n");
    }
}
