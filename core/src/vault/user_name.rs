//! User names in the users and admins files.

/// Longest user name accepted, in bytes.
pub const MAX_USER_NAME_LEN: usize = 128;

/// Why a user name cannot be stored. User names are not secret and may be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserNameError {
    /// The name is empty.
    #[error("the user name is empty")]
    Empty,
    /// The name is over [`MAX_USER_NAME_LEN`] bytes.
    #[error("the user name is {len} bytes long, over the limit of {MAX_USER_NAME_LEN}")]
    TooLong {
        /// Name length.
        len: usize,
    },
    /// The name holds a character the file format cannot carry.
    #[error("the user name contains {0:?}: colons, spaces and control characters are not allowed")]
    Forbidden(char),
    /// The name starts with a comment character.
    #[error("the user name starts with {0:?}, which starts a comment")]
    CommentStart(char),
}

/// Checks that `name` fits on a `name:value` line: 1 to [`MAX_USER_NAME_LEN`] bytes, no `:`,
/// whitespace or control characters, not starting with `#` or `;`.
pub fn check(name: &str) -> Result<(), UserNameError> {
    if name.is_empty() {
        return Err(UserNameError::Empty);
    }
    if name.len() > MAX_USER_NAME_LEN {
        return Err(UserNameError::TooLong { len: name.len() });
    }
    if let Some(forbidden) = name
        .chars()
        .find(|c| *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(UserNameError::Forbidden(forbidden));
    }
    match name.chars().next() {
        Some(first @ ('#' | ';')) => Err(UserNameError::CommentStart(first)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in ["pgexporter", "report-ing_2", "übung", "a#b", "x@db.example"] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
        assert_eq!(check(&"a".repeat(MAX_USER_NAME_LEN)), Ok(()));
    }

    #[test]
    fn names_the_format_cannot_carry_fail() {
        assert_eq!(check(""), Err(UserNameError::Empty));
        assert_eq!(
            check(&"a".repeat(MAX_USER_NAME_LEN + 1)),
            Err(UserNameError::TooLong {
                len: MAX_USER_NAME_LEN + 1
            })
        );
        assert_eq!(check("a:b"), Err(UserNameError::Forbidden(':')));
        assert_eq!(check("a b"), Err(UserNameError::Forbidden(' ')));
        assert_eq!(check("a\tb"), Err(UserNameError::Forbidden('\t')));
        assert_eq!(check("a\u{7f}"), Err(UserNameError::Forbidden('\u{7f}')));
        assert_eq!(check("#admin"), Err(UserNameError::CommentStart('#')));
        assert_eq!(check(";admin"), Err(UserNameError::CommentStart(';')));
    }
}
