//! Value syntax shared by every configuration key: booleans, durations, sizes, ports, lists and
//! `$VAR` expansion, each with a parser and a canonical renderer that parses back to the same
//! value.

use std::time::Duration;

use thiserror::Error;

/// A value that does not have the syntax its key expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The text is not a valid value of the kind `what`; `expected` describes the syntax.
    #[error("invalid {what} '{value}' (expected {expected})")]
    Invalid {
        /// The kind of value, e.g. `duration`.
        what: &'static str,
        /// The text as written.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The key needs a value and the text is empty.
    #[error("empty value (expected {expected})")]
    Empty {
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A `$VAR` or `${VAR}` names a variable that is not set.
    #[error("environment variable '{0}' is not set")]
    UndefinedVariable(String),
    /// A `${` without its closing `}`.
    #[error("unterminated '${{' in '{0}'")]
    UnterminatedVariable(String),
}

const BOOL_EXPECTED: &str = "on, yes, 1, true, off, no, 0 or false";
const DURATION_EXPECTED: &str = "digits with optional unit ms, s, m, h, d or w";
const SIZE_EXPECTED: &str = "digits with optional unit B, K, KB, M, MB, G or GB";
const INTEGER_EXPECTED: &str = "a positive whole number";

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ValueError {
    ValueError::Invalid {
        what,
        value: value.to_owned(),
        expected,
    }
}

/// Parses a boolean: `on yes 1 true` or `off no 0 false`, in any case.
pub fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "yes" | "1" | "true" => Ok(true),
        "off" | "no" | "0" | "false" => Ok(false),
        _ => Err(invalid("boolean", text, BOOL_EXPECTED)),
    }
}

/// Renders a boolean as `on` or `off`.
pub fn render_bool(value: bool) -> String {
    if value { "on" } else { "off" }.to_owned()
}

/// Splits `text` into its leading ASCII digits and the rest; `None` when there are no digits.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(end);
    if digits.is_empty() {
        return None;
    }
    // Digits only, so the one failure left is overflow.
    digits.parse::<u64>().ok().map(|n| (n, rest))
}

/// Units of a duration, longest spelling first where one is a prefix of another.
const DURATION_UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Parses a duration: digits with an optional unit `ms s m h d w` (any case); no unit means
/// seconds. Negative numbers, mixed units (`1h5ms`), unknown units and overflow are errors.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let err = || invalid("duration", text, DURATION_EXPECTED);
    let (number, unit) = split_number(text).ok_or_else(err)?;
    let unit = unit.to_ascii_lowercase();
    let millis_per_unit = if unit.is_empty() {
        1_000
    } else {
        DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, millis)| *millis)
            .ok_or_else(err)?
    };
    let millis = number.checked_mul(millis_per_unit).ok_or_else(err)?;
    Ok(Duration::from_millis(millis))
}

/// Renders a duration in the largest unit that divides it exactly (`30s`, `5m`, `250ms`, `0`).
/// Sub-millisecond parts, which no configuration text can produce, are dropped.
pub fn render_duration(value: Duration) -> String {
    let millis = value.as_millis();
    if millis == 0 {
        return "0".to_owned();
    }
    DURATION_UNITS
        .iter()
        .rev()
        .find(|(_, unit)| millis.is_multiple_of(u128::from(*unit)))
        .map(|(name, unit)| format!("{}{name}", millis / u128::from(*unit)))
        .unwrap_or_else(|| format!("{millis}ms"))
}

const SIZE_UNITS: [(&str, u64); 7] = [
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
];

/// Parses a size in bytes: digits with an optional unit `B K KB M MB G GB` (any case, powers
/// of 1024); no unit means bytes. Overflow is an error.
pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    let err = || invalid("size", text, SIZE_EXPECTED);
    let (number, unit) = split_number(text).ok_or_else(err)?;
    let unit = unit.to_ascii_lowercase();
    let multiplier = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, bytes)| *bytes)
            .ok_or_else(err)?
    };
    number.checked_mul(multiplier).ok_or_else(err)
}

/// Renders a size in the largest of `G`, `M`, `K` that divides it exactly, else in bytes.
pub fn render_size(value: u64) -> String {
    [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        .iter()
        .find(|(_, unit)| value != 0 && value.is_multiple_of(*unit))
        .map(|(name, unit)| format!("{}{name}", value / unit))
        .unwrap_or_else(|| value.to_string())
}

/// Parses a TCP port of a server: `1..=65535`.
pub fn parse_port(text: &str) -> Result<u16, ValueError> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(invalid("port", text, "a number from 1 to 65535")),
    }
}

/// Parses the port of an optional listener: `1..=65535`, or `0`, `-1` / `off` for none.
pub fn parse_listener_port(text: &str) -> Result<Option<u16>, ValueError> {
    if text == "0" || text == "-1" || text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_port(text)
        .map(Some)
        .map_err(|_| invalid("port", text, "a number from 1 to 65535, or 0 for off"))
}

/// Renders an optional listener port; `0` when off.
pub fn render_listener_port(value: Option<u16>) -> String {
    value.unwrap_or(0).to_string()
}

/// Parses a positive `u32`.
pub fn parse_positive(text: &str) -> Result<u32, ValueError> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid("number", text, INTEGER_EXPECTED)),
    }
}

/// Parses a comma-separated list; items are trimmed and empty items dropped. An empty list is
/// `None`, which every list key reads as "not set".
pub fn parse_list(text: &str) -> Option<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// Renders a list as comma-separated items; `None` renders as the empty string.
pub fn render_list(value: Option<&[String]>) -> String {
    value.map(|items| items.join(",")).unwrap_or_default()
}

/// Parses a non-empty string; `expected` names what the key holds, for the error.
pub fn parse_required(text: &str, expected: &'static str) -> Result<String, ValueError> {
    if text.is_empty() {
        Err(ValueError::Empty { expected })
    } else {
        Ok(text.to_owned())
    }
}

/// Parses an optional string: the empty text is `None`.
pub fn parse_optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Looks up an environment variable by name; the caller decides where values come from.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands `$VAR` and `${VAR}` in `text` with `env`. A `$` not followed by a name (or `{`) is
/// kept as it is. A variable that is not set, and an unclosed `${`, are errors.
pub fn expand_env(text: &str, env: EnvLookup<'_>) -> Result<String, ValueError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let close = braced
                .find('}')
                .ok_or_else(|| ValueError::UnterminatedVariable(text.to_owned()))?;
            (&braced[..close], close + 2)
        } else {
            let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = env(name).ok_or_else(|| ValueError::UndefinedVariable(name.to_owned()))?;
        out.push_str(&value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An enumeration that a key accepts by name.
pub trait Keyword: Sized + Copy + 'static {
    /// What the error calls this kind of value, e.g. `log level`.
    const WHAT: &'static str;
    /// The accepted spellings, for the error message.
    const EXPECTED: &'static str;
    /// Every spelling accepted (lower case) and the value it stands for; the first spelling of
    /// each value is the canonical one.
    const NAMES: &'static [(&'static str, Self)];
}

/// Parses a keyword of `K`, case-insensitively.
pub fn parse_keyword<K: Keyword + PartialEq>(text: &str) -> Result<K, ValueError> {
    let lower = text.to_ascii_lowercase();
    K::NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, value)| *value)
        .ok_or_else(|| invalid(K::WHAT, text, K::EXPECTED))
}

/// The canonical spelling of a keyword.
pub fn render_keyword<K: Keyword + PartialEq>(value: K) -> &'static str {
    K::NAMES
        .iter()
        .find(|(_, candidate)| *candidate == value)
        .map(|(name, _)| *name)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn booleans_in_every_spelling_and_case() {
        for text in ["on", "ON", "Yes", "1", "true", "TRUE", "tRuE"] {
            assert_eq!(parse_bool(text), Ok(true), "{text}");
        }
        for text in ["off", "Off", "NO", "0", "false", "False"] {
            assert_eq!(parse_bool(text), Ok(false), "{text}");
        }
        for text in ["", "2", "enabled", "y", "o n"] {
            assert!(parse_bool(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_with_every_unit() {
        let cases = [
            ("0", 0),
            ("30", 30_000),
            ("250ms", 250),
            ("250MS", 250),
            ("5s", 5_000),
            ("5S", 5_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1D", 86_400_000),
            ("1w", 604_800_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_durations() {
        for text in [
            "",
            "-5s",
            "1h5ms",
            "10y",
            "5x",
            "s",
            " 5s",
            "5 s",
            "1.5s",
            "99999999999999999999",
            "18446744073709551615w",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid duration '{text}' (expected digits with optional unit ms, s, m, h, d or w)"
                )
            );
        }
    }

    #[test]
    fn durations_render_in_the_largest_exact_unit() {
        assert_eq!(render_duration(Duration::ZERO), "0");
        assert_eq!(render_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(render_duration(Duration::from_secs(30)), "30s");
        assert_eq!(render_duration(Duration::from_secs(300)), "5m");
        assert_eq!(render_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(render_duration(Duration::from_secs(86_400 * 3)), "3d");
        assert_eq!(render_duration(Duration::from_secs(86_400 * 14)), "2w");
    }

    #[test]
    fn sizes_with_every_unit() {
        let cases = [
            ("0", 0),
            ("100", 100),
            ("100b", 100),
            ("100B", 100),
            ("1K", 1024),
            ("1kb", 1024),
            ("2M", 2 << 20),
            ("2MB", 2 << 20),
            ("3G", 3 << 30),
            ("3gb", 3 << 30),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in ["", "-1", "1T", "1KiB", "K", "1 K", "18446744073709551615G"] {
            assert!(parse_size(text).is_err(), "{text}");
        }
        assert_eq!(render_size(0), "0");
        assert_eq!(render_size(1000), "1000");
        assert_eq!(render_size(256 << 10), "256K");
        assert_eq!(render_size(10 << 20), "10M");
        assert_eq!(render_size(1 << 30), "1G");
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("5432"), Ok(5432));
        assert_eq!(parse_port("65535"), Ok(65535));
        for text in ["0", "65536", "-1", "", "http"] {
            assert!(parse_port(text).is_err(), "{text}");
        }
        assert_eq!(parse_listener_port("0"), Ok(None));
        assert_eq!(parse_listener_port("OFF"), Ok(None));
        assert_eq!(parse_listener_port("5002"), Ok(Some(5002)));
        assert!(parse_listener_port("70000").is_err());
        assert_eq!(render_listener_port(None), "0");
    }

    #[test]
    fn lists_trim_and_drop_empty_items() {
        assert_eq!(
            parse_list(" a, b ,,c "),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(parse_list(" , "), None);
        assert_eq!(render_list(Some(&["a".into(), "b".into()])), "a,b");
        assert_eq!(render_list(None), "");
    }

    #[test]
    fn environment_expansion() {
        let vars: HashMap<&str, &str> = [("HOME", "/home/pg"), ("X_1", "x")].into();
        let env = |name: &str| vars.get(name).map(|v| v.to_string());
        assert_eq!(expand_env("$HOME/log", &env).unwrap(), "/home/pg/log");
        assert_eq!(expand_env("${HOME}x/${X_1}", &env).unwrap(), "/home/pgx/x");
        assert_eq!(expand_env("a$/b$", &env).unwrap(), "a$/b$");
        assert_eq!(expand_env("$X_1$X_1", &env).unwrap(), "xx");
        assert_eq!(
            expand_env("$NOPE/x", &env),
            Err(ValueError::UndefinedVariable("NOPE".into()))
        );
        assert_eq!(
            expand_env("${HOME", &env),
            Err(ValueError::UnterminatedVariable("${HOME".into()))
        );
    }

    proptest! {
        #[test]
        fn durations_round_trip(millis in 0u64..(u64::MAX / 1000)) {
            let value = Duration::from_millis(millis);
            prop_assert_eq!(parse_duration(&render_duration(value)), Ok(value));
        }

        #[test]
        fn sizes_round_trip(bytes in any::<u64>()) {
            prop_assert_eq!(parse_size(&render_size(bytes)), Ok(bytes));
        }

        #[test]
        fn duration_parser_never_panics(text in "\\PC{0,12}") {
            let _ = parse_duration(&text);
        }
    }
}
