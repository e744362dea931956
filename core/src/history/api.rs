//! The `/history/<metric>` API (SPEC §11): a request target read into a [`HistoryRequest`],
//! its window, and the JSON answer written page by page.
//!
//! `GET /history/<metric>?timestamp=<epoch s>&duration=<s>` answers the samples of that metric
//! stored in `[timestamp + min(0, duration), timestamp + max(0, duration)]` (both ends
//! included), oldest first, as a JSON array of `{"timestamp", "server", "metric", "labels",
//! "value"}`. `timestamp` defaults to now and `duration` to -3600. A path outside
//! `/history/<metric>` is 404; a metric name that is not one, or a parameter that is not an
//! integer, is 400. Other parameters are ignored; of a repeated one the first counts.

use std::fmt::Write;

use bytes::{BufMut, BytesMut};

use super::samples::MAX_METRIC_BYTES;

/// The path prefix of the API.
pub const HISTORY_PATH: &str = "/history/";

/// The window when the request gives no `duration`: the hour before `timestamp`.
pub const DEFAULT_DURATION: i64 = -3600;

/// A request for the history of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The sample name.
    pub metric: String,
    /// The `timestamp` parameter (seconds since the epoch); `None` means now.
    pub timestamp: Option<i64>,
    /// The `duration` parameter in seconds: negative looks back, positive forward.
    pub duration: i64,
}

/// Why a request target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `/history/<metric>` (404).
    #[error("not a history path")]
    NotFound,
    /// The metric name is not a metric name (400).
    #[error("not a metric name")]
    BadMetric,
    /// `timestamp` or `duration` is not an integer (400).
    #[error("parameter '{0}' is not an integer")]
    BadParameter(&'static str),
}

impl HistoryRequest {
    /// Reads a request target (path and query, origin form).
    ///
    /// # Errors
    /// The [`Refusal`] to answer with.
    pub fn parse(target: &str) -> Result<HistoryRequest, Refusal> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let metric = path.strip_prefix(HISTORY_PATH).ok_or(Refusal::NotFound)?;
        if metric.is_empty() {
            return Err(Refusal::NotFound);
        }
        let valid = metric.len() <= MAX_METRIC_BYTES
            && !metric.starts_with(|c: char| c.is_ascii_digit())
            && metric
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
        if !valid {
            return Err(Refusal::BadMetric);
        }
        let parameter = |name: &'static str| -> Result<Option<i64>, Refusal> {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.parse().map_err(|_| Refusal::BadParameter(name)))
                .transpose()
        };
        Ok(HistoryRequest {
            metric: metric.to_owned(),
            timestamp: parameter("timestamp")?,
            duration: parameter("duration")?.unwrap_or(DEFAULT_DURATION),
        })
    }

    /// The window asked for, with `now` (seconds since the epoch) standing in for a missing
    /// `timestamp`.
    pub fn window(&self, now: i64) -> Window {
        Window::around(self.timestamp.unwrap_or(now), self.duration)
    }
}

/// A closed interval of seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first second included.
    pub from: i64,
    /// The last second included.
    pub to: i64,
}

impl Window {
    /// `[timestamp + min(0, duration), timestamp + max(0, duration)]`, saturating.
    pub fn around(timestamp: i64, duration: i64) -> Window {
        Window {
            from: timestamp.saturating_add(duration.min(0)),
            to: timestamp.saturating_add(duration.max(0)),
        }
    }
}

/// Where an answer goes on: after the row with this snapshot time and series, within the
/// window. Opaque to the service that carries it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The window of the request.
    pub window: Window,
    /// The last row sent: its snapshot time.
    pub timestamp: i64,
    /// The last row sent: its series.
    pub series: i64,
}

/// One stored sample, as a query reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    /// The snapshot's time, seconds since the epoch.
    pub timestamp: i64,
    /// The series' number in the store (orders rows of one snapshot).
    pub series: i64,
    /// The `server` label's value.
    pub server: String,
    /// The label text.
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// A JSON answer being written: rows are appended until the piece reaches its size, the
/// array is opened by the first piece and closed by the last.
#[derive(Debug)]
pub struct AnswerPiece<'a> {
    metric: &'a str,
    out: &'a mut BytesMut,
    rows_before: bool,
}

impl<'a> AnswerPiece<'a> {
    /// A piece of the answer for `metric` written into `out`; `continuing` when earlier
    /// pieces already sent rows.
    pub fn new(metric: &'a str, continuing: bool, out: &'a mut BytesMut) -> AnswerPiece<'a> {
        if !continuing {
            out.put_u8(b'[');
        }
        AnswerPiece {
            metric,
            out,
            rows_before: continuing,
        }
    }

    /// Appends `row`.
    pub fn push(&mut self, row: &StoredRow) {
        if self.rows_before {
            self.out.put_u8(b',');
        }
        self.rows_before = true;
        let mut text = String::with_capacity(96 + row.labels.len());
        let _ = write!(text, "{{\"timestamp\":{},\"server\":", row.timestamp);
        json_string(&mut text, &row.server);
        text.push_str(",\"metric\":");
        json_string(&mut text, self.metric);
        text.push_str(",\"labels\":");
        json_string(&mut text, &row.labels);
        text.push_str(",\"value\":");
        json_number(&mut text, row.value);
        text.push('}');
        self.out.put_slice(text.as_bytes());
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Closes the array: this was the last piece.
    pub fn finish(self) {
        self.out.put_u8(b']');
    }
}

fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite value as a JSON number; NaN and the infinities as the strings Prometheus uses
/// (`"NaN"`, `"+Inf"`, `"-Inf"`), since JSON has no numbers for them.
fn json_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("\"NaN\"");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "\"+Inf\"" } else { "\"-Inf\"" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{value:.0}");
    } else {
        let _ = write!(out, "{value:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_their_defaults() {
        let request = HistoryRequest::parse("/history/pgexporter_pg_database_size").unwrap();
        assert_eq!(request.metric, "pgexporter_pg_database_size");
        assert_eq!((request.timestamp, request.duration), (None, -3600));
        assert_eq!(
            request.window(10_000),
            Window {
                from: 6400,
                to: 10_000
            }
        );
        let request =
            HistoryRequest::parse("/history/up?duration=600&x=y&timestamp=100&duration=5").unwrap();
        assert_eq!((request.timestamp, request.duration), (Some(100), 600));
        assert_eq!(request.window(0), Window { from: 100, to: 700 });
        let request = HistoryRequest::parse("/history/a:b?duration=-600").unwrap();
        assert_eq!(
            request.window(1000),
            Window {
                from: 400,
                to: 1000
            }
        );
    }

    #[test]
    fn refusals() {
        for target in [
            "/",
            "/metrics",
            "/history",
            "/history/",
            "/historyx/a",
            "/history/?x",
        ] {
            assert_eq!(
                HistoryRequest::parse(target),
                Err(Refusal::NotFound),
                "{target}"
            );
        }
        let long = format!("/history/{}", "m".repeat(MAX_METRIC_BYTES + 1));
        for target in [
            "/history/a/b",
            "/history/1a",
            "/history/a%20b",
            "/history/a-b",
            &long,
        ] {
            assert_eq!(
                HistoryRequest::parse(target),
                Err(Refusal::BadMetric),
                "{target}"
            );
        }
        for (target, name) in [
            ("/history/a?timestamp=now", "timestamp"),
            ("/history/a?duration=1h", "duration"),
            ("/history/a?duration=", "duration"),
            ("/history/a?timestamp=99999999999999999999", "timestamp"),
        ] {
            assert_eq!(
                HistoryRequest::parse(target),
                Err(Refusal::BadParameter(name)),
                "{target}"
            );
        }
    }

    #[test]
    fn windows_saturate_instead_of_overflowing() {
        let request = HistoryRequest::parse(&format!(
            "/history/a?timestamp={}&duration={}",
            i64::MIN,
            i64::MIN
        ))
        .unwrap();
        assert_eq!(
            request.window(0),
            Window {
                from: i64::MIN,
                to: i64::MIN
            }
        );
    }

    fn row(timestamp: i64, value: f64) -> StoredRow {
        StoredRow {
            timestamp,
            series: 1,
            server: "primary".into(),
            labels: "server=\"primary\",database=\"a\\\"b\"".into(),
            value,
        }
    }

    #[test]
    fn pieces_make_one_json_array() {
        let mut out = BytesMut::new();
        let mut first = AnswerPiece::new("m", false, &mut out);
        first.push(&row(1, 2.0));
        let mut second = AnswerPiece::new("m", true, &mut out);
        second.push(&row(2, 0.5));
        second.push(&row(3, f64::NAN));
        second.push(&row(4, f64::NEG_INFINITY));
        second.finish();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let rows = parsed.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            serde_json::json!({"timestamp": 1, "server": "primary", "metric": "m",
                "labels": "server=\"primary\",database=\"a\\\"b\"", "value": 2})
        );
        assert_eq!(rows[1]["value"], 0.5);
        assert_eq!(rows[2]["value"], "NaN");
        assert_eq!(rows[3]["value"], "-Inf");
        let mut empty = BytesMut::new();
        AnswerPiece::new("m", false, &mut empty).finish();
        assert_eq!(&empty[..], b"[]");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut text = String::new();
        json_string(&mut text, "a\u{1}\t\r\n\\");
        assert_eq!(text, "\"a\\u0001\\t\\r\\n\\\\\"");
        let parsed: String = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, "a\u{1}\t\r\n\\");
    }
}
