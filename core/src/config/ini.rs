//! The INI syntax of `pgexporter.conf`: `[section]` headers, `key = value` lines, `#`/`;`
//! comment lines, blank lines, quotes and inline `#` comments. This layer knows no keys; it
//! turns text into sections of entries with their line numbers.
//!
//! Value rules: spaces and tabs around the value are stripped. A value that starts with `'` or
//! `"` is quoted: it ends at the first matching quote after which only blanks or a `#`/`;`
//! comment follow, and inside it `#` is plain text. In an unquoted value a `#` starts an
//! inline comment.

use std::ops::Range;

use thiserror::Error;

/// The longest line accepted, in bytes; longer lines are a syntax error rather than a large
/// allocation.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, trimmed; compared case-sensitively by the loader.
    pub key: String,
    /// The value with blanks, quotes and the inline comment removed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A `[name]` header and the entries under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// 1-based line number of the header.
    pub line: usize,
    /// Entries in file order.
    pub entries: Vec<Entry>,
}

/// A line that is not valid INI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// A `[` header without its `]`, or with text after it.
    #[error("malformed section header (expected '[name]')")]
    MalformedHeader,
    /// `[]` or `[  ]`.
    #[error("empty section name")]
    EmptySectionName,
    /// A line that is neither a header, a comment nor `key = value`.
    #[error("expected 'key = value', a '[section]' header or a comment")]
    MalformedLine,
    /// `= value` with nothing before the `=`.
    #[error("missing key before '='")]
    MissingKey,
    /// A `key = value` line before the first header.
    #[error("'key = value' before the first '[section]' header")]
    EntryOutsideSection,
    /// A quoted value that is not closed, or is followed by something other than a comment.
    #[error("unterminated quoted value")]
    UnterminatedQuote,
    /// The line is longer than [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
}

/// A syntax error and the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub error: SyntaxError,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_comment_or_blank(rest: &str) -> bool {
    let rest = rest.trim_start_matches(is_blank);
    rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')
}

/// The value after the `=`: the text it stands for, and where it is written in `raw` (quotes
/// included; blanks and an inline comment excluded).
fn value_of(raw: &str) -> Result<(&str, Range<usize>), SyntaxError> {
    let start = raw.len() - raw.trim_start_matches(is_blank).len();
    let written = raw.trim_matches(is_blank);
    if let Some(quote) = written.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &written[1..];
        return inner
            .match_indices(quote)
            .find(|(end, _)| is_comment_or_blank(&inner[end + 1..]))
            .map(|(end, _)| (&inner[..end], start..start + end + 2))
            .ok_or(SyntaxError::UnterminatedQuote);
    }
    let value = written.split('#').next().unwrap_or_default();
    let value = value.trim_end_matches(is_blank);
    Ok((value, start..start + value.len()))
}

fn header_name(line: &str) -> Result<&str, SyntaxError> {
    let inner = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .filter(|(_, after)| is_comment_or_blank(after))
        .map(|(inner, _)| inner.trim_matches(is_blank))
        .ok_or(SyntaxError::MalformedHeader)?;
    if inner.is_empty() {
        Err(SyntaxError::EmptySectionName)
    } else {
        Ok(inner)
    }
}

/// What one line of the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A blank line or a comment.
    Blank,
    /// A `[name]` header.
    Header(&'a str),
    /// A `key = value` line.
    Entry {
        /// The key, trimmed.
        key: &'a str,
        /// The value as [`parse`] reads it.
        value: &'a str,
        /// Where the value is written in the line, quotes included: replacing this range
        /// changes the value and keeps the rest of the line (spacing, an inline comment).
        written: Range<usize>,
    },
}

/// Reads one line (without its line break).
///
/// # Errors
/// When the line is neither blank, a comment, a header nor `key = value`.
pub fn classify(raw_line: &str) -> Result<Line<'_>, SyntaxError> {
    if raw_line.len() > MAX_LINE_LEN {
        return Err(SyntaxError::LineTooLong);
    }
    let trimmed = raw_line.trim_matches(is_blank);
    if is_comment_or_blank(trimmed) {
        return Ok(Line::Blank);
    }
    if trimmed.starts_with('[') {
        return header_name(trimmed).map(Line::Header);
    }
    let (key, raw_value) = raw_line.split_once('=').ok_or(SyntaxError::MalformedLine)?;
    let key = key.trim_matches(is_blank);
    if key.is_empty() {
        return Err(SyntaxError::MissingKey);
    }
    let (value, written) = value_of(raw_value)?;
    let offset = raw_line.len() - raw_value.len();
    Ok(Line::Entry {
        key,
        value,
        written: written.start + offset..written.end + offset,
    })
}

/// Splits `text` into sections, skipping a leading byte order mark. Stops at the first
/// syntax error. Duplicate sections and keys
/// are kept as written; deciding about them is the loader's job.
pub fn parse(text: &str) -> Result<Vec<Section>, LineError> {
    let mut sections: Vec<Section> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let fail = |error| LineError { line, error };
        match classify(raw_line).map_err(fail)? {
            Line::Blank => {}
            Line::Header(name) => sections.push(Section {
                name: name.to_owned(),
                line,
                entries: Vec::new(),
            }),
            Line::Entry { key, value, .. } => {
                let section = sections
                    .last_mut()
                    .ok_or(fail(SyntaxError::EntryOutsideSection))?;
                section.entries.push(Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    line,
                });
            }
        }
    }
    Ok(sections)
}

/// Writes `value` so that [`parse`] reads it back unchanged: bare when that is safe, else in
/// the first quote style that survives, else `None` (a value no quoting can carry, such as
/// one with a line break).
pub fn quote_value(value: &str) -> Option<String> {
    if value.contains(['\n', '\r']) {
        return None;
    }
    let bare_is_safe = !value.contains('#')
        && !value.starts_with(['"', '\''])
        && value.trim_matches(is_blank) == value;
    if bare_is_safe {
        return Some(value.to_owned());
    }
    ['"', '\'']
        .into_iter()
        .map(|quote| format!("{quote}{value}{quote}"))
        .find(|quoted| value_of(quoted).is_ok_and(|(read, _)| read == value))
}

/// Writes a `[name]` header that [`parse`] reads back as `name`; `None` when the name cannot
/// be a header (empty, surrounding blanks, a `]` or a line break).
pub fn section_header(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && !name.contains([']', '\n', '\r'])
        && name.trim_matches(is_blank) == name;
    valid.then(|| format!("[{name}]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn single_value(line: &str) -> Result<String, LineError> {
        let text = format!("[s]\n{line}\n");
        let sections = parse(&text)?;
        Ok(sections[0].entries[0].value.clone())
    }

    #[test]
    fn sections_entries_and_line_numbers() {
        let text = "# comment\n; other comment\n\n[pgexporter]\nhost = *\n\n[ primary ]\n\tport\t=\t5432\t\n";
        let sections = parse(text).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].name, "pgexporter");
        assert_eq!(sections[0].line, 4);
        assert_eq!(
            sections[0].entries,
            vec![Entry {
                key: "host".into(),
                value: "*".into(),
                line: 5
            }]
        );
        assert_eq!(sections[1].name, "primary");
        assert_eq!(
            sections[1].entries,
            vec![Entry {
                key: "port".into(),
                value: "5432".into(),
                line: 8
            }]
        );
    }

    #[test]
    fn value_rules() {
        let cases = [
            ("k = v", "v"),
            ("k=v", "v"),
            ("k =   spaced value  ", "spaced value"),
            ("k = v # comment", "v"),
            ("k = v#comment", "v"),
            ("k = v ; not a comment", "v ; not a comment"),
            ("k = \"quoted # hash\"", "quoted # hash"),
            ("k = 'single'  # comment", "single"),
            ("k = \"  padded  \"", "  padded  "),
            ("k = \"a\"b\"", "a\"b"),
            ("k = \"\"", ""),
            ("k =", ""),
            ("k = # only a comment", ""),
            ("k = a=b", "a=b"),
            ("k = 'it\"s'", "it\"s"),
            ("k = \"x\" ; comment", "x"),
        ];
        for (line, expected) in cases {
            assert_eq!(single_value(line).unwrap(), expected, "{line}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let sections = parse("\u{feff}[s]\nk = v\n").unwrap();
        assert_eq!(sections[0].name, "s");
    }

    #[test]
    fn crlf_line_endings() {
        let sections = parse("[s]\r\nk = v\r\n").unwrap();
        assert_eq!(sections[0].entries[0].value, "v");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let cases = [
            ("[s]\nk = \"open\n", 2, SyntaxError::UnterminatedQuote),
            ("[s]\nk = \"a\" b\n", 2, SyntaxError::UnterminatedQuote),
            ("[s\n", 1, SyntaxError::MalformedHeader),
            ("[s] x\n", 1, SyntaxError::MalformedHeader),
            ("\n[]\n", 2, SyntaxError::EmptySectionName),
            ("[s]\n\njust words\n", 3, SyntaxError::MalformedLine),
            ("[s]\n= v\n", 2, SyntaxError::MissingKey),
            ("k = v\n", 1, SyntaxError::EntryOutsideSection),
        ];
        for (text, line, error) in cases {
            assert_eq!(parse(text), Err(LineError { line, error }), "{text:?}");
        }
        let long = format!("[s]\nk = {}\n", "x".repeat(MAX_LINE_LEN));
        assert_eq!(parse(&long).unwrap_err().error, SyntaxError::LineTooLong);
    }

    #[test]
    fn header_may_carry_a_comment() {
        let sections = parse("[s] # the server\n").unwrap();
        assert_eq!(sections[0].name, "s");
    }

    #[test]
    fn quoting_for_output() {
        assert_eq!(quote_value("plain").as_deref(), Some("plain"));
        assert_eq!(quote_value("a # b").as_deref(), Some("\"a # b\""));
        assert_eq!(quote_value(" lead").as_deref(), Some("\" lead\""));
        assert_eq!(quote_value("\"x").as_deref(), Some("\"\"x\""));
        assert_eq!(quote_value("a\" # b").as_deref(), Some("'a\" # b'"));
        assert_eq!(quote_value("two\nlines"), None);
    }

    #[test]
    fn headers_for_output() {
        assert_eq!(section_header("a#b").as_deref(), Some("[a#b]"));
        assert_eq!(parse("[a#b]\n").unwrap()[0].name, "a#b");
        for bad in ["", " a", "a]b", "a\nb"] {
            assert_eq!(section_header(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn parser_never_panics_on_ini_like_text(text in "([\\[\\]=#;'\" \t\na-z]{0,20}){0,20}") {
            let _ = parse(&text);
        }

        #[test]
        fn rendered_sections_read_back(
            sections in proptest::collection::vec(
                (
                    "\\PC{1,16}",
                    proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,30}"), 0..5),
                ),
                0..4,
            ),
        ) {
            let mut text = String::new();
            let mut expected = Vec::new();
            for (name, entries) in &sections {
                let Some(header) = section_header(name) else { continue };
                text.push_str(&header);
                text.push('\n');
                let mut kept = Vec::new();
                for (key, value) in entries {
                    if let Some(quoted) = quote_value(value) {
                        text.push_str(&format!("{key} = {quoted}\n"));
                        kept.push((key.clone(), value.clone()));
                    }
                }
                expected.push((name.clone(), kept));
            }
            let read: Vec<(String, Vec<(String, String)>)> = parse(&text)
                .unwrap()
                .into_iter()
                .map(|section| {
                    let entries = section.entries.into_iter().map(|e| (e.key, e.value)).collect();
                    (section.name, entries)
                })
                .collect();
            prop_assert_eq!(read, expected);
        }

        #[test]
        fn quoted_values_read_back(value in "[ -~\t]{0,40}") {
            if let Some(quoted) = quote_value(&value) {
                prop_assert_eq!(single_value(&format!("k = {quoted}")).unwrap(), value);
            }
        }
    }
}
