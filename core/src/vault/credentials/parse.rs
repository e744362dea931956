//! Reading the text of a users or admins file.

use std::collections::HashMap;

use super::{CredentialsFile, EntryError, FileKind, Line, MAX_FILE_LEN, MAX_LINE_LEN, ParseError};
use crate::vault::{blob, user_name};

/// Parses `text` line by line; see [`CredentialsFile::parse`].
pub(super) fn parse(text: &str, kind: FileKind) -> Result<CredentialsFile, ParseError> {
    if text.len() > MAX_FILE_LEN {
        return Err(ParseError::FileTooLong {
            len: text.len(),
            limit: MAX_FILE_LEN,
        });
    }
    let mut lines = Vec::new();
    // User name -> line of its first appearance.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = parse_line(raw, number)?;
        if let Line::Entry { user, .. } = &line {
            if let Some(&first) = seen.get(user.as_str()) {
                return Err(ParseError::DuplicateUser {
                    line: number,
                    user: user.clone(),
                    first,
                });
            }
            if seen.len() >= kind.max_entries() {
                return Err(ParseError::TooManyEntries { line: number, kind });
            }
            seen.insert(user.clone(), number);
        }
        lines.push(line);
    }
    Ok(CredentialsFile { kind, lines })
}

/// Parses one line (without its line end).
fn parse_line(raw: &str, number: usize) -> Result<Line, ParseError> {
    if raw.len() > MAX_LINE_LEN {
        return Err(ParseError::LineTooLong {
            line: number,
            len: raw.len(),
            limit: MAX_LINE_LEN,
        });
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
        // A carriage return before the line end cannot survive rendering: written back before
        // `\n`, it would read as part of a CRLF line end. Dropping it keeps render and parse
        // inverse to each other.
        return Ok(Line::Verbatim(raw.trim_end_matches('\r').to_owned()));
    }
    let (user, encrypted) = trimmed
        .split_once(':')
        .ok_or(ParseError::MissingSeparator { line: number })?;
    let (user, encrypted) = (user.trim(), encrypted.trim());
    user_name::check(user).map_err(|source| ParseError::UserName {
        line: number,
        source,
    })?;
    blob::decode(encrypted).map_err(|source| {
        ParseError::Entry(EntryError {
            line: number,
            user: user.to_owned(),
            source,
        })
    })?;
    Ok(Line::Entry {
        user: user.to_owned(),
        encrypted: encrypted.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reparsed(file: &CredentialsFile) -> CredentialsFile {
        parse(&file.render(), file.kind).unwrap()
    }

    #[test]
    fn carriage_returns_before_a_line_end_do_not_shrink_on_each_round_trip() {
        // Found by fuzzing (fuzz/regressions/vault_credentials/): each parse ate one CR of
        // `\r\r\r\r\n`, so a rendered file did not read back as the same file.
        let file = parse("# users\0\0#\r\r\r\r\n", FileKind::Users).unwrap();
        assert_eq!(reparsed(&file), file);
        assert_eq!(file.render(), "# users\0\0#\n");
    }

    #[test]
    fn a_lone_carriage_return_line_stays_a_blank_line() {
        let file = parse("\r\r\n\r", FileKind::Admins).unwrap();
        assert_eq!(file.render(), "\n\n");
        assert_eq!(reparsed(&file), file);
    }
}
