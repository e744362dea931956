//! The text format 0.0.4, and the reference's variant of it (`#HELP` and `#TYPE` without the
//! space).

use super::lexer::{Cursor, Spacing};
use super::{Builder, FamilyType, ParseError};

/// Reads the whole body into `builder`.
pub(super) fn read(builder: &mut Builder<'_>) -> Result<(), ParseError> {
    let body = builder.body;
    let mut start = 0;
    for (index, raw) in body.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        read_line(builder, line, start).map_err(|reason| ParseError {
            line: index + 1,
            reason,
        })?;
        start += raw.len();
    }
    Ok(())
}

fn read_line(builder: &mut Builder<'_>, line: &str, base: usize) -> Result<(), String> {
    let mut cursor = Cursor::new(line, base, Spacing::Loose);
    cursor.skip_blanks();
    if cursor.is_done() {
        return Ok(());
    }
    if cursor.eat("#") {
        return read_comment(builder, cursor);
    }
    let name = cursor.metric_name()?;
    let first_label = builder.labels.len();
    cursor.label_set(builder)?;
    cursor.separator()?;
    let value = cursor.value()?;
    cursor.skip_blanks();
    let timestamp_ms = if cursor.is_done() {
        None
    } else {
        let word = cursor.word();
        Some(
            word.parse::<i64>()
                .map_err(|_| format!("bad timestamp {word:?}"))?,
        )
    };
    cursor.skip_blanks();
    if !cursor.is_done() {
        return Err(format!("unexpected {:?} after the sample", cursor.rest()));
    }
    let sample_name = builder.text(name);
    let family = builder
        .owner_of(sample_name)
        .unwrap_or_else(|| builder.family(name));
    if !builder.owns(family, sample_name) {
        return Err(format!(
            "sample {sample_name} does not fit its family's type"
        ));
    }
    builder.add_sample(family, name, first_label, value, timestamp_ms);
    Ok(())
}

/// A line after its `#`: HELP and TYPE (the standard `# HELP` or the reference's `#HELP`); any
/// other comment is skipped.
fn read_comment(builder: &mut Builder<'_>, mut cursor: Cursor<'_>) -> Result<(), String> {
    cursor.skip_blanks();
    let keyword = cursor.word();
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    cursor.separator()?;
    let name = cursor.metric_name()?;
    let family = builder.family(name);
    if keyword == "HELP" {
        if !cursor.is_done() {
            cursor.separator()?;
        }
        let help = cursor.escaped_rest(false)?;
        return builder.set_help(family, help);
    }
    cursor.separator()?;
    let word = cursor.word();
    let kind = match word {
        "counter" => FamilyType::Counter,
        "gauge" => FamilyType::Gauge,
        "histogram" => FamilyType::Histogram,
        "summary" => FamilyType::Summary,
        "untyped" => FamilyType::Untyped,
        other => return Err(format!("unknown type {other:?}")),
    };
    cursor.skip_blanks();
    if !cursor.is_done() {
        return Err(format!("unexpected {:?} after the type", cursor.rest()));
    }
    builder.set_type(family, kind)
}
