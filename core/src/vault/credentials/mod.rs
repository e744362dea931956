//! The users file (PostgreSQL passwords) and the admins file (remote management passwords).
//!
//! One entry a line, `user:BASE64` where `BASE64` is an AES-256 value of [`crate::vault::blob`];
//! lines starting with `#` or `;` are comments. Comments and blank lines survive edits: they are
//! kept verbatim in place, and rendering gives back the parsed text byte for byte when it used
//! `\n` line ends, ended with one, and had no spaces around entries.

mod error;
mod parse;

pub use error::{EditError, EntryError, ParseError};

use super::blob::{self, Cipher, IV_LEN, SALT_LEN};
use super::master_key::MasterKey;
use super::password;
use super::user_name;
use crate::secret::Secret;

/// Longest users or admins file accepted, checked before parsing.
pub const MAX_FILE_LEN: usize = 1024 * 1024;
/// Longest line accepted, checked before decoding: the longest user name, the colon and the
/// longest encrypted password.
pub const MAX_LINE_LEN: usize =
    user_name::MAX_USER_NAME_LEN + 1 + blob::encoded_len(password::MAX_PASSWORD_LEN);

/// Which file this is; it decides how many entries are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The users file: at most 64 entries.
    Users,
    /// The admins file: at most 8 entries.
    Admins,
}

impl FileKind {
    /// Most entries a file of this kind may hold.
    pub fn max_entries(self) -> usize {
        match self {
            FileKind::Users => 64,
            FileKind::Admins => 8,
        }
    }

    /// "the users file" or "the admins file", for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Users => "the users file",
            FileKind::Admins => "the admins file",
        }
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A comment or blank line, verbatim (without its line end).
    Verbatim(String),
    /// A `user:value` entry.
    Entry { user: String, encrypted: String },
}

/// A users or admins file: its entries in order, with the comments and blank lines between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsFile {
    kind: FileKind,
    lines: Vec<Line>,
}

/// One entry as stored: its line, user name and encrypted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Line number (1-based) in the rendered file.
    pub line: usize,
    /// The user name.
    pub user: &'a str,
    /// The base64 encrypted password.
    pub encrypted: &'a str,
}

impl Entry<'_> {
    /// Decrypts the password with `master_key`. The error names the line and the user.
    pub fn decrypt(&self, master_key: &MasterKey) -> Result<Secret, EntryError> {
        blob::decrypt(master_key, self.encrypted, Cipher::Aes256).map_err(|source| EntryError {
            line: self.line,
            user: self.user.to_owned(),
            source,
        })
    }
}

impl CredentialsFile {
    /// An empty file of the given kind.
    pub fn new(kind: FileKind) -> Self {
        CredentialsFile {
            kind,
            lines: Vec::new(),
        }
    }

    /// Parses the text of a file of the given kind. Every entry is checked for shape (user name,
    /// base64, length) but not decrypted: that needs the master key, see [`Entry::decrypt`].
    pub fn parse(text: &str, kind: FileKind) -> Result<Self, ParseError> {
        parse::parse(text, kind)
    }

    /// The file text: one line per entry, comment or blank line, each ending in `\n`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            match line {
                Line::Verbatim(verbatim) => text.push_str(verbatim),
                Line::Entry { user, encrypted } => {
                    text.push_str(user);
                    text.push(':');
                    text.push_str(encrypted);
                }
            }
            text.push('\n');
        }
        text
    }

    /// The kind given when the file was made or parsed.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// The entries in file order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(index, line)| match line {
                Line::Verbatim(_) => None,
                Line::Entry { user, encrypted } => Some(Entry {
                    line: index + 1,
                    user,
                    encrypted,
                }),
            })
    }

    /// The entry of `user`, if there is one.
    pub fn find(&self, user: &str) -> Option<Entry<'_>> {
        self.entries().find(|entry| entry.user == user)
    }

    /// Adds `user` with `password` encrypted under `master_key`, using the fresh random `salt`
    /// and `iv` from the caller, as a new last line.
    ///
    /// Refused when the user exists, the file is full, or the name or password is not valid.
    pub fn add(
        &mut self,
        user: &str,
        password: &Secret,
        master_key: &MasterKey,
        salt: [u8; SALT_LEN],
        iv: [u8; IV_LEN],
    ) -> Result<(), EditError> {
        user_name::check(user)?;
        if self.find(user).is_some() {
            return Err(EditError::UserExists(user.to_owned()));
        }
        if self.entries().count() >= self.kind.max_entries() {
            return Err(EditError::Full { kind: self.kind });
        }
        let encrypted = encrypt_password(password, master_key, salt, iv)?;
        self.lines.push(Line::Entry {
            user: user.to_owned(),
            encrypted,
        });
        Ok(())
    }

    /// Replaces the password of an existing `user`, keeping its line in place.
    ///
    /// Refused when the user does not exist or the password is not valid.
    pub fn edit(
        &mut self,
        user: &str,
        password: &Secret,
        master_key: &MasterKey,
        salt: [u8; SALT_LEN],
        iv: [u8; IV_LEN],
    ) -> Result<(), EditError> {
        let index = self.position(user)?;
        let new_value = encrypt_password(password, master_key, salt, iv)?;
        if let Some(Line::Entry { encrypted, .. }) = self.lines.get_mut(index) {
            *encrypted = new_value;
        }
        Ok(())
    }

    /// Removes the line of `user`; the other lines keep their order.
    pub fn delete(&mut self, user: &str) -> Result<(), EditError> {
        let index = self.position(user)?;
        self.lines.remove(index);
        Ok(())
    }

    /// Index in `lines` of the entry of `user`.
    fn position(&self, user: &str) -> Result<usize, EditError> {
        self.lines
            .iter()
            .position(|line| matches!(line, Line::Entry { user: existing, .. } if existing == user))
            .ok_or_else(|| EditError::UnknownUser(user.to_owned()))
    }
}

/// Checks and encrypts a password for storage.
fn encrypt_password(
    password: &Secret,
    master_key: &MasterKey,
    salt: [u8; SALT_LEN],
    iv: [u8; IV_LEN],
) -> Result<String, EditError> {
    password::check(password.expose())?;
    Ok(
        blob::encrypt(master_key, password.expose(), salt, iv, Cipher::Aes256)
            .expect("a checked password is far below the plaintext limit"),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::vault::blob::BlobError;
    use crate::vault::master_key::MasterKeyFile;
    use crate::vault::password::PasswordError;

    const MASTER: &str = include_str!("../../../../../shared/fixtures/vault/master.key");
    const USERS: &str = include_str!("../../../../../shared/fixtures/vault/pgexporter_users.conf");
    const ADMINS: &str =
        include_str!("../../../../../shared/fixtures/vault/pgexporter_admins.conf");

    /// The fixture key, derived once for the whole module (600,000 PBKDF2 iterations).
    static FIXTURE_KEY: LazyLock<MasterKey> =
        LazyLock::new(|| MasterKeyFile::parse(MASTER).unwrap().derive());

    fn fast_key() -> MasterKey {
        MasterKey::from_bytes([3; 64])
    }

    fn decrypted(file: &CredentialsFile, key: &MasterKey) -> Vec<(String, Vec<u8>)> {
        file.entries()
            .map(|entry| {
                let password = entry.decrypt(key).unwrap();
                (entry.user.to_owned(), password.expose().to_vec())
            })
            .collect()
    }

    #[test]
    fn reference_files_decrypt_to_the_documented_passwords() {
        let users = CredentialsFile::parse(USERS, FileKind::Users).unwrap();
        assert_eq!(
            decrypted(&users, &FIXTURE_KEY),
            vec![
                ("pgexporter".to_owned(), b"monitor-secret-1".to_vec()),
                ("reporting".to_owned(), br#"p@ss:w#rd "quoted""#.to_vec()),
            ]
        );
        let admins = CredentialsFile::parse(ADMINS, FileKind::Admins).unwrap();
        assert_eq!(
            decrypted(&admins, &FIXTURE_KEY),
            vec![("admin".to_owned(), b"admin-secret-1".to_vec())]
        );
        assert_eq!(users.render(), USERS);
        assert_eq!(admins.render(), ADMINS);
    }

    #[test]
    fn a_wrong_master_key_names_line_and_user() {
        let users = CredentialsFile::parse(USERS, FileKind::Users).unwrap();
        let error = users
            .find("reporting")
            .unwrap()
            .decrypt(&fast_key())
            .unwrap_err();
        assert_eq!(
            error,
            EntryError {
                line: 2,
                user: "reporting".to_owned(),
                source: BlobError::Authentication
            }
        );
        let message = error.to_string();
        assert!(
            message.starts_with("line 2, user \"reporting\": "),
            "{message}"
        );
        assert!(!message.contains("quoted"));
    }

    #[test]
    fn written_entries_read_back_with_the_reference_key() {
        let mut users = CredentialsFile::parse(USERS, FileKind::Users).unwrap();
        let password = Secret::from("new-secret");
        users
            .add("third", &password, &FIXTURE_KEY, [5; 16], [6; 12])
            .unwrap();
        let reparsed = CredentialsFile::parse(&users.render(), FileKind::Users).unwrap();
        let third = reparsed.find("third").unwrap();
        assert_eq!(third.line, 3);
        assert_eq!(third.decrypt(&FIXTURE_KEY).unwrap().expose(), b"new-secret");
    }

    #[test]
    fn edits_keep_comments_and_order() {
        let text = "# monitoring roles\n\nalpha:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n; old\n";
        let mut file = CredentialsFile::parse(text, FileKind::Users).unwrap();
        assert_eq!(file.render(), text);
        let key = fast_key();
        let password = Secret::from("pw");
        file.add("beta", &password, &key, [1; 16], [1; 12]).unwrap();
        file.edit("alpha", &password, &key, [2; 16], [2; 12])
            .unwrap();
        let rendered = file.render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[0], "# monitoring roles");
        assert_eq!(lines[1], "");
        assert!(lines[2].starts_with("alpha:"));
        assert_eq!(lines[3], "; old");
        assert!(lines[4].starts_with("beta:"));
        file.delete("alpha").unwrap();
        let users: Vec<&str> = file.entries().map(|entry| entry.user).collect();
        assert_eq!(users, ["beta"]);
        assert_eq!(file.render().lines().count(), 4);
        assert_eq!(
            file.find("beta").unwrap().decrypt(&key).unwrap().expose(),
            b"pw"
        );
    }

    #[test]
    fn misuse_is_refused_without_changes() {
        let key = fast_key();
        let password = Secret::from("pw");
        let mut file = CredentialsFile::new(FileKind::Admins);
        for index in 0..8 {
            file.add(&format!("admin{index}"), &password, &key, [0; 16], [0; 12])
                .unwrap();
        }
        let before = file.clone();
        let attempts = [
            file.add("admin0", &password, &key, [0; 16], [0; 12]),
            file.add("admin8", &password, &key, [0; 16], [0; 12]),
            file.add("bad name", &password, &key, [0; 16], [0; 12]),
            file.edit("nobody", &password, &key, [0; 16], [0; 12]),
            file.edit("admin1", &Secret::from(""), &key, [0; 16], [0; 12]),
            file.delete("nobody"),
        ];
        assert_eq!(
            attempts.map(|result| result.unwrap_err()),
            [
                EditError::UserExists("admin0".to_owned()),
                EditError::Full {
                    kind: FileKind::Admins
                },
                EditError::UserName(crate::vault::user_name::UserNameError::Forbidden(' ')),
                EditError::UnknownUser("nobody".to_owned()),
                EditError::Password(PasswordError::Empty),
                EditError::UnknownUser("nobody".to_owned()),
            ]
        );
        assert_eq!(file, before);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let cases: [(String, ParseError); 5] = [
            (
                "# c\nno separator here\n".to_owned(),
                ParseError::MissingSeparator { line: 2 },
            ),
            (
                format!("a:{good}\na:{good}\n"),
                ParseError::DuplicateUser {
                    line: 2,
                    user: "a".to_owned(),
                    first: 1,
                },
            ),
            (
                "x:not*base64\n".to_owned(),
                ParseError::Entry(EntryError {
                    line: 1,
                    user: "x".to_owned(),
                    source: BlobError::BadBase64,
                }),
            ),
            (
                "x:AAAA\n".to_owned(),
                ParseError::Entry(EntryError {
                    line: 1,
                    user: "x".to_owned(),
                    source: BlobError::TooShort { len: 3, min: 44 },
                }),
            ),
            (
                format!("\n:{good}\n"),
                ParseError::UserName {
                    line: 2,
                    source: crate::vault::user_name::UserNameError::Empty,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                CredentialsFile::parse(&text, FileKind::Users),
                Err(expected)
            );
        }
    }

    #[test]
    fn limits_are_checked_before_decoding() {
        let long_line = format!("a:{}\n", "A".repeat(MAX_LINE_LEN));
        assert_eq!(
            CredentialsFile::parse(&long_line, FileKind::Users),
            Err(ParseError::LineTooLong {
                line: 1,
                len: MAX_LINE_LEN + 2,
                limit: MAX_LINE_LEN
            })
        );
        let huge = "#".repeat(MAX_FILE_LEN + 1);
        assert!(matches!(
            CredentialsFile::parse(&huge, FileKind::Users),
            Err(ParseError::FileTooLong { .. })
        ));
        let good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let nine: String = (0..9).map(|index| format!("u{index}:{good}\n")).collect();
        assert!(CredentialsFile::parse(&nine, FileKind::Users).is_ok());
        assert_eq!(
            CredentialsFile::parse(&nine, FileKind::Admins),
            Err(ParseError::TooManyEntries {
                line: 9,
                kind: FileKind::Admins
            })
        );
    }

    #[test]
    fn the_longest_password_fits_on_a_line() {
        let key = fast_key();
        let mut file = CredentialsFile::new(FileKind::Users);
        let user = "u".repeat(crate::vault::user_name::MAX_USER_NAME_LEN);
        let password = Secret::new(vec![b'p'; password::MAX_PASSWORD_LEN]);
        file.add(&user, &password, &key, [0; 16], [0; 12]).unwrap();
        let text = file.render();
        assert_eq!(text.len(), MAX_LINE_LEN + 1);
        let reparsed = CredentialsFile::parse(&text, FileKind::Users).unwrap();
        assert_eq!(
            reparsed.find(&user).unwrap().decrypt(&key).unwrap(),
            password
        );
    }

    /// One line of a generated file: a comment, a blank line or an entry.
    fn any_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[#;][ -~]{0,30}",
            " {0,3}",
            (
                "[a-zA-Z0-9_.@-]{1,20}",
                proptest::collection::vec(any::<u8>(), 44..80)
            )
                .prop_map(|(user, blob)| {
                    use base64::Engine as _;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(blob);
                    format!("{user}:{encoded}")
                }),
        ]
    }

    proptest! {
        #[test]
        fn well_formed_files_render_back_unchanged(lines in proptest::collection::vec(any_line(), 0..20)) {
            let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
            match CredentialsFile::parse(&text, FileKind::Users) {
                Ok(file) => prop_assert_eq!(file.render(), text),
                // Generated user names may repeat; nothing else may fail.
                Err(error) => prop_assert!(matches!(error, ParseError::DuplicateUser { .. }), "{}", error),
            }
        }

        #[test]
        fn added_passwords_decrypt(password in proptest::collection::vec(any::<u8>(), 1..200), salt in any::<[u8; 16]>()) {
            let key = fast_key();
            let mut file = CredentialsFile::new(FileKind::Users);
            let password = Secret::new(password);
            file.add("user", &password, &key, salt, [0; 12]).unwrap();
            let reparsed = CredentialsFile::parse(&file.render(), FileKind::Users).unwrap();
            prop_assert_eq!(reparsed.find("user").unwrap().decrypt(&key).unwrap(), password);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = CredentialsFile::parse(&text, FileKind::Admins);
        }
    }
}
