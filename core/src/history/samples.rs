//! The rows of a snapshot: every sample line of an exposition body in the text format, as
//! `(metric, server, labels, value)`.
//!
//! The label text is kept as it appears between the braces (`server="primary",database="x"`),
//! as the reference stores it; `server` is the unescaped value of the `server` label, empty
//! when there is none. Lines that are not samples, or whose name or labels are longer than
//! the limits, are skipped and counted.

use std::borrow::Cow;

use crate::exposition::parse::unescape_label_value;

/// Longest sample name stored.
pub const MAX_METRIC_BYTES: usize = 200;

/// Longest label text stored: a series with more is skipped. It bounds the size of one row of
/// an API answer.
pub const MAX_LABELS_BYTES: usize = 8 * 1024;

/// One sample of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The sample name (`pgexporter_pg_database_size`, `..._bucket`, `..._sum`).
    pub metric: &'a str,
    /// The unescaped value of the `server` label; empty without one.
    pub server: Cow<'a, str>,
    /// The label text between the braces, as written; empty without labels.
    pub labels: &'a str,
    /// The value.
    pub value: f64,
}

/// The samples of a text-format body, in order. Reading never fails: a line that is not a
/// well-formed sample within the limits is skipped and counted in [`Samples::skipped`].
#[derive(Debug, Clone)]
pub struct Samples<'a> {
    lines: std::slice::Split<'a, u8, fn(&u8) -> bool>,
    skipped: usize,
}

impl<'a> Samples<'a> {
    /// The samples of `body`.
    pub fn new(body: &'a [u8]) -> Samples<'a> {
        let newline: fn(&u8) -> bool = |byte| *byte == b'\n';
        Samples {
            lines: body.split(newline),
            skipped: 0,
        }
    }

    /// How many non-empty, non-comment lines were skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

impl<'a> Iterator for Samples<'a> {
    type Item = Sample<'a>;

    fn next(&mut self) -> Option<Sample<'a>> {
        for line in self.lines.by_ref() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match std::str::from_utf8(line).ok().and_then(sample) {
                Some(sample) => return Some(sample),
                None => self.skipped += 1,
            }
        }
        None
    }
}

/// Reads `name[{labels}] value [timestamp]`.
fn sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let metric = &line[..name_end];
    if !is_metric_name(metric) || metric.len() > MAX_METRIC_BYTES {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = "";
    let mut server = Cow::Borrowed("");
    if let Some(inside) = rest.strip_prefix('{') {
        let (text, found_server, after) = label_text(inside)?;
        if text.len() > MAX_LABELS_BYTES {
            return None;
        }
        labels = text;
        server = found_server;
        rest = after;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = parse_value(fields.next()?)?;
    match (fields.next(), fields.next()) {
        (None, _) => {}
        (Some(timestamp), None) if timestamp.parse::<f64>().is_ok() => {}
        _ => return None,
    }
    Some(Sample {
        metric,
        server,
        labels,
        value,
    })
}

fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Reads `name="value",...}` after an opening brace: the text before the closing brace, the
/// `server` label's value, and what follows the brace.
fn label_text(inside: &str) -> Option<(&str, Cow<'_, str>, &str)> {
    let mut server = Cow::Borrowed("");
    let mut at = 0;
    let bytes = inside.as_bytes();
    loop {
        let rest = &inside[at..];
        let trimmed = rest.trim_start_matches([' ', ',']);
        at += rest.len() - trimmed.len();
        if trimmed.starts_with('}') {
            return Some((
                inside[..at].trim_end_matches([' ', ',']),
                server,
                &inside[at + 1..],
            ));
        }
        let eq = trimmed.find('=')?;
        let name = trimmed[..eq].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let value_start =
            at + eq + 1 + (trimmed[eq + 1..].len() - trimmed[eq + 1..].trim_start().len());
        if bytes.get(value_start) != Some(&b'"') {
            return None;
        }
        let mut end = value_start + 1;
        let mut escaped = false;
        loop {
            match *bytes.get(end)? {
                b'\\' if !escaped => escaped = true,
                b'"' if !escaped => break,
                _ => escaped = false,
            }
            end += 1;
        }
        if name == "server" {
            server = unescape_label_value(&inside[value_start + 1..end]);
        }
        at = end + 1;
    }
}

/// A sample value: a number, `NaN`, `+Inf` or `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> (Vec<(String, String, String, f64)>, usize) {
        let mut samples = Samples::new(body.as_bytes());
        let rows = samples
            .by_ref()
            .map(|s| {
                (
                    s.metric.to_owned(),
                    s.server.into_owned(),
                    s.labels.to_owned(),
                    s.value,
                )
            })
            .collect();
        (rows, samples.skipped())
    }

    #[test]
    fn sample_lines_become_rows() {
        let body = "# HELP pgexporter_state x\n# TYPE pgexporter_state gauge\npgexporter_state 1\n\
                    pgexporter_pg_database_size{server=\"primary\",database=\"postgres\"} 7631663\n\
                    x_bucket{server=\"a\\\"b\",le=\"+Inf\"} 3 1700000000\n\r\n";
        let (rows, skipped) = read(body);
        assert_eq!(skipped, 0);
        assert_eq!(
            rows,
            [
                ("pgexporter_state".into(), String::new(), String::new(), 1.0),
                (
                    "pgexporter_pg_database_size".into(),
                    "primary".into(),
                    "server=\"primary\",database=\"postgres\"".into(),
                    7_631_663.0
                ),
                (
                    "x_bucket".into(),
                    "a\"b".into(),
                    "server=\"a\\\"b\",le=\"+Inf\"".into(),
                    3.0
                ),
            ]
        );
    }

    #[test]
    fn special_values_and_braces_inside_labels() {
        let (rows, _) = read("a{q=\"} {x\"} NaN\nb -Inf\nc{} +Inf\n");
        assert_eq!(rows[0].2, "q=\"} {x\"");
        assert!(rows[0].3.is_nan());
        assert_eq!(rows[1].3, f64::NEG_INFINITY);
        assert_eq!((rows[2].2.as_str(), rows[2].3), ("", f64::INFINITY));
    }

    #[test]
    fn malformed_and_oversized_lines_are_skipped_and_counted() {
        let long_labels = format!("a{{x=\"{}\"}} 1\n", "v".repeat(MAX_LABELS_BYTES));
        let long_name = format!("{} 1\n", "n".repeat(MAX_METRIC_BYTES + 1));
        let body = format!(
            "ok 1\n1bad 2\nnovalue\nx{{unterminated=\"1 2\nx{{a=1}} 2\nv 1 2 3\nw one\n{long_labels}{long_name}\u{ff}\n"
        );
        let (rows, skipped) = read(&body);
        assert_eq!(rows.len(), 1);
        assert_eq!(skipped, 9);
    }

    #[test]
    fn invalid_utf8_is_skipped() {
        let mut samples = Samples::new(b"a 1\n\xff\xfe 2\nb 3\n");
        assert_eq!(samples.by_ref().count(), 2);
        assert_eq!(samples.skipped(), 1);
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_read_without_panicking(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let count = Samples::new(&body).count();
            proptest::prop_assert!(count <= body.len());
        }
    }
}
