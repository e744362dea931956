//! The vault: the master key and the encrypted users and admins files.
//!
//! - [`MasterKeyFile`] reads and writes `master.key`; [`MasterKeyFile::derive`] runs the slow
//!   PBKDF2 once and gives the [`MasterKey`].
//! - [`encrypt`] and [`decrypt`] turn a secret into the base64 value stored in the files (and in
//!   encrypted management payloads) and back.
//! - [`CredentialsFile`] parses, edits and renders a users or admins file.
//! - [`generate_password`] makes a random password from random bytes the caller supplies.
//!
//! Nothing here reads a file or a random source: file text, salts and IVs are arguments.
//! Passwords and keys are held in [`Secret`](crate::secret::Secret) and never appear in errors.

pub mod blob;
pub mod credentials;
pub mod master_key;
pub mod password;
pub mod user_name;

pub use blob::{BlobError, Cipher, EncryptError, decrypt, encrypt};
pub use credentials::{CredentialsFile, EditError, Entry, EntryError, FileKind, ParseError};
pub use master_key::{MasterKey, MasterKeyError, MasterKeyFile};
pub use password::{PasswordError, generate as generate_password};
pub use user_name::UserNameError;
