//! OpenMetrics 1.0: metadata before its family's samples, families not interleaved, single
//! spaces, timestamps in seconds, exemplars (checked, then left out), and `# EOF` at the end.

use super::lexer::{Cursor, Spacing, parse_value};
use super::{Builder, FamilyType, ParseError, Span};

/// Reads the whole body into `builder`.
pub(super) fn read(builder: &mut Builder<'_>) -> Result<(), ParseError> {
    let body = builder.body;
    let mut start = 0;
    let mut lines = body.split_inclusive('\n').enumerate();
    for (index, raw) in lines.by_ref() {
        let error = |reason: String| ParseError {
            line: index + 1,
            reason,
        };
        let Some(line) = raw.strip_suffix('\n') else {
            return Err(error(
                "the last line does not end with a newline".to_owned(),
            ));
        };
        if line == "# EOF" {
            return match lines.next() {
                None => Ok(()),
                Some(_) => Err(error("text after # EOF".to_owned())),
            };
        }
        read_line(builder, line, start).map_err(error)?;
        start += raw.len();
    }
    Err(ParseError {
        line: body.lines().count().max(1),
        reason: "no # EOF line".to_owned(),
    })
}

fn read_line(builder: &mut Builder<'_>, line: &str, base: usize) -> Result<(), String> {
    let mut cursor = Cursor::new(line, base, Spacing::Strict);
    if cursor.eat("# ") {
        return read_metadata(builder, cursor);
    }
    let name = cursor.metric_name()?;
    let first_label = builder.labels.len();
    cursor.label_set(builder)?;
    cursor.separator()?;
    let value = cursor.value()?;
    let mut timestamp_ms = None;
    if !cursor.is_done() && !cursor.rest().starts_with(" # ") {
        cursor.separator()?;
        let word = cursor.word();
        timestamp_ms = Some(seconds_to_ms(word).ok_or_else(|| format!("bad timestamp {word:?}"))?);
    }
    if cursor.eat(" # ") {
        read_exemplar(builder, &mut cursor)?;
    }
    if !cursor.is_done() {
        return Err(format!("unexpected {:?} after the sample", cursor.rest()));
    }
    let family = family_of(builder, name)?;
    builder.add_sample(family, name, first_label, value, timestamp_ms);
    Ok(())
}

/// The family of a sample: the current one when the name fits it, else a new family of type
/// `unknown` (a name that fits, or is, an earlier family would interleave families).
fn family_of(builder: &mut Builder<'_>, name: Span) -> Result<usize, String> {
    let text = builder.text(name);
    match builder.owner_of(text) {
        Some(owner) if builder.current == Some(owner) => Ok(owner),
        None if !builder.knows(text) => Ok(builder.family(name)),
        _ => Err(format!(
            "sample {text} does not follow the rest of its family"
        )),
    }
}

/// `# TYPE`, `# HELP` or `# UNIT` (checked, not kept); each starts or continues the family it
/// names, before any of its samples.
fn read_metadata(builder: &mut Builder<'_>, mut cursor: Cursor<'_>) -> Result<(), String> {
    let keyword = cursor.word();
    cursor.separator()?;
    let name = cursor.metric_name()?;
    let text = builder.text(name);
    let continues = builder.current.is_some_and(|current| {
        builder.text(builder.families[current].name) == text
            && builder.families[current].sample_count == 0
    });
    if !continues && builder.knows(text) {
        return Err(format!("metadata for {text} after its family began"));
    }
    let family = builder.family(name);
    match keyword {
        "HELP" => {
            cursor.separator()?;
            let help = cursor.escaped_rest(true)?;
            builder.set_help(family, help)
        }
        "TYPE" => {
            cursor.separator()?;
            let kind = match cursor.word() {
                "counter" => FamilyType::Counter,
                "gauge" => FamilyType::Gauge,
                "histogram" => FamilyType::Histogram,
                "gaugehistogram" => FamilyType::GaugeHistogram,
                "summary" => FamilyType::Summary,
                "info" => FamilyType::Info,
                "stateset" => FamilyType::StateSet,
                "unknown" => FamilyType::Untyped,
                other => return Err(format!("unknown type {other:?}")),
            };
            if !cursor.is_done() {
                return Err(format!("unexpected {:?} after the type", cursor.rest()));
            }
            builder.set_type(family, kind)
        }
        "UNIT" => {
            cursor.separator()?;
            let unit = cursor.word();
            if !cursor.is_done() || !text.ends_with(&format!("_{unit}")) {
                return Err(format!("unit {unit:?} is not the suffix of {text}"));
            }
            builder.current = Some(family);
            Ok(())
        }
        other => Err(format!("unknown metadata {other:?}")),
    }
}

/// An exemplar after ` # `: a label set, a value and an optional timestamp, checked and not
/// kept.
fn read_exemplar(builder: &mut Builder<'_>, cursor: &mut Cursor<'_>) -> Result<(), String> {
    let labels = builder.labels.len();
    if !cursor.rest().starts_with('{') {
        return Err("an exemplar without its label set".to_owned());
    }
    cursor.label_set(builder)?;
    builder.labels.truncate(labels);
    cursor.separator()?;
    cursor.value()?;
    if !cursor.is_done() {
        cursor.separator()?;
        let word = cursor.word();
        seconds_to_ms(word).ok_or_else(|| format!("bad exemplar timestamp {word:?}"))?;
    }
    Ok(())
}

/// An OpenMetrics timestamp (seconds, possibly fractional) in whole milliseconds.
fn seconds_to_ms(word: &str) -> Option<i64> {
    let seconds = parse_value(word)?;
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() < 9.0e18).then_some(ms as i64)
}
