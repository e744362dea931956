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
        return Ok(Line::Verbatim(raw.to_owned()));
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
