//! Escaping of HELP text and label values, and the formatting of sample values.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use super::Format;

/// Appends `text` escaped for a `# HELP` line.
///
/// Both formats escape `\` and newline; OpenMetrics also escapes `"` (its HELP text uses the
/// label value grammar), while the text format 0.0.4 must not (it knows no `\"` in HELP).
pub(super) fn write_help(out: &mut BytesMut, text: &str, format: Format) {
    let escape_quote = format == Format::OpenMetrics;
    write_escaped(out, text, escape_quote);
}

/// Appends `text` escaped for a quoted label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(super) fn write_label_value(out: &mut BytesMut, text: &str) {
    write_escaped(out, text, true);
}

/// Copies `text` in runs between the bytes that need escaping, found with `memchr` (label values
/// such as statement texts can be long, and most need no escape at all).
fn write_escaped(out: &mut BytesMut, text: &str, escape_quote: bool) {
    let mut rest = text.as_bytes();
    loop {
        let special = if escape_quote {
            memchr::memchr3(b'\\', b'\n', b'"', rest)
        } else {
            memchr::memchr2(b'\\', b'\n', rest)
        };
        let Some(at) = special else {
            out.put_slice(rest);
            return;
        };
        out.put_slice(&rest[..at]);
        out.put_slice(match rest[at] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\\"",
        });
        rest = &rest[at + 1..];
    }
}

/// Largest magnitude written as a plain integer; beyond it the exponent form is shorter.
const PLAIN_INTEGER_LIMIT: f64 = 1e15;
/// Smallest magnitude written in plain decimal; below it the exponent form is shorter.
const PLAIN_FRACTION_LIMIT: f64 = 1e-4;

/// Appends `value` in a form both formats accept: `NaN`, `+Inf`, `-Inf`; whole numbers below
/// 10^15 without a decimal point (`3`, `-0` becomes `0`); other numbers in the shortest decimal
/// form that reads back to the same `f64`, switching to exponent form (`1.5e-7`, `1e300`) for
/// very small or very large magnitudes.
pub(super) fn write_value(out: &mut BytesMut, value: f64) {
    if value.is_nan() {
        out.put_slice(b"NaN");
    } else if value.is_infinite() {
        out.put_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        let magnitude = value.abs();
        if value.fract() == 0.0 && magnitude < PLAIN_INTEGER_LIMIT {
            // Exact: the magnitude is a whole number below 2^53.
            write_integer(out, value < 0.0, magnitude as u64);
            return;
        }
        // Writing into a BytesMut cannot fail: it grows as needed.
        let _ = if (PLAIN_FRACTION_LIMIT..PLAIN_INTEGER_LIMIT).contains(&magnitude) {
            write!(out, "{value}")
        } else {
            write!(out, "{value:e}")
        };
    }
}

/// Appends a whole number in decimal without going through the formatting machinery (most
/// sample values are whole numbers). Zero is never negative.
fn write_integer(out: &mut BytesMut, negative: bool, mut magnitude: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative && !(start == digits.len() - 1 && digits[start] == b'0') {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help(text: &str, format: Format) -> String {
        let mut out = BytesMut::new();
        write_help(&mut out, text, format);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn label(text: &str) -> String {
        let mut out = BytesMut::new();
        write_label_value(&mut out, text);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn value(v: f64) -> String {
        let mut out = BytesMut::new();
        write_value(&mut out, v);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn help_escapes_backslash_and_newline() {
        assert_eq!(help("a\\b\nc \"q\"", Format::Text), "a\\\\b\\nc \"q\"");
        assert_eq!(
            help("a\\b\nc \"q\"", Format::OpenMetrics),
            "a\\\\b\\nc \\\"q\\\""
        );
    }

    #[test]
    fn label_values_escape_quote_backslash_newline() {
        assert_eq!(label(r#"C:\dir "x""#), r#"C:\\dir \"x\""#);
        assert_eq!(label("two\nlines"), "two\\nlines");
        assert_eq!(label("plain é"), "plain é");
        assert_eq!(label(""), "");
    }

    #[test]
    fn special_values() {
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn whole_numbers_have_no_decimal_point() {
        assert_eq!(value(0.0), "0");
        assert_eq!(value(-0.0), "0");
        assert_eq!(value(42.0), "42");
        assert_eq!(value(-7.0), "-7");
        assert_eq!(value(999_999_999_999_999.0), "999999999999999");
    }

    #[test]
    fn fractions_and_extremes() {
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(-1.5), "-1.5");
        assert_eq!(value(1.5e-7), "1.5e-7");
        assert_eq!(value(1e300), "1e300");
        assert_eq!(value(1e15), "1e15");
        assert_eq!(value(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn values_read_back_exactly() {
        for v in [0.1, 123.456, 1e-300, 5e-324, f64::MAX, -2.5e20, 1234567.125] {
            let text = value(v);
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
        }
    }
}
