//! Metric and label names: validation and sanitising.
//!
//! A metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*` and a label name `[a-zA-Z_][a-zA-Z0-9_]*`.
//! Sanitising replaces every other character (a multi-byte character counts as one) with `_`,
//! puts `_` in front of a name that starts with a digit, and turns the empty name into `_`. A
//! valid name comes back borrowed, so the common case costs no allocation.

use std::borrow::Cow;

/// Which characters a name may hold.
#[derive(Clone, Copy)]
enum NameKind {
    Metric,
    Label,
}

/// The bytes a metric name may hold after its first: ASCII letters and digits, `_` and `:`.
static METRIC_BYTES: [bool; 256] = allowed_bytes(true);
/// The bytes a label name may hold after its first: ASCII letters and digits and `_`.
static LABEL_BYTES: [bool; 256] = allowed_bytes(false);

const fn allowed_bytes(colon: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < table.len() {
        let candidate = byte as u8;
        table[byte] =
            candidate.is_ascii_alphanumeric() || candidate == b'_' || (colon && candidate == b':');
        byte += 1;
    }
    table
}

impl NameKind {
    fn allows(self, c: char) -> bool {
        u8::try_from(c).is_ok_and(|byte| self.allows_byte(byte))
    }

    fn allows_byte(self, byte: u8) -> bool {
        let table = match self {
            NameKind::Metric => &METRIC_BYTES,
            NameKind::Label => &LABEL_BYTES,
        };
        table[usize::from(byte)]
    }
}

/// Whether `name` needs no change; works on bytes, since any non-ASCII byte is invalid. Label
/// names are checked for every sample, so this is a table lookup per byte.
fn is_valid(name: &str, kind: NameKind) -> bool {
    match name.as_bytes() {
        [] => false,
        [first, ..] if first.is_ascii_digit() => false,
        bytes => bytes.iter().all(|&byte| kind.allows_byte(byte)),
    }
}

fn sanitize(name: &str, kind: NameKind) -> Cow<'_, str> {
    if is_valid(name, kind) {
        return Cow::Borrowed(name);
    }
    let mut fixed = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        fixed.push('_');
    }
    fixed.extend(name.chars().map(|c| if kind.allows(c) { c } else { '_' }));
    Cow::Owned(fixed)
}

/// `name` made into a valid metric name (see the module documentation for the rules).
///
/// ```
/// use pgexporter_core::exposition::sanitize_metric_name;
/// assert_eq!(sanitize_metric_name("pg_stat:x"), "pg_stat:x");
/// assert_eq!(sanitize_metric_name("pg-stat é"), "pg_stat__");
/// assert_eq!(sanitize_metric_name("9lives"), "_9lives");
/// ```
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, NameKind::Metric)
}

/// `name` made into a valid label name (see the module documentation for the rules).
///
/// ```
/// use pgexporter_core::exposition::sanitize_label_name;
/// assert_eq!(sanitize_label_name("application_name"), "application_name");
/// assert_eq!(sanitize_label_name("a:b"), "a_b");
/// assert_eq!(sanitize_label_name(""), "_");
/// ```
pub fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    sanitize(name, NameKind::Label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_borrowed() {
        assert!(matches!(sanitize_metric_name("a_b:c9"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_label_name("_x1"), Cow::Borrowed(_)));
    }

    #[test]
    fn colon_is_for_metric_names_only() {
        assert_eq!(sanitize_metric_name("a:b"), "a:b");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
    }

    #[test]
    fn leading_digit_and_empty_names_are_fixed() {
        assert_eq!(sanitize_metric_name("1x"), "_1x");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(sanitize_label_name("0"), "_0");
    }

    #[test]
    fn each_invalid_character_becomes_one_underscore() {
        assert_eq!(sanitize_label_name("größe"), "gr__e");
        assert_eq!(sanitize_metric_name("a b.c"), "a_b_c");
    }
}
