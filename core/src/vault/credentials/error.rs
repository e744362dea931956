//! Errors of the users and admins files.

use super::FileKind;
use crate::vault::blob::BlobError;
use crate::vault::password::PasswordError;
use crate::vault::user_name::UserNameError;

/// A stored value that is malformed or does not decrypt, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("line {line}, user \"{user}\": {source}")]
pub struct EntryError {
    /// Line number (1-based) of the entry.
    pub line: usize,
    /// The entry's user name.
    pub user: String,
    /// What is wrong with the value.
    pub source: BlobError,
}

/// Why the text of a users or admins file could not be read: the file holds garbage.
/// Messages name the line (1-based) and, when known, the user; never a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The file is over the size limit; nothing was parsed.
    #[error("the file is {len} bytes long, over the limit of {limit}")]
    FileTooLong {
        /// File length.
        len: usize,
        /// Longest accepted file.
        limit: usize,
    },
    /// A line is over the length limit; it was not decoded.
    #[error("line {line}: {len} bytes long, over the limit of {limit}")]
    LineTooLong {
        /// Line number.
        line: usize,
        /// Line length.
        len: usize,
        /// Longest accepted line.
        limit: usize,
    },
    /// A line that is neither blank, a comment nor `user:value`.
    #[error("line {line}: expected `user:encrypted-password`, a comment (# or ;) or a blank line")]
    MissingSeparator {
        /// Line number.
        line: usize,
    },
    /// The user name of an entry is not valid.
    #[error("line {line}: {source}")]
    UserName {
        /// Line number.
        line: usize,
        /// What is wrong with the name.
        source: UserNameError,
    },
    /// A user appears twice.
    #[error("line {line}: user \"{user}\" already appears on line {first}")]
    DuplicateUser {
        /// Line number of the repetition.
        line: usize,
        /// The user name.
        user: String,
        /// Line number of the first appearance.
        first: usize,
    },
    /// More entries than the file kind allows.
    #[error("line {line}: more than {} entries in {}", kind.max_entries(), kind.describe())]
    TooManyEntries {
        /// Line number of the first entry over the limit.
        line: usize,
        /// Users or admins.
        kind: FileKind,
    },
    /// An entry's value is not a well-formed encrypted value.
    #[error(transparent)]
    Entry(EntryError),
}

/// Why an add, edit or delete was refused: the request does not fit the file. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// `add` of a user that is already there.
    #[error("user \"{0}\" already exists")]
    UserExists(String),
    /// `edit` or `delete` of a user that is not there.
    #[error("user \"{0}\" does not exist")]
    UnknownUser(String),
    /// `add` to a file that already holds the most entries its kind allows.
    #[error("{} already holds the most entries allowed ({})", kind.describe(), kind.max_entries())]
    Full {
        /// Users or admins.
        kind: FileKind,
    },
    /// The user name cannot be stored.
    #[error(transparent)]
    UserName(#[from] UserNameError),
    /// The password cannot be stored.
    #[error(transparent)]
    Password(#[from] PasswordError),
}
