//! The master key file (`~/.pgexporter/master.key`) and the key derived from it.
//!
//! The file holds two lines: the base64 of the master password and the base64 of a 16-byte
//! random salt. The key that encrypts every value is
//! `PBKDF2-HMAC-SHA256(password, salt, 600000 iterations, 64 bytes)`: slow on purpose, so derive
//! it once per process and keep the [`MasterKey`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;

use super::password::{self, PasswordError};
use crate::secret::Secret;

/// PBKDF2 iterations from the master password to the master key.
pub const MASTER_KEY_ITERATIONS: u32 = 600_000;
/// Bytes of the master salt.
pub const MASTER_SALT_LEN: usize = 16;
/// Bytes of the derived master key.
pub const MASTER_KEY_LEN: usize = 64;
/// Longest master key file accepted, checked before anything is decoded.
pub const MAX_MASTER_KEY_FILE_LEN: usize = 16 * 1024;

/// Why a master key file could not be read. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The file is longer than [`MAX_MASTER_KEY_FILE_LEN`].
    #[error("master key file is {len} bytes long, over the limit of {limit}")]
    TooLong {
        /// File length.
        len: usize,
        /// [`MAX_MASTER_KEY_FILE_LEN`].
        limit: usize,
    },
    /// Line 1 (password) or line 2 (salt) is missing or empty.
    #[error("line {line}: the {what} is missing")]
    MissingLine {
        /// 1 or 2.
        line: usize,
        /// "master password" or "salt".
        what: &'static str,
    },
    /// Text follows the two lines.
    #[error("line {line}: unexpected text after the password and salt lines")]
    ExtraLine {
        /// Line number of the extra text.
        line: usize,
    },
    /// A line is not standard padded base64.
    #[error("line {line}: the {what} is not valid base64")]
    BadBase64 {
        /// 1 or 2.
        line: usize,
        /// "master password" or "salt".
        what: &'static str,
    },
    /// The salt does not decode to 16 bytes.
    #[error("line 2: the salt is {len} bytes long, expected {MASTER_SALT_LEN}")]
    SaltLength {
        /// Decoded salt length.
        len: usize,
    },
    /// The master password is empty or too long.
    #[error("line 1: {0}")]
    Password(PasswordError),
}

/// The contents of a master key file: the master password and its salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyFile {
    password: Secret,
    salt: [u8; MASTER_SALT_LEN],
}

impl MasterKeyFile {
    /// A new master key file for `password` with a fresh random `salt` from the caller.
    ///
    /// Fails when the password is empty or over [`password::MAX_PASSWORD_LEN`] bytes.
    pub fn new(password: Secret, salt: [u8; MASTER_SALT_LEN]) -> Result<Self, PasswordError> {
        password::check(password.expose())?;
        Ok(MasterKeyFile { password, salt })
    }

    /// Parses the text of a master key file. A trailing newline and CRLF line ends are accepted.
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        if text.len() > MAX_MASTER_KEY_FILE_LEN {
            return Err(MasterKeyError::TooLong {
                len: text.len(),
                limit: MAX_MASTER_KEY_FILE_LEN,
            });
        }
        let mut lines = text.lines().map(str::trim);
        let password = decode_line(lines.next(), 1, "master password")?;
        let salt = decode_line(lines.next(), 2, "salt")?;
        if let Some(extra) = lines.position(|line| !line.is_empty()) {
            return Err(MasterKeyError::ExtraLine { line: extra + 3 });
        }
        let salt: [u8; MASTER_SALT_LEN] = salt
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::SaltLength { len: salt.len() })?;
        MasterKeyFile::new(Secret::new(password), salt).map_err(MasterKeyError::Password)
    }

    /// The file text: base64 password, newline, base64 salt, newline. It reveals the password,
    /// so it comes back as a [`Secret`] to be written to the file and nowhere else.
    pub fn render(&self) -> Secret {
        let mut text = STANDARD.encode(self.password.expose());
        text.push('\n');
        STANDARD.encode_string(self.salt, &mut text);
        text.push('\n');
        Secret::from(text)
    }

    /// The master salt.
    pub fn salt(&self) -> [u8; MASTER_SALT_LEN] {
        self.salt
    }

    /// Derives the master key: PBKDF2-HMAC-SHA256 with [`MASTER_KEY_ITERATIONS`] iterations.
    ///
    /// This is the slow step (a fraction of a second in an optimised build); call it once.
    pub fn derive(&self) -> MasterKey {
        let mut key = vec![0u8; MASTER_KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            self.password.expose(),
            &self.salt,
            MASTER_KEY_ITERATIONS,
            &mut key,
        );
        MasterKey(Secret::new(key))
    }
}

/// Decodes one base64 line of the master key file.
fn decode_line(
    line: Option<&str>,
    number: usize,
    what: &'static str,
) -> Result<Vec<u8>, MasterKeyError> {
    let line = line
        .filter(|line| !line.is_empty())
        .ok_or(MasterKeyError::MissingLine { line: number, what })?;
    STANDARD
        .decode(line)
        .map_err(|_| MasterKeyError::BadBase64 { line: number, what })
}

/// The 64-byte key derived from the master password, which encrypts every stored value.
#[derive(Debug, Clone)]
pub struct MasterKey(Secret);

impl MasterKey {
    /// A key derived earlier (for example kept by a process that already ran
    /// [`MasterKeyFile::derive`]), or a fixed key in tests and benchmarks.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey(Secret::new(bytes.to_vec()))
    }

    /// The key bytes, for deriving per-value keys.
    pub(super) fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../../shared/fixtures/vault/master.key");

    #[test]
    fn parses_the_reference_file_and_renders_it_back() {
        let file = MasterKeyFile::parse(FIXTURE).unwrap();
        assert_eq!(file.password.expose(), b"shared-fixture-master");
        assert_eq!(file.render().expose_str(), Some(FIXTURE));
    }

    #[test]
    fn accepts_crlf_and_a_missing_final_newline() {
        let crlf = FIXTURE.replace('\n', "\r\n");
        assert_eq!(
            MasterKeyFile::parse(&crlf).unwrap(),
            MasterKeyFile::parse(FIXTURE).unwrap()
        );
        let bare = FIXTURE.trim_end();
        assert!(MasterKeyFile::parse(bare).is_ok());
    }

    #[test]
    fn malformed_files_say_which_line() {
        assert_eq!(
            MasterKeyFile::parse(""),
            Err(MasterKeyError::MissingLine {
                line: 1,
                what: "master password"
            })
        );
        assert_eq!(
            MasterKeyFile::parse("c2VjcmV0\n"),
            Err(MasterKeyError::MissingLine {
                line: 2,
                what: "salt"
            })
        );
        assert_eq!(
            MasterKeyFile::parse("c2VjcmV0\n@@@\n"),
            Err(MasterKeyError::BadBase64 {
                line: 2,
                what: "salt"
            })
        );
        assert_eq!(
            MasterKeyFile::parse("c2VjcmV0\nc2VjcmV0\n"),
            Err(MasterKeyError::SaltLength { len: 6 })
        );
        let extra = format!("{FIXTURE}\nxyz\n");
        assert_eq!(
            MasterKeyFile::parse(&extra),
            Err(MasterKeyError::ExtraLine { line: 4 })
        );
        let long = "A".repeat(MAX_MASTER_KEY_FILE_LEN + 1);
        assert!(matches!(
            MasterKeyFile::parse(&long),
            Err(MasterKeyError::TooLong { .. })
        ));
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let file = MasterKeyFile::parse(FIXTURE).unwrap();
        assert!(!format!("{file:?}").contains("shared-fixture-master"));
        let error = MasterKeyFile::parse("c2hhcmVkLWZpeHR1cmUtbWFzdGVy\nAAAA\n").unwrap_err();
        assert!(!error.to_string().contains("shared-fixture-master"));
        assert!(!error.to_string().contains("c2hhcmVkLWZpeHR1cmUtbWFzdGVy"));
    }

    #[test]
    fn new_refuses_an_empty_password() {
        assert_eq!(
            MasterKeyFile::new(Secret::from(""), [0; 16]),
            Err(PasswordError::Empty)
        );
    }
}
