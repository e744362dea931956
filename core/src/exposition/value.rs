//! From PostgreSQL text to exposition values (SPEC §6.1).
//!
//! PostgreSQL returns every column as text (or NULL). [`sample_value`] turns such text into a
//! sample value, [`label_value`] into a label value, and [`parse_array`] / [`parse_number_array`]
//! read the array text (`{a,b,"c d",NULL}`) that histogram columns hold.

use std::borrow::Cow;

/// The label value written for a NULL or empty column.
pub const MISSING_LABEL: &str = "n/a";

/// The sample value of a column: NULL or empty → 0; `f`, `off`, `(disabled)` → 0; `t`, `on` → 1;
/// a number as it is (including `NaN`, `Infinity`, `-Infinity`); any other text → 1.
///
/// ```
/// use pgexporter_core::exposition::value::sample_value;
/// assert_eq!(sample_value(None), 0.0);
/// assert_eq!(sample_value(Some("off")), 0.0);
/// assert_eq!(sample_value(Some("t")), 1.0);
/// assert_eq!(sample_value(Some("-12.5")), -12.5);
/// assert!(sample_value(Some("NaN")).is_nan());
/// assert_eq!(sample_value(Some("replica")), 1.0);
/// ```
pub fn sample_value(text: Option<&str>) -> f64 {
    match text {
        None | Some("" | "f" | "off" | "(disabled)") => 0.0,
        Some("t" | "on") => 1.0,
        Some(text) => parse_number(text).unwrap_or(1.0),
    }
}

/// A number as PostgreSQL prints one: decimal or exponent notation, `NaN`, `Infinity`,
/// `-Infinity`. Rejects the other spellings Rust's parser knows (`inf`, `nan`), which
/// PostgreSQL never prints, so that such text counts as "other text".
fn parse_number(text: &str) -> Option<f64> {
    let digits = text.trim_start_matches(['+', '-']);
    let numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if numeric || matches!(digits, "NaN" | "Infinity") {
        text.parse().ok()
    } else {
        None
    }
}

/// The label value of a column: the text itself, or [`MISSING_LABEL`] for NULL or empty text.
/// Escaping happens when the value is written.
///
/// ```
/// use pgexporter_core::exposition::value::label_value;
/// assert_eq!(label_value(Some("postgres")), "postgres");
/// assert_eq!(label_value(Some("")), "n/a");
/// assert_eq!(label_value(None), "n/a");
/// ```
pub fn label_value(text: Option<&str>) -> &str {
    match text {
        None | Some("") => MISSING_LABEL,
        Some(text) => text,
    }
}

/// Array text that cannot be read; nothing useful was produced from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArrayError {
    /// The text does not start with `{` or does not end with `}`.
    #[error("array text is not enclosed in braces")]
    NotAnArray,
    /// Nested arrays or a dimension prefix (`[1:2]={...}`), which histograms never use.
    #[error("multi-dimensional array text is not supported")]
    MultiDimensional,
    /// A quoted element is not terminated, a quote appears inside an unquoted element, or an
    /// element is not followed by `,` or `}`.
    #[error("malformed array element at byte {offset}")]
    Malformed {
        /// Byte offset of the problem in the array text.
        offset: usize,
    },
    /// More elements than the caller's limit.
    #[error("array has more than {limit} elements")]
    TooManyElements {
        /// The limit that was passed.
        limit: usize,
    },
}

/// Parses one-dimensional PostgreSQL array text into its elements, appending them to `out`
/// (cleared first): `None` for an unquoted `NULL` (any case), else the element text with quotes
/// removed and backslash escapes resolved. Unquoted elements are trimmed of surrounding
/// whitespace. At most `limit` elements are accepted.
///
/// ```
/// use pgexporter_core::exposition::value::parse_array;
/// let mut out = Vec::new();
/// parse_array(r#"{1, "a \"b\"",NULL,"NULL"}"#, 10, &mut out).unwrap();
/// assert_eq!(out, [Some("1".into()), Some("a \"b\"".into()), None, Some("NULL".into())]);
/// ```
///
/// # Errors
/// [`ArrayError`] when the text is not a one-dimensional array or has more than `limit`
/// elements; `out` then holds the elements read so far.
pub fn parse_array<'a>(
    text: &'a str,
    limit: usize,
    out: &mut Vec<Option<Cow<'a, str>>>,
) -> Result<(), ArrayError> {
    out.clear();
    if text.starts_with('[') {
        return Err(ArrayError::MultiDimensional);
    }
    let inner = text
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or(ArrayError::NotAnArray)?;
    if inner.trim().is_empty() {
        return Ok(());
    }
    let mut position = 0;
    loop {
        if out.len() == limit {
            return Err(ArrayError::TooManyElements { limit });
        }
        let (element, next) = read_element(inner, position)?;
        out.push(element);
        match inner.as_bytes().get(next) {
            None => return Ok(()),
            Some(b',') => position = next + 1,
            Some(_) => return Err(ArrayError::Malformed { offset: next + 1 }),
        }
    }
}

/// Reads the element starting at `start` in `inner` (the text between the braces); returns it
/// and the offset just after it (and after trailing whitespace).
fn read_element(inner: &str, start: usize) -> Result<(Option<Cow<'_, str>>, usize), ArrayError> {
    let bytes = inner.as_bytes();
    let mut position = skip_whitespace(bytes, start);
    let malformed = |at: usize| ArrayError::Malformed { offset: at + 1 };
    let element = match bytes.get(position) {
        Some(b'{') => return Err(ArrayError::MultiDimensional),
        Some(b'"') => {
            let (element, after) = read_quoted(inner, position + 1).ok_or(malformed(position))?;
            position = after;
            Some(element)
        }
        _ => {
            let end = inner[position..]
                .find(',')
                .map_or(inner.len(), |offset| position + offset);
            let raw = inner[position..end].trim();
            if raw.contains(['"', '{', '}', '\\']) || raw.is_empty() {
                return Err(malformed(position));
            }
            position = end;
            (!raw.eq_ignore_ascii_case("NULL")).then_some(Cow::Borrowed(raw))
        }
    };
    Ok((element, skip_whitespace(bytes, position)))
}

/// Reads a quoted element whose text starts at `start` (just after the opening quote); returns
/// its text and the offset after the closing quote, or `None` when it is not terminated.
fn read_quoted(inner: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let rest = &inner[start..];
    let mut owned: Option<String> = None;
    let mut chars = rest.char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => {
                let text = owned.map_or(Cow::Borrowed(&rest[..offset]), Cow::Owned);
                return Some((text, start + offset + 1));
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                owned
                    .get_or_insert_with(|| rest[..offset].to_owned())
                    .push(escaped);
            }
            _ => {
                if let Some(text) = owned.as_mut() {
                    text.push(c);
                }
            }
        }
    }
    None
}

fn skip_whitespace(bytes: &[u8], mut position: usize) -> usize {
    while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
        position += 1;
    }
    position
}

/// Parses array text of numbers (histogram bounds or counts) into `out` (cleared first), each
/// element mapped as [`sample_value`] maps a column, so NULL becomes 0.
///
/// ```
/// use pgexporter_core::exposition::value::parse_number_array;
/// let mut out = Vec::new();
/// parse_number_array("{0.5,1,Infinity}", 64, &mut out).unwrap();
/// assert_eq!(out, [0.5, 1.0, f64::INFINITY]);
/// ```
///
/// # Errors
/// As [`parse_array`].
pub fn parse_number_array(text: &str, limit: usize, out: &mut Vec<f64>) -> Result<(), ArrayError> {
    let mut elements = Vec::new();
    let parsed = parse_array(text, limit, &mut elements);
    out.clear();
    out.extend(
        elements
            .iter()
            .map(|element| sample_value(element.as_deref())),
    );
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn array(text: &str) -> Result<Vec<Option<String>>, ArrayError> {
        let mut out = Vec::new();
        parse_array(text, 100, &mut out)?;
        Ok(out.into_iter().map(|e| e.map(Cow::into_owned)).collect())
    }

    #[test]
    fn sample_values_follow_the_spec() {
        for (text, expected) in [
            ("", 0.0),
            ("f", 0.0),
            ("off", 0.0),
            ("(disabled)", 0.0),
            ("t", 1.0),
            ("on", 1.0),
            ("42", 42.0),
            ("-3.25", -3.25),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("inf", 1.0),
            ("yes", 1.0),
            ("12abc", 1.0),
            ("16/0", 1.0),
        ] {
            assert_eq!(sample_value(Some(text)), expected, "{text:?}");
        }
        assert!(sample_value(Some("NaN")).is_nan());
        assert_eq!(sample_value(None), 0.0);
    }

    #[test]
    fn label_values_replace_missing_text() {
        assert_eq!(label_value(Some(" ")), " ");
        assert_eq!(label_value(Some("")), MISSING_LABEL);
    }

    #[test]
    fn arrays_of_every_shape() {
        assert_eq!(array("{}").unwrap(), Vec::<Option<String>>::new());
        assert_eq!(array("{ }").unwrap(), Vec::<Option<String>>::new());
        assert_eq!(
            array("{a, b ,null}").unwrap(),
            [Some("a".into()), Some("b".into()), None]
        );
        assert_eq!(
            array(r#"{"",",","\\"}"#).unwrap(),
            [Some("".into()), Some(",".into()), Some("\\".into())]
        );
        assert_eq!(array(r#"{"é\"x"}"#).unwrap(), [Some("é\"x".into())]);
    }

    #[test]
    fn malformed_arrays_are_errors() {
        assert_eq!(array("1,2").unwrap_err(), ArrayError::NotAnArray);
        assert_eq!(array("{1,2").unwrap_err(), ArrayError::NotAnArray);
        assert_eq!(
            array("{{1},{2}}").unwrap_err(),
            ArrayError::MultiDimensional
        );
        assert_eq!(
            array("[1:2]={1,2}").unwrap_err(),
            ArrayError::MultiDimensional
        );
        assert!(matches!(array("{\"a}"), Err(ArrayError::Malformed { .. })));
        assert!(matches!(
            array("{\"a\"b}"),
            Err(ArrayError::Malformed { .. })
        ));
        assert!(matches!(array("{a\"b}"), Err(ArrayError::Malformed { .. })));
        assert!(matches!(array("{1,,2}"), Err(ArrayError::Malformed { .. })));
        assert!(matches!(array("{1,}"), Err(ArrayError::Malformed { .. })));
    }

    #[test]
    fn element_limit_is_enforced() {
        let mut out = Vec::new();
        assert_eq!(
            parse_array("{1,2,3}", 2, &mut out),
            Err(ArrayError::TooManyElements { limit: 2 })
        );
        assert_eq!(out.len(), 2);
        assert!(parse_array("{1,2}", 2, &mut out).is_ok());
    }

    #[test]
    fn number_arrays_map_like_columns() {
        let mut out = vec![9.0];
        parse_number_array("{1,NULL,t,2.5}", 10, &mut out).unwrap();
        assert_eq!(out, [1.0, 0.0, 1.0, 2.5]);
    }

    proptest! {
        #[test]
        fn quoted_arrays_round_trip(elements in proptest::collection::vec(".{0,12}", 0..8)) {
            let quoted: Vec<String> = elements
                .iter()
                .map(|e| format!("\"{}\"", e.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let text = format!("{{{}}}", quoted.join(","));
            let parsed = array(&text).unwrap();
            let expected: Vec<Option<String>> = elements.into_iter().map(Some).collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let mut out = Vec::new();
            let _ = parse_array(&text, 8, &mut out);
            prop_assert!(out.len() <= 8);
        }
    }
}
