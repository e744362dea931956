//! Reading other exporters' expositions: the text format 0.0.4 (with the reference's
//! `#HELP` / `#TYPE` lines as well as the standard `# HELP` / `# TYPE`) and OpenMetrics 1.0.
//!
//! [`parse`] checks a whole body against its format's grammar and indexes it: families with
//! their HELP, TYPE and samples; samples with their labels, value and timestamp. It is strict
//! (Prometheus refuses a scrape with one bad line, and so does this) and never panics; the
//! first deviation is a [`ParseError`] naming its line. Nothing is copied: names, HELP text and
//! label values are spans of the body, so the label values come back as written (escaped), ready
//! to be copied into another exposition.
//!
//! ```
//! use pgexporter_core::exposition::parse::{parse, FamilyType, SourceFormat};
//!
//! let body = "# HELP up Whether it answered.\n# TYPE up gauge\nup{job=\"a\\\"b\"} 1 1700000000000\n";
//! let exposition = parse(body.into(), SourceFormat::Text).unwrap();
//! let family = exposition.families().next().unwrap();
//! assert_eq!((family.name(), family.kind()), ("up", FamilyType::Gauge));
//! assert_eq!(family.help().as_deref(), Some("Whether it answered."));
//! let sample = family.samples().next().unwrap();
//! assert_eq!(sample.labels().collect::<Vec<_>>(), [("job", "a\\\"b")]);
//! assert_eq!((sample.value(), sample.timestamp_ms()), (1.0, Some(1_700_000_000_000)));
//! ```

mod lexer;
mod openmetrics;
#[cfg(test)]
mod tests;
mod text;

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;

/// The format of a body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// The text format 0.0.4 (and the reference's variant of it).
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl SourceFormat {
    /// The format a `Content-Type` header announces: OpenMetrics for
    /// `application/openmetrics-text`, else the text format (which is also what an exporter
    /// that sends no `Content-Type` speaks).
    pub fn of_content_type(content_type: Option<&str>) -> SourceFormat {
        let media = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            SourceFormat::OpenMetrics
        } else {
            SourceFormat::Text
        }
    }
}

/// The type of a family, as its `# TYPE` line says (`Untyped` without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FamilyType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
    /// `untyped` (text format), `unknown` (OpenMetrics), or no `# TYPE` line.
    Untyped,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
}

impl FamilyType {
    /// The suffixes a sample name may add to its family's name in `format` (`""` for none).
    fn suffixes(self, format: SourceFormat) -> &'static [&'static str] {
        match (self, format) {
            (FamilyType::Counter, SourceFormat::OpenMetrics) => &["_total", "_created"],
            (FamilyType::Histogram, SourceFormat::Text) => &["_bucket", "_count", "_sum"],
            (FamilyType::Histogram, SourceFormat::OpenMetrics) => {
                &["_bucket", "_count", "_sum", "_created"]
            }
            (FamilyType::Summary, SourceFormat::Text) => &["", "_count", "_sum"],
            (FamilyType::Summary, SourceFormat::OpenMetrics) => &["", "_count", "_sum", "_created"],
            (FamilyType::GaugeHistogram, _) => &["_bucket", "_gcount", "_gsum"],
            (FamilyType::Info, _) => &["_info"],
            _ => &[""],
        }
    }

    /// Whether `sample` is a sample name of the family `family` of this type in `format`.
    fn owns(self, format: SourceFormat, family: &str, sample: &str) -> bool {
        sample
            .strip_prefix(family)
            .is_some_and(|suffix| self.suffixes(format).contains(&suffix))
    }
}

/// Where the first deviation from the grammar is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Every suffix a sample name may add to its family's name, whatever the type.
const SAMPLE_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

/// Label slots reserved per line of a body: what most exporters' samples carry at most.
const LABELS_RESERVED_PER_LINE: usize = 4;

/// A byte range of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Debug, Clone)]
struct FamilyData {
    name: Span,
    help: Option<Span>,
    kind: FamilyType,
    /// Whether a `# TYPE` line was read.
    typed: bool,
    first_sample: usize,
    sample_count: usize,
}

#[derive(Debug, Clone, Copy)]
struct LabelData {
    name: Span,
    value: Span,
}

#[derive(Debug, Clone)]
struct SampleData {
    family: usize,
    name: Span,
    first_label: usize,
    label_count: usize,
    value: f64,
    timestamp_ms: Option<i64>,
}

/// A body checked and indexed by [`parse`].
#[derive(Debug, Clone)]
pub struct Exposition {
    body: String,
    format: SourceFormat,
    families: Vec<FamilyData>,
    samples: Vec<SampleData>,
    labels: Vec<LabelData>,
}

/// Checks `body` against the grammar of `format` and indexes it.
///
/// # Errors
/// The first line that deviates, or a body that is not UTF-8 or larger than 4 GiB.
pub fn parse(body: Bytes, format: SourceFormat) -> Result<Exposition, ParseError> {
    let whole = |reason: &str| ParseError {
        line: 1,
        reason: reason.to_owned(),
    };
    if u32::try_from(body.len()).is_err() {
        return Err(whole("body larger than 4 GiB"));
    }
    let body = String::from_utf8(Vec::from(body)).map_err(|error| {
        let line = 1 + error.as_bytes()[..error.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        ParseError {
            line,
            reason: "not UTF-8".to_owned(),
        }
    })?;
    let mut builder = Builder::new(&body, format);
    match format {
        SourceFormat::Text => text::read(&mut builder)?,
        SourceFormat::OpenMetrics => openmetrics::read(&mut builder)?,
    }
    let (families, samples, labels) = builder.finish();
    Ok(Exposition {
        body,
        format,
        families,
        samples,
        labels,
    })
}

impl Exposition {
    /// The format the body was written in.
    pub fn format(&self) -> SourceFormat {
        self.format
    }

    /// The families, in the order their first line appeared.
    pub fn families(&self) -> impl Iterator<Item = Family<'_>> {
        (0..self.families.len()).map(|index| Family {
            exposition: self,
            data: &self.families[index],
        })
    }

    /// How many samples the body holds.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    fn text(&self, span: Span) -> &str {
        self.body
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }
}

/// One family of an [`Exposition`].
#[derive(Debug, Clone, Copy)]
pub struct Family<'a> {
    exposition: &'a Exposition,
    data: &'a FamilyData,
}

impl<'a> Family<'a> {
    /// The family name (of its `# TYPE` line, or of its samples).
    pub fn name(&self) -> &'a str {
        self.exposition.text(self.data.name)
    }

    /// The type.
    pub fn kind(&self) -> FamilyType {
        self.data.kind
    }

    /// The HELP text, unescaped; `None` without a HELP line.
    pub fn help(&self) -> Option<Cow<'a, str>> {
        let raw = self.exposition.text(self.data.help?);
        Some(unescape(
            raw,
            self.exposition.format == SourceFormat::OpenMetrics,
        ))
    }

    /// The samples, in body order.
    pub fn samples(&self) -> impl Iterator<Item = Sample<'a>> + use<'a> {
        let exposition = self.exposition;
        exposition.samples[self.data.first_sample..][..self.data.sample_count]
            .iter()
            .map(move |data| Sample { exposition, data })
    }

    /// How many samples it has.
    pub fn sample_count(&self) -> usize {
        self.data.sample_count
    }
}

/// One sample of a [`Family`].
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    exposition: &'a Exposition,
    data: &'a SampleData,
}

impl<'a> Sample<'a> {
    /// The sample name: the family name and a suffix its type allows (`_bucket`, `_total`, …).
    pub fn name(&self) -> &'a str {
        self.exposition.text(self.data.name)
    }

    /// The labels in body order: name, and value as written (escaped; see
    /// [`unescape_label_value`]).
    pub fn labels(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let exposition = self.exposition;
        exposition.labels[self.data.first_label..][..self.data.label_count]
            .iter()
            .map(move |label| (exposition.text(label.name), exposition.text(label.value)))
    }

    /// The value.
    pub fn value(&self) -> f64 {
        self.data.value
    }

    /// The timestamp in milliseconds since the Unix epoch, when the sample has one.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.data.timestamp_ms
    }
}

/// A label value as written in an exposition (`\\`, `\"`, `\n` escaped), unescaped.
pub fn unescape_label_value(raw: &str) -> Cow<'_, str> {
    unescape(raw, true)
}

/// Undoes the escapes the grammar allows (checked while parsing): `\\`, `\n`, and `\"` when
/// `quotes`.
fn unescape(raw: &str, quotes: bool) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Collects families, samples and labels while a body is read.
struct Builder<'a> {
    body: &'a str,
    format: SourceFormat,
    families: Vec<FamilyData>,
    by_name: HashMap<&'a str, usize>,
    samples: Vec<SampleData>,
    labels: Vec<LabelData>,
    /// The family of the last metadata or sample line.
    current: Option<usize>,
}

impl<'a> Builder<'a> {
    /// A builder for `body`, its tables sized for one sample a line (at most; growing a large
    /// table costs more than reserving address space that stays untouched).
    fn new(body: &'a str, format: SourceFormat) -> Builder<'a> {
        let lines = body.bytes().filter(|&byte| byte == b'\n').count() + 1;
        Builder {
            body,
            format,
            families: Vec::new(),
            by_name: HashMap::new(),
            samples: Vec::with_capacity(lines),
            labels: Vec::with_capacity(lines * LABELS_RESERVED_PER_LINE),
            current: None,
        }
    }

    fn text(&self, span: Span) -> &'a str {
        self.body
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// Whether two spans hold the same text.
    fn same_text(&self, a: Span, b: Span) -> bool {
        let bytes = self.body.as_bytes();
        a.end - a.start == b.end - b.start
            && bytes.get(a.start as usize..a.end as usize)
                == bytes.get(b.start as usize..b.end as usize)
    }

    /// The family named `name`, made (untyped, without HELP) when new.
    fn family(&mut self, name: Span) -> usize {
        let text = self.text(name);
        if let Some(&index) = self.by_name.get(text) {
            return index;
        }
        let index = self.families.len();
        self.families.push(FamilyData {
            name,
            help: None,
            kind: FamilyType::Untyped,
            typed: false,
            first_sample: 0,
            sample_count: 0,
        });
        self.by_name.insert(text, index);
        index
    }

    /// Whether a family of that name has been seen.
    fn knows(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Sets the HELP of `family`.
    fn set_help(&mut self, family: usize, help: Span) -> Result<(), String> {
        let data = &mut self.families[family];
        if data.help.is_some() {
            return Err("a second HELP line for the family".to_owned());
        }
        data.help = Some(help);
        self.current = Some(family);
        Ok(())
    }

    /// Sets the TYPE of `family`, which must have no samples yet.
    fn set_type(&mut self, family: usize, kind: FamilyType) -> Result<(), String> {
        let data = &mut self.families[family];
        if data.typed {
            return Err("a second TYPE line for the family".to_owned());
        }
        if data.sample_count > 0 {
            return Err("a TYPE line after the family's samples".to_owned());
        }
        data.kind = kind;
        data.typed = true;
        self.current = Some(family);
        Ok(())
    }

    /// The family that owns a sample named `sample`: the one of that name, or the one whose
    /// name it extends with a suffix the family's type allows (`_bucket` of a histogram, …).
    fn owner_of(&self, sample: &str) -> Option<usize> {
        // Samples mostly follow a family of their own name: the current one is asked first.
        if let Some(current) = self.current
            && self.text(self.families[current].name) == sample
            && self.owns(current, sample)
        {
            return Some(current);
        }
        let owning = |base: &str| {
            let &index = self.by_name.get(base)?;
            self.owns(index, sample).then_some(index)
        };
        owning(sample).or_else(|| {
            SAMPLE_SUFFIXES
                .iter()
                .find_map(|suffix| owning(sample.strip_suffix(suffix)?))
        })
    }

    /// Whether `family` may take a sample named `name`.
    fn owns(&self, family: usize, name: &str) -> bool {
        let data = &self.families[family];
        data.kind.owns(self.format, self.text(data.name), name)
    }

    /// Adds a sample of `family` with the labels pushed since `first_label`.
    fn add_sample(
        &mut self,
        family: usize,
        name: Span,
        first_label: usize,
        value: f64,
        timestamp_ms: Option<i64>,
    ) {
        self.samples.push(SampleData {
            family,
            name,
            first_label,
            label_count: self.labels.len() - first_label,
            value,
            timestamp_ms,
        });
        self.families[family].sample_count += 1;
        self.current = Some(family);
    }

    /// The tables, with each family's samples made contiguous (the text format lets a
    /// family's samples be interleaved with another's).
    fn finish(mut self) -> (Vec<FamilyData>, Vec<SampleData>, Vec<LabelData>) {
        if !self.samples.is_sorted_by_key(|sample| sample.family) {
            self.samples.sort_by_key(|sample| sample.family);
        }
        let mut next = 0;
        for family in &mut self.families {
            family.first_sample = next;
            next += family.sample_count;
        }
        (self.families, self.samples, self.labels)
    }
}
