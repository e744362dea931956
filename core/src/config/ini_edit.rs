//! Editing `pgexporter.conf` in place: the text is kept line by line, each line read with the
//! rules of [`super::ini`], so a key can be read, set or removed, and a section added or
//! removed, while every other line (comments, blank lines, spacing, inline comments) stays
//! byte for byte. This layer knows no keys; checking the result is the loader's job.

use thiserror::Error;

use super::ini::{self, Line, LineError, SyntaxError};

/// Why an edit cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EditError {
    /// The file has no such section.
    #[error("no section [{0}]")]
    NoSection(String),
    /// The section has no such key.
    #[error("no key '{key}' in [{section}]")]
    NoKey {
        /// The section.
        section: String,
        /// The key.
        key: String,
    },
    /// A section name that cannot be a `[name]` header.
    #[error("'{0}' cannot be a section name")]
    BadSection(String),
    /// A key that cannot be written as `key = value`.
    #[error("'{0}' cannot be a key")]
    BadKey(String),
    /// A value no quoting can carry (a line break).
    #[error("the value cannot be written on one line")]
    BadValue,
}

/// One line of the file as written, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Blank or a comment.
    Other,
    /// `[name]`.
    Header(String),
    /// `key = value`; `value` as the parser reads it.
    Entry { key: String, value: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct EditLine {
    text: String,
    kind: Kind,
}

impl EditLine {
    fn read(text: &str) -> Result<EditLine, SyntaxError> {
        let kind = match ini::classify(text)? {
            Line::Blank => Kind::Other,
            Line::Header(name) => Kind::Header(name.to_owned()),
            Line::Entry { key, value, .. } => Kind::Entry {
                key: key.to_owned(),
                value: value.to_owned(),
            },
        };
        Ok(EditLine {
            text: text.to_owned(),
            kind,
        })
    }

    fn is_entry(&self, wanted: &str) -> bool {
        matches!(&self.kind, Kind::Entry { key, .. } if key == wanted)
    }
}

/// An INI file open for editing. [`IniDocument::text`] gives it back with only the edited
/// lines changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniDocument {
    /// A byte order mark the file started with, kept.
    bom: bool,
    lines: Vec<EditLine>,
    /// The line break the file uses (`\n` unless its first line ends in `\r\n`).
    newline: &'static str,
    /// Whether the last line ends with a line break.
    final_newline: bool,
}

impl IniDocument {
    /// Reads `text`.
    ///
    /// # Errors
    /// The first line that is not valid INI, as [`ini::parse`] reports it.
    pub fn parse(text: &str) -> Result<IniDocument, LineError> {
        let body = text.strip_prefix('\u{feff}');
        let bom = body.is_some();
        let body = body.unwrap_or(text);
        let mut lines = Vec::new();
        let mut in_section = false;
        for (index, raw) in body.lines().enumerate() {
            let line = EditLine::read(raw).map_err(|error| LineError {
                line: index + 1,
                error,
            })?;
            match line.kind {
                Kind::Header(_) => in_section = true,
                Kind::Entry { .. } if !in_section => {
                    return Err(LineError {
                        line: index + 1,
                        error: SyntaxError::EntryOutsideSection,
                    });
                }
                _ => {}
            }
            lines.push(line);
        }
        let newline = match body.split_once('\n') {
            Some((first, _)) if first.ends_with('\r') => "\r\n",
            _ => "\n",
        };
        Ok(IniDocument {
            bom,
            lines,
            newline,
            final_newline: body.is_empty() || body.ends_with('\n'),
        })
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        if self.bom {
            text.push('\u{feff}');
        }
        for (index, line) in self.lines.iter().enumerate() {
            text.push_str(&line.text);
            if index + 1 < self.lines.len() || self.final_newline {
                text.push_str(self.newline);
            }
        }
        text
    }

    /// The section names, in file order.
    pub fn sections(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match &line.kind {
                Kind::Header(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The keys of `section` with their values, in file order (a repeated key more than once).
    ///
    /// # Errors
    /// [`EditError::NoSection`].
    pub fn entries(&self, section: &str) -> Result<Vec<(&str, &str)>, EditError> {
        let range = self.section_range(section)?;
        Ok(self.lines[range]
            .iter()
            .filter_map(|line| match &line.kind {
                Kind::Entry { key, value } => Some((key.as_str(), value.as_str())),
                _ => None,
            })
            .collect())
    }

    /// The value of `key` in `section`: the last one when the key is repeated, as the loader
    /// reads it.
    ///
    /// # Errors
    /// [`EditError::NoSection`] or [`EditError::NoKey`].
    pub fn get(&self, section: &str, key: &str) -> Result<&str, EditError> {
        self.entries(section)?
            .into_iter()
            .rev()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
            .ok_or_else(|| no_key(section, key))
    }

    /// Sets `key` of `section` to `value`. The line that gives the key (the last, when it is
    /// repeated) keeps everything but its value; a new key goes after the section's last key;
    /// a new section goes at the end of the file. Returns the value it had.
    ///
    /// # Errors
    /// When the section, key or value cannot be written.
    pub fn set(
        &mut self,
        section: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<String>, EditError> {
        let header = ini::section_header(section)
            .ok_or_else(|| EditError::BadSection(section.to_owned()))?;
        if !is_writable_key(key) {
            return Err(EditError::BadKey(key.to_owned()));
        }
        let written = ini::quote_value(value).ok_or(EditError::BadValue)?;
        let Ok(range) = self.section_range(section) else {
            if self
                .lines
                .last()
                .is_some_and(|line| !line.text.trim().is_empty())
            {
                self.push_line(String::new());
            }
            self.push_line(header);
            self.push_line(format!("{key} = {written}"));
            return Ok(None);
        };
        let existing = range.clone().rev().find(|&at| self.lines[at].is_entry(key));
        match existing {
            Some(at) => {
                let old = self.get(section, key).ok().map(str::to_owned);
                let line = &mut self.lines[at];
                line.text = replaced_value(&line.text, &written);
                line.kind = Kind::Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                };
                Ok(old)
            }
            None => {
                let after = range
                    .clone()
                    .rev()
                    .find(|&at| matches!(self.lines[at].kind, Kind::Entry { .. }))
                    .unwrap_or(range.start - 1);
                if after + 1 == self.lines.len() {
                    self.final_newline = true;
                }
                self.lines.insert(
                    after + 1,
                    EditLine {
                        text: format!("{key} = {written}"),
                        kind: Kind::Entry {
                            key: key.to_owned(),
                            value: value.to_owned(),
                        },
                    },
                );
                Ok(None)
            }
        }
    }

    /// Removes every line that gives `key` in `section`; returns the value it had.
    ///
    /// # Errors
    /// [`EditError::NoSection`] or [`EditError::NoKey`].
    pub fn remove_key(&mut self, section: &str, key: &str) -> Result<String, EditError> {
        let old = self.get(section, key)?.to_owned();
        let range = self.section_range(section)?;
        let mut index = 0;
        self.lines.retain(|line| {
            let keep = !(range.contains(&index) && line.is_entry(key));
            index += 1;
            keep
        });
        Ok(old)
    }

    /// Removes `section`: its header, the comment lines right above it, its keys and the
    /// comments among them. Comments after its last key stay: they belong to what follows.
    ///
    /// # Errors
    /// [`EditError::NoSection`].
    pub fn remove_section(&mut self, section: &str) -> Result<(), EditError> {
        let range = self.section_range(section)?;
        let header = range.start - 1;
        let mut start = header;
        while start > 0 && is_comment(&self.lines[start - 1].text) {
            start -= 1;
        }
        let end = range
            .clone()
            .rev()
            .find(|&at| matches!(self.lines[at].kind, Kind::Entry { .. }))
            .unwrap_or(header)
            + 1;
        let blank_before = start == 0 || self.lines[start - 1].text.trim().is_empty();
        let blank_after = self
            .lines
            .get(end)
            .is_some_and(|line| line.text.trim().is_empty());
        let end = if blank_before && blank_after {
            end + 1
        } else {
            end
        };
        self.lines.drain(start..end);
        Ok(())
    }

    /// The lines after the header of `section` up to the next header.
    fn section_range(&self, section: &str) -> Result<std::ops::Range<usize>, EditError> {
        let header = self
            .lines
            .iter()
            .position(|line| matches!(&line.kind, Kind::Header(name) if name == section))
            .ok_or_else(|| EditError::NoSection(section.to_owned()))?;
        let end = self.lines[header + 1..]
            .iter()
            .position(|line| matches!(line.kind, Kind::Header(_)))
            .map_or(self.lines.len(), |offset| header + 1 + offset);
        Ok(header + 1..end)
    }

    fn push_line(&mut self, text: String) {
        let line = EditLine::read(&text).unwrap_or(EditLine {
            text,
            kind: Kind::Other,
        });
        self.lines.push(line);
        self.final_newline = true;
    }
}

fn no_key(section: &str, key: &str) -> EditError {
    EditError::NoKey {
        section: section.to_owned(),
        key: key.to_owned(),
    }
}

fn is_comment(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('#') || text.starts_with(';')
}

/// Whether `key = value` reads back with `key` as the key.
fn is_writable_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(['[', '#', ';'])
        && !key.contains(['=', '\n', '\r'])
        && key.trim() == key
}

/// `line` with its value replaced by `written`, everything else kept.
fn replaced_value(line: &str, written: &str) -> String {
    let Ok(Line::Entry { written: range, .. }) = ini::classify(line) else {
        return line.to_owned();
    };
    let before = &line[..range.start];
    let spacer = if range.is_empty() && before.ends_with('=') {
        " "
    } else {
        ""
    };
    format!("{before}{spacer}{written}{}", &line[range.end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# pgexporter\n\
                        [pgexporter]\n\
                        host = *          # every interface\n\
                        metrics = 5002\n\
                        \n\
                        # the primary\n\
                        [primary]\n\
                        host = localhost\n\
                        port=5432\n\
                        \n\
                        ; trailing comment\n";

    fn document() -> IniDocument {
        IniDocument::parse(FILE).unwrap()
    }

    #[test]
    fn unchanged_text_round_trips() {
        assert_eq!(document().text(), FILE);
        for text in [
            "",
            "[a]",
            "[a]\r\nk = v\r\n",
            "\u{feff}[a]\nk = 'x # y'  ; c\n",
        ] {
            assert_eq!(IniDocument::parse(text).unwrap().text(), text);
        }
    }

    #[test]
    fn reads_sections_and_keys() {
        let doc = document();
        assert_eq!(doc.sections(), ["pgexporter", "primary"]);
        assert_eq!(doc.get("pgexporter", "host"), Ok("*"));
        assert_eq!(doc.get("primary", "port"), Ok("5432"));
        assert_eq!(
            doc.get("primary", "user"),
            Err(EditError::NoKey {
                section: "primary".into(),
                key: "user".into()
            })
        );
        assert_eq!(
            doc.entries("replica"),
            Err(EditError::NoSection("replica".into()))
        );
    }

    #[test]
    fn setting_a_key_keeps_the_rest_of_its_line() {
        let mut doc = document();
        assert_eq!(
            doc.set("pgexporter", "host", "127.0.0.1"),
            Ok(Some("*".into()))
        );
        assert_eq!(doc.set("primary", "port", "5433"), Ok(Some("5432".into())));
        assert_eq!(
            doc.text(),
            FILE.replace("host = *          #", "host = 127.0.0.1          #")
                .replace("port=5432", "port=5433")
        );
        doc.set("pgexporter", "log_line_prefix", "%H # %M").unwrap();
        assert_eq!(doc.get("pgexporter", "log_line_prefix"), Ok("%H # %M"));
        assert!(doc.text().contains("log_line_prefix = \"%H # %M\"\n"));
        let mut empty = IniDocument::parse("[a]\nk =\n").unwrap();
        empty.set("a", "k", "v").unwrap();
        assert_eq!(empty.text(), "[a]\nk = v\n");
    }

    #[test]
    fn a_repeated_key_changes_where_it_takes_effect() {
        let mut doc = IniDocument::parse("[a]\nk = 1\nk = 2\n").unwrap();
        assert_eq!(doc.get("a", "k"), Ok("2"));
        doc.set("a", "k", "3").unwrap();
        assert_eq!(doc.text(), "[a]\nk = 1\nk = 3\n");
        assert_eq!(doc.remove_key("a", "k"), Ok("3".into()));
        assert_eq!(doc.text(), "[a]\n");
    }

    #[test]
    fn new_keys_follow_the_last_key_and_new_sections_go_last() {
        let mut doc = document();
        doc.set("primary", "user", "pgexporter").unwrap();
        doc.set("replica", "host", "db2").unwrap();
        assert_eq!(
            doc.text(),
            FILE.replace("port=5432\n", "port=5432\nuser = pgexporter\n")
                + "\n[replica]\nhost = db2\n"
        );
        let mut bare = IniDocument::parse("[a]").unwrap();
        bare.set("a", "k", "v").unwrap();
        assert_eq!(bare.text(), "[a]\nk = v\n");
    }

    #[test]
    fn removing_a_section_takes_its_comment_and_keeps_the_next_ones() {
        let mut doc = document();
        doc.remove_section("primary").unwrap();
        assert_eq!(
            doc.text(),
            "# pgexporter\n[pgexporter]\nhost = *          # every interface\nmetrics = 5002\n\n; trailing comment\n"
        );
        let mut doc = document();
        doc.remove_section("pgexporter").unwrap();
        assert_eq!(
            doc.text(),
            "# the primary\n[primary]\nhost = localhost\nport=5432\n\n; trailing comment\n"
        );
        assert_eq!(
            doc.remove_section("nope"),
            Err(EditError::NoSection("nope".into()))
        );
    }

    #[test]
    fn what_cannot_be_written_is_refused() {
        let mut doc = document();
        assert_eq!(
            doc.set("a]b", "k", "v"),
            Err(EditError::BadSection("a]b".into()))
        );
        assert_eq!(
            doc.set("a", "k=x", "v"),
            Err(EditError::BadKey("k=x".into()))
        );
        assert_eq!(doc.set("a", "k", "v\nw"), Err(EditError::BadValue));
        assert_eq!(doc.text(), FILE);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let error = IniDocument::parse("[a]\nnot a line\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.error, SyntaxError::MalformedLine);
        let error = IniDocument::parse("k = v\n").unwrap_err();
        assert_eq!(error.error, SyntaxError::EntryOutsideSection);
    }
}
