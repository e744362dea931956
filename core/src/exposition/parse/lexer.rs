//! The pieces of a sample line both formats share: names, label sets, values, timestamps.

use super::{Builder, LabelData, Span};

/// Whether blanks may stand between the tokens of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spacing {
    /// The text format: blanks and tabs around every token, a trailing comma in label sets.
    Loose,
    /// OpenMetrics: exactly one space between the parts of a line, none inside a label set.
    Strict,
}

/// A position in one line of the body.
pub(super) struct Cursor<'a> {
    line: &'a str,
    /// Where the line starts in the body.
    base: usize,
    at: usize,
    spacing: Spacing,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`, which starts at byte `base` of the body.
    pub(super) fn new(line: &'a str, base: usize, spacing: Spacing) -> Cursor<'a> {
        Cursor {
            line,
            base,
            at: 0,
            spacing,
        }
    }

    /// What is left of the line.
    pub(super) fn rest(&self) -> &'a str {
        self.line.get(self.at..).unwrap_or_default()
    }

    /// Whether the line is used up.
    pub(super) fn is_done(&self) -> bool {
        self.at >= self.line.len()
    }

    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.at).copied()
    }

    fn span(&self, start: usize, end: usize) -> Span {
        // Bodies are at most 4 GiB: `parse` checked.
        Span {
            start: (self.base + start) as u32,
            end: (self.base + end) as u32,
        }
    }

    /// Skips blanks and tabs (the text format's separators).
    pub(super) fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// Takes the separator between two parts of a line: at least one blank (exactly one space
    /// in OpenMetrics).
    pub(super) fn separator(&mut self) -> Result<(), String> {
        match (self.spacing, self.peek()) {
            (Spacing::Strict, Some(b' ')) => {
                self.at += 1;
                Ok(())
            }
            (Spacing::Loose, Some(b' ' | b'\t')) => {
                self.skip_blanks();
                Ok(())
            }
            _ => Err(format!("expected a space before {:?}", self.rest())),
        }
    }

    /// Takes `byte` when the line continues with it.
    pub(super) fn eat_byte(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    /// Takes `text` when the line continues with it.
    pub(super) fn eat(&mut self, text: &str) -> bool {
        if self.rest().starts_with(text) {
            self.at += text.len();
            true
        } else {
            false
        }
    }

    /// Takes a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    pub(super) fn metric_name(&mut self) -> Result<Span, String> {
        self.name(true)
            .ok_or_else(|| format!("expected a metric name at {:?}", self.rest()))
    }

    /// Takes a label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    fn label_name(&mut self) -> Result<Span, String> {
        self.name(false)
            .ok_or_else(|| format!("expected a label name at {:?}", self.rest()))
    }

    fn name(&mut self, metric: bool) -> Option<Span> {
        let start = self.at;
        let allowed = |byte: u8, first: bool| {
            byte.is_ascii_alphabetic()
                || byte == b'_'
                || (metric && byte == b':')
                || (!first && byte.is_ascii_digit())
        };
        while let Some(byte) = self.peek() {
            if !allowed(byte, self.at == start) {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| self.span(start, self.at))
    }

    /// Takes a word: everything up to the next blank or the end of the line.
    pub(super) fn word(&mut self) -> &'a str {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|byte| byte != b' ' && byte != b'\t')
        {
            self.at += 1;
        }
        self.line.get(start..self.at).unwrap_or_default()
    }

    /// Takes the rest of the line as text whose escapes are checked: `\\`, `\n`, and `\"`
    /// when `quotes` (HELP text).
    pub(super) fn escaped_rest(&mut self, quotes: bool) -> Result<Span, String> {
        let start = self.at;
        let end = self.line.len();
        check_escapes(&self.line[start..end], quotes, false)?;
        self.at = end;
        Ok(self.span(start, end))
    }

    /// Takes a label set (`{` … `}`) when one follows, pushing its labels to `builder`.
    pub(super) fn label_set(&mut self, builder: &mut Builder<'_>) -> Result<(), String> {
        let loose = self.spacing == Spacing::Loose;
        let before = self.at;
        if loose {
            self.skip_blanks();
        }
        if !self.eat_byte(b'{') {
            self.at = before;
            return Ok(());
        }
        let first = builder.labels.len();
        loop {
            if loose {
                self.skip_blanks();
            }
            if self.eat_byte(b'}') {
                return Ok(());
            }
            let name = self.label_name()?;
            if loose {
                self.skip_blanks();
            }
            if !self.eat_byte(b'=') {
                return Err(format!("expected '=' at {:?}", self.rest()));
            }
            if loose {
                self.skip_blanks();
            }
            let value = self.quoted()?;
            if builder.labels[first..]
                .iter()
                .any(|label| builder.same_text(label.name, name))
            {
                return Err(format!("label {} given twice", builder.text(name)));
            }
            builder.labels.push(LabelData { name, value });
            if loose {
                self.skip_blanks();
            }
            if self.eat_byte(b',') {
                if !loose && self.peek() == Some(b'}') {
                    return Err("a comma before '}'".to_owned());
                }
                continue;
            }
            if self.eat_byte(b'}') {
                return Ok(());
            }
            return Err(format!("expected ',' or '}}' at {:?}", self.rest()));
        }
    }

    /// Takes a quoted label value; the span is its escaped text, between the quotes.
    fn quoted(&mut self) -> Result<Span, String> {
        if !self.eat_byte(b'"') {
            return Err(format!("expected '\"' at {:?}", self.rest()));
        }
        let start = self.at;
        let rest = self.rest();
        let length = check_escapes(rest, true, true)?;
        self.at += length + 1;
        Ok(self.span(start, start + length))
    }

    /// Takes a sample value.
    pub(super) fn value(&mut self) -> Result<f64, String> {
        let word = self.word();
        parse_value(word).ok_or_else(|| format!("bad value {word:?}"))
    }
}

/// Checks the escapes of `text`: a backslash may only precede `\`, `n`, or `"` when `quotes`.
/// With `until_quote`, the text ends at the first unescaped `"`, whose offset is returned (an
/// error when there is none); otherwise the whole text is checked and its length returned.
fn check_escapes(text: &str, quotes: bool, until_quote: bool) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => match bytes.get(at + 1) {
                Some(b'\\' | b'n') => at += 2,
                Some(b'"') if quotes => at += 2,
                other => {
                    return Err(format!(
                        "bad escape '\\{}'",
                        other.map_or(String::new(), |&byte| char::from(byte).to_string())
                    ));
                }
            },
            b'"' if until_quote => return Ok(at),
            _ => at += 1,
        }
    }
    if until_quote {
        Err("label value without its closing quote".to_owned())
    } else {
        Ok(at)
    }
}

/// A sample value: a decimal or exponent number, `+Inf`, `-Inf`, `NaN` (and the other spellings
/// of infinity the text format's reader accepts).
pub(super) fn parse_value(word: &str) -> Option<f64> {
    let starts_well = word.trim_start_matches(['+', '-']).starts_with(|c: char| {
        c.is_ascii_digit() || c == '.' || c == 'I' || c == 'i' || c == 'N' || c == 'n'
    });
    if !starts_well || word.contains('_') {
        return None;
    }
    word.parse().ok()
}
