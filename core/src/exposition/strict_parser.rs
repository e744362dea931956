//! A strict reader of the exposition text, for tests: anything the encoder writes must read
//! back to what it was given, and anything outside the grammar is an error.
//!
//! Built for this crate's tests and, with the `test-support` feature, for other crates' tests
//! and fuzz targets; the exporter itself never reads exposition text. Errors are a description
//! of the first deviation from the grammar, meant for a test failure message.

use super::Format;

/// One family as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    /// The family name of the `# TYPE` line.
    pub name: String,
    /// The unescaped text of the `# HELP` line, `None` without one.
    pub help: Option<String>,
    /// The type word of the `# TYPE` line (`gauge`, `counter`, ...).
    pub type_word: String,
    /// The sample lines, in order.
    pub samples: Vec<ParsedSample>,
}

/// One sample line as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The sample name, the family name with any suffix (`_total`, `_bucket`, ...).
    pub name: String,
    /// The label names and unescaped values, in order.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

fn unescape(text: &str, allow_quote: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if allow_quote => out.push('"'),
                other => return Err(format!("bad escape {other:?} in {text:?}")),
            },
            '"' if allow_quote => return Err(format!("bare quote in {text:?}")),
            '\n' => return Err("raw newline".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn check_name(name: &str, metric: bool) -> Result<(), String> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':'));
    if valid {
        Ok(())
    } else {
        Err(format!("invalid name {name:?}"))
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if text.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
            text.parse().map_err(|_| format!("bad value {text:?}"))
        }
        _ => Err(format!("bad value {text:?}")),
    }
}

/// A timestamp: whole milliseconds in the text format, seconds in OpenMetrics.
fn check_timestamp(text: &str, format: Format) -> Result<(), String> {
    let valid = match format {
        Format::Text => text.parse::<i64>().is_ok(),
        Format::OpenMetrics => parse_value(text).is_ok_and(f64::is_finite),
    };
    if valid {
        Ok(())
    } else {
        Err(format!("bad timestamp {text:?}"))
    }
}

fn parse_sample(line: &str, format: Format) -> Result<ParsedSample, String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..name_end];
    check_name(name, true)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            let eq = rest.find("=\"").ok_or("label without value")?;
            let label = &rest[..eq];
            check_name(label, false)?;
            let value_start = eq + 2;
            let mut end = None;
            let mut escaped = false;
            for (offset, c) in rest[value_start..].char_indices() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(value_start + offset);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.ok_or("unterminated label value")?;
            if labels.iter().any(|(name, _)| name == label) {
                return Err(format!("label {label} given twice"));
            }
            labels.push((label.to_owned(), unescape(&rest[value_start..end], true)?));
            rest = &rest[end + 1..];
            if let Some(more) = rest.strip_prefix(',') {
                rest = more;
            } else {
                rest = rest.strip_prefix('}').ok_or("label set not closed")?;
                break;
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before value")?;
    let value = match value.split_once(' ') {
        Some((value, timestamp)) => {
            check_timestamp(timestamp, format)?;
            value
        }
        None => value,
    };
    Ok(ParsedSample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// Reads `body` in `format`; every family must have a `# TYPE` line before its samples, and an
/// OpenMetrics body must end with `# EOF`. The error describes the first deviation.
pub fn parse(body: &str, format: Format) -> Result<Vec<ParsedFamily>, String> {
    let mut families: Vec<ParsedFamily> = Vec::new();
    let mut pending_help: Option<(String, String)> = None;
    let body = match format {
        Format::Text => body,
        Format::OpenMetrics => body.strip_suffix("# EOF\n").ok_or("no # EOF")?,
    };
    if !body.is_empty() && !body.ends_with('\n') {
        return Err("body does not end with a newline".into());
    }
    for line in body.split_terminator('\n') {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').ok_or("HELP without text")?;
            check_name(name, true)?;
            let help = unescape(text, format == Format::OpenMetrics)?;
            pending_help = Some((name.to_owned(), help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, word) = rest.split_once(' ').ok_or("TYPE without type")?;
            check_name(name, true)?;
            let help = match pending_help.take() {
                Some((help_name, help)) if help_name == name => Some(help),
                Some(_) => return Err("HELP for another family".into()),
                None => None,
            };
            families.push(ParsedFamily {
                name: name.to_owned(),
                help,
                type_word: word.to_owned(),
                samples: Vec::new(),
            });
        } else if line.starts_with('#') {
            return Err(format!("unexpected comment {line:?}"));
        } else {
            let sample = parse_sample(line, format)?;
            let family = families.last_mut().ok_or("sample before TYPE")?;
            let suffix = sample
                .name
                .strip_prefix(family.name.as_str())
                .ok_or("sample outside its family")?;
            let openmetrics = format == Format::OpenMetrics;
            let allowed: &[&str] = match (family.type_word.as_str(), openmetrics) {
                ("histogram", true) => &["_bucket", "_sum", "_count", "_created"],
                ("histogram", false) => &["_bucket", "_sum", "_count"],
                ("summary", true) => &["", "_sum", "_count", "_created"],
                ("summary", false) => &["", "_sum", "_count"],
                ("counter", true) => &["_total", "_created"],
                ("gaugehistogram", true) => &["_bucket", "_gsum", "_gcount"],
                ("info", true) => &["_info"],
                ("gauge", _) | ("counter" | "untyped", false) | ("stateset" | "unknown", true) => {
                    &[""]
                }
                (other, _) => return Err(format!("type {other} in {format:?}")),
            };
            if !allowed.contains(&suffix) {
                return Err(format!("sample {} in family {}", sample.name, family.name));
            }
            family.samples.push(sample);
        }
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::super::{Encoder, Histogram, MetricType};
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    #[test]
    fn rejects_what_the_grammar_forbids() {
        assert!(parse("m 1\n", Format::Text).is_err());
        assert!(parse("# TYPE m gauge\nm{a=\"\\x\"} 1\n", Format::Text).is_err());
        assert!(parse("# TYPE m gauge\nm{a=\"\"\"} 1\n", Format::Text).is_err());
        assert!(parse("# TYPE m gauge\nm 1\n", Format::OpenMetrics).is_err());
        assert!(parse("# TYPE m counter\nm 1\n# EOF\n", Format::OpenMetrics).is_err());
        assert!(parse("# TYPE m gauge\nm 1x\n", Format::Text).is_err());
        assert!(parse("# TYPE m gauge\nm 1\n", Format::Text).is_ok());
    }

    fn formats() -> impl Strategy<Value = Format> {
        prop_oneof![Just(Format::Text), Just(Format::OpenMetrics)]
    }

    fn values() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ]
    }

    fn same_value(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b
    }

    proptest! {
        #[test]
        fn escaping_round_trips(
            format in formats(),
            help in "\\PC{1,30}|[\\\\\"\n a]{1,10}",
            label_values in proptest::collection::vec("\\PC{0,20}|[\\\\\"\n]{0,6}", 0..4),
            value in values(),
        ) {
            let labels: Vec<(String, String)> = label_values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("l{i}"), v.clone()))
                .collect();
            let label_refs: Vec<(&str, &str)> =
                labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let encoder = Encoder::new(format);
            let mut out = BytesMut::new();
            encoder.family(&mut out, "m_total", &help, MetricType::Counter)
                .sample(&label_refs, value);
            encoder.finish(&mut out);
            let body = std::str::from_utf8(&out).unwrap();
            let families = parse(body, format).map_err(TestCaseError::fail)?;
            prop_assert_eq!(families.len(), 1);
            let family = &families[0];
            prop_assert_eq!(family.help.as_deref(), Some(help.as_str()));
            prop_assert_eq!(&family.samples[0].labels, &labels);
            prop_assert!(same_value(family.samples[0].value, value));
        }

        #[test]
        fn histograms_read_back(
            format in formats(),
            counts in proptest::collection::vec(0u32..1000, 0..6),
            server in "\\PC{0,10}",
        ) {
            let bounds: Vec<f64> = (0..counts.len()).map(|i| i as f64 * 0.5).collect();
            let mut cumulative = Vec::new();
            let mut total = 0.0;
            for count in &counts {
                total += f64::from(*count);
                cumulative.push(total);
            }
            let histogram = Histogram {
                upper_bounds: &bounds,
                cumulative_counts: &cumulative,
                sum: total * 2.0,
                count: total,
            };
            let encoder = Encoder::new(format);
            let mut out = BytesMut::new();
            encoder.histogram_family(&mut out, "h", "H.")
                .histogram(&[("server", &server)], &histogram)
                .unwrap();
            encoder.finish(&mut out);
            let families = parse(std::str::from_utf8(&out).unwrap(), format)
                .map_err(TestCaseError::fail)?;
            let samples = &families[0].samples;
            prop_assert_eq!(samples.len(), counts.len() + 3);
            let infinity = &samples[counts.len()];
            prop_assert_eq!(&infinity.labels[1], &("le".to_owned(), "+Inf".to_owned()));
            prop_assert_eq!(infinity.value, total);
            for (sample, bound) in samples.iter().zip(&bounds) {
                let le: f64 = sample.labels[1].1.parse().unwrap();
                prop_assert_eq!(le, *bound);
                prop_assert_eq!(&sample.labels[0].1, &server);
            }
        }
    }
}
