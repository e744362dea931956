//! The strftime patterns of `log_line_prefix` and `log_path`, checked before they are used:
//! the grammar the log writer renders (chrono's), so that a pattern this accepts always
//! renders.
//!
//! A `%` is followed by one specifier letter (`%Y`, `%b`, `%T`, ...), `%%`, `%n`, `%t` or `%+`;
//! a numeric specifier may carry one padding flag first (`%-d`, `%_H`, `%0e`); `%#z`, `%:z`,
//! `%::z` and `%:::z` are time zone offsets; `%.f`, `%.3f`, `%.6f`, `%.9f`, `%3f`, `%6f` and
//! `%9f` are fractions of a second. Anything else after a `%`, or a `%` at the end, is refused.

use thiserror::Error;

/// Specifiers that render one number: the only ones a padding flag (`-`, `0`, `_`) may
/// precede.
const NUMERIC: &str = "CGHIMSUVWYdefgjklmqsuwy";

/// Specifiers that render a name, a fixed text or several fields: no padding flag.
const OTHER: &str = "ABDFPRTXZabchnprtvxz+%";

/// Why a pattern is refused: the specifier at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{specifier}' at byte {offset} is not a strftime specifier")]
pub struct PatternError {
    /// Where the specifier starts (its `%`).
    pub offset: usize,
    /// The specifier as written, up to where it stopped making sense.
    pub specifier: String,
}

/// Checks every `%` specifier of `pattern`.
///
/// # Errors
/// The first specifier that is not one of those in the module documentation.
pub fn check(pattern: &str) -> Result<(), PatternError> {
    let mut rest = pattern;
    while let Some(start) = rest.find('%') {
        let offset = pattern.len() - rest.len() + start;
        let after = &rest[start + 1..];
        let length = specifier_length(after).ok_or_else(|| PatternError {
            offset,
            specifier: after
                .chars()
                .take(4)
                .fold(String::from("%"), |mut text, c| {
                    text.push(c);
                    text
                }),
        })?;
        rest = &after[length..];
    }
    Ok(())
}

/// The length in bytes of the specifier at the start of `text` (what follows a `%`), when it
/// is one.
fn specifier_length(text: &str) -> Option<usize> {
    let mut chars = text.chars();
    let first = chars.next()?;
    match first {
        '-' | '0' | '_' => {
            let letter = chars.next()?;
            NUMERIC.contains(letter).then_some(2)
        }
        '#' => (chars.next()? == 'z').then_some(2),
        ':' => [":::z", "::z", ":z"]
            .iter()
            .find(|form| text.starts_with(*form))
            .map(|form| form.len()),
        '.' => [".f", ".3f", ".6f", ".9f"]
            .iter()
            .find(|form| text.starts_with(*form))
            .map(|form| form.len()),
        '3' | '6' | '9' => (chars.next()? == 'f').then_some(2),
        letter if NUMERIC.contains(letter) || OTHER.contains(letter) => Some(letter.len_utf8()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_prefix_and_common_patterns_pass() {
        for pattern in [
            "%Y-%m-%d %H:%M:%S",
            "[%d/%b/%Y %T] %%",
            "%-d.%_m. %0e %s%.3f %:z %#z %::z %:::z %9f %+",
            "",
            "no specifier at all",
            "100%% sure",
        ] {
            assert_eq!(check(pattern), Ok(()), "{pattern}");
        }
    }

    #[test]
    fn unknown_incomplete_and_misplaced_specifiers_are_refused() {
        for (pattern, offset, specifier) in [
            ("%Q%", 0, "%Q%"),
            ("%Y-%", 3, "%"),
            ("ok %-T", 3, "%-T"),
            ("%#Y", 0, "%#Y"),
            ("%:x", 0, "%:x"),
            ("%.5f", 0, "%.5f"),
            ("%é", 0, "%é"),
        ] {
            assert_eq!(
                check(pattern),
                Err(PatternError {
                    offset,
                    specifier: specifier.to_owned()
                }),
                "{pattern}"
            );
        }
    }
}
