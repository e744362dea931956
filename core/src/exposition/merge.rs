//! Several parsed expositions written as one: every sample labelled with its source first, each
//! family once, in the format asked for.
//!
//! Families are merged by the name they take in the output format and written in name order,
//! with the HELP and TYPE of the first source that has the family; a source whose family of
//! that name has another type loses those samples (one family cannot have two types). A label
//! a sample already has under the source label's name is kept as `exported_<name>`, as
//! Prometheus does. Label values are copied as written (both formats escape them alike).
//!
//! Crossing formats follows what each format allows. Into the text format, an OpenMetrics
//! counter `x` becomes `x_total` (its `_created` samples are left out, as are those of
//! histograms and summaries), `info` becomes a gauge `x_info`, `stateset` a gauge, and a
//! `gaugehistogram` three gauges (`x_bucket`, `x_gcount`, `x_gsum`). Into OpenMetrics, a text
//! counter's samples end in `_total` (added when the name lacks it), `untyped` is `unknown`,
//! and timestamps become seconds.

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::{BufMut, BytesMut};

use super::Format;
use super::escape::{write_help, write_label_value, write_value};
use super::parse::{Exposition, Family, FamilyType, Sample, SourceFormat};

/// One exposition to merge and the label naming where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The label's name (`endpoint`, `server`).
    pub label: &'a str,
    /// Its value, unescaped.
    pub value: &'a str,
    /// The samples.
    pub exposition: &'a Exposition,
}

/// One family of one source as the output format writes it.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    /// The family name in the output.
    pub name: Cow<'a, str>,
    /// The word of its `# TYPE` line in the output.
    pub type_word: &'static str,
    /// The source it comes from (an index into the sources).
    pub source: usize,
    /// The family in its source.
    pub family: Family<'a>,
    /// Only the samples whose name is the family's name plus this suffix.
    only: Option<&'static str>,
    /// Leave out `_created` samples.
    drop_created: bool,
    /// Added to every sample name.
    append: &'static str,
}

impl<'a> Planned<'a> {
    /// The samples written, each with the name it is written under.
    pub fn samples(&self) -> impl Iterator<Item = (Cow<'a, str>, Sample<'a>)> + '_ {
        let base = self.family.name();
        self.family.samples().filter_map(move |sample| {
            let name = sample.name();
            let suffix = name.strip_prefix(base).unwrap_or_default();
            if self.only.is_some_and(|only| only != suffix)
                || (self.drop_created && suffix == "_created")
            {
                return None;
            }
            let name = if self.append.is_empty() {
                Cow::Borrowed(name)
            } else {
                Cow::Owned(format!("{name}{}", self.append))
            };
            Some((name, sample))
        })
    }
}

/// The families of `sources` as `format` writes them, merged: groups of the same name, in name
/// order, sources in order within a group; families left out by `skip` (called with the output
/// name) or by a type conflict are not there.
pub fn plan<'a>(
    sources: &[Source<'a>],
    format: Format,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<Vec<Planned<'a>>> {
    let mut planned: Vec<Planned<'a>> = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        for family in source.exposition.families() {
            if family.sample_count() > 0 {
                convert(
                    family,
                    source.exposition.format(),
                    format,
                    index,
                    &mut planned,
                );
            }
        }
    }
    planned.retain(|family| !skip(&family.name));
    planned.sort_by(|a, b| a.name.cmp(&b.name).then(a.source.cmp(&b.source)));
    let mut groups: Vec<Vec<Planned<'a>>> = Vec::new();
    for family in planned {
        match groups.last_mut() {
            Some(group) if group[0].name == family.name => {
                if group[0].type_word == family.type_word {
                    group.push(family);
                } else {
                    tracing::debug!(
                        family = %family.name,
                        "left out of one source: its type differs from another source's"
                    );
                }
            }
            _ => groups.push(vec![family]),
        }
    }
    groups
}

/// Writes the families of `sources` merged into `out` in `format` (see the module
/// documentation), leaving out the families `skip` names. No `# EOF`: the caller ends the body.
pub fn write_merged(
    out: &mut BytesMut,
    format: Format,
    sources: &[Source<'_>],
    skip: &dyn Fn(&str) -> bool,
) {
    for group in plan(sources, format, skip) {
        let first = &group[0];
        if let Some(help) = first.family.help() {
            out.put_slice(b"# HELP ");
            out.put_slice(first.name.as_bytes());
            out.put_u8(b' ');
            write_help(out, &help, format);
            out.put_u8(b'\n');
        }
        out.put_slice(b"# TYPE ");
        out.put_slice(first.name.as_bytes());
        out.put_u8(b' ');
        out.put_slice(first.type_word.as_bytes());
        out.put_u8(b'\n');
        for family in &group {
            let source = &sources[family.source];
            for (name, sample) in family.samples() {
                write_sample(out, format, source, &name, sample);
            }
        }
    }
}

/// The names of the families `body` declares (its `# TYPE` lines): what a merge into it must
/// leave out.
pub fn typed_families(body: &[u8]) -> HashSet<String> {
    body.split(|&byte| byte == b'\n')
        .filter_map(|line| line.strip_prefix(b"# TYPE "))
        .filter_map(|rest| rest.split(|&byte| byte == b' ').next())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

/// The output families of `family` (from `from`) in `into`.
fn convert<'a>(
    family: Family<'a>,
    from: SourceFormat,
    into: Format,
    source: usize,
    planned: &mut Vec<Planned<'a>>,
) {
    let name = family.name();
    let mut push = |name: Cow<'a, str>, type_word, only, drop_created, append| {
        planned.push(Planned {
            name,
            type_word,
            source,
            family,
            only,
            drop_created,
            append,
        });
    };
    let same = Cow::Borrowed(name);
    match (from, into, family.kind()) {
        (SourceFormat::OpenMetrics, Format::Text, kind) => match kind {
            FamilyType::Counter => {
                push(
                    format!("{name}_total").into(),
                    "counter",
                    Some("_total"),
                    false,
                    "",
                );
            }
            FamilyType::Histogram => push(same, "histogram", None, true, ""),
            FamilyType::Summary => push(same, "summary", None, true, ""),
            FamilyType::Info => push(format!("{name}_info").into(), "gauge", None, false, ""),
            FamilyType::GaugeHistogram => {
                for suffix in ["_bucket", "_gcount", "_gsum"] {
                    push(
                        format!("{name}{suffix}").into(),
                        "gauge",
                        Some(suffix),
                        false,
                        "",
                    );
                }
            }
            FamilyType::Gauge | FamilyType::StateSet => push(same, "gauge", None, false, ""),
            FamilyType::Untyped => push(same, "untyped", None, false, ""),
        },
        (SourceFormat::Text, Format::OpenMetrics, FamilyType::Counter) => {
            match name.strip_suffix("_total") {
                Some(base) => push(Cow::Borrowed(base), "counter", None, false, ""),
                None => push(same, "counter", None, false, "_total"),
            }
        }
        (_, Format::OpenMetrics, kind) => push(same, om_type_word(kind), None, false, ""),
        (SourceFormat::Text, Format::Text, kind) => {
            push(same, text_type_word(kind), None, false, "")
        }
    }
}

fn text_type_word(kind: FamilyType) -> &'static str {
    match kind {
        FamilyType::Counter => "counter",
        FamilyType::Histogram => "histogram",
        FamilyType::Summary => "summary",
        FamilyType::Untyped => "untyped",
        _ => "gauge",
    }
}

fn om_type_word(kind: FamilyType) -> &'static str {
    match kind {
        FamilyType::Counter => "counter",
        FamilyType::Gauge => "gauge",
        FamilyType::Histogram => "histogram",
        FamilyType::Summary => "summary",
        FamilyType::Untyped => "unknown",
        FamilyType::Info => "info",
        FamilyType::StateSet => "stateset",
        FamilyType::GaugeHistogram => "gaugehistogram",
    }
}

fn write_sample(
    out: &mut BytesMut,
    format: Format,
    source: &Source<'_>,
    name: &str,
    sample: Sample<'_>,
) {
    out.put_slice(name.as_bytes());
    out.put_u8(b'{');
    out.put_slice(source.label.as_bytes());
    out.put_slice(b"=\"");
    write_label_value(out, source.value);
    out.put_u8(b'"');
    for (label, value) in sample.labels() {
        out.put_u8(b',');
        if label == source.label {
            out.put_slice(exported_name(label, &sample).as_bytes());
        } else {
            out.put_slice(label.as_bytes());
        }
        out.put_slice(b"=\"");
        out.put_slice(value.as_bytes());
        out.put_u8(b'"');
    }
    out.put_slice(b"} ");
    write_value(out, sample.value());
    if let Some(ms) = sample.timestamp_ms() {
        out.put_u8(b' ');
        write_timestamp(out, format, ms);
    }
    out.put_u8(b'\n');
}

/// The name the sample's label `label` (which the source label takes) is kept under: prefixed
/// with `exported_` as many times as it takes to be unique among its labels, as Prometheus does.
fn exported_name(label: &str, sample: &Sample<'_>) -> String {
    let mut name = format!("exported_{label}");
    while sample.labels().any(|(existing, _)| existing == name) {
        name.insert_str(0, "exported_");
    }
    name
}

/// Milliseconds as the format writes timestamps: whole milliseconds in the text format,
/// seconds with three decimals in OpenMetrics.
fn write_timestamp(out: &mut BytesMut, format: Format, ms: i64) {
    use std::fmt::Write as _;
    // Writing into a BytesMut cannot fail: it grows as needed.
    let _ = match format {
        Format::Text => write!(out, "{ms}"),
        Format::OpenMetrics => {
            let sign = if ms < 0 { "-" } else { "" };
            let magnitude = i128::from(ms).unsigned_abs();
            write!(out, "{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
        }
    };
}

#[cfg(test)]
mod tests;
