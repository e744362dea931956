//! The remote-management handshake (SPEC §4.4): PostgreSQL startup and SCRAM-SHA-256 in front
//! of one management frame each way.
//!
//! - [`ServerHandshake`]: the daemon's side, against [`AdminVerifiers`] derived once from the
//!   admins file.
//! - [`ClientHandshake`]: the `pgexporter-cli` side.
//!
//! Both follow the crate's state-machine shape; once authenticated, the connection carries
//! management [frames](super::frame).

mod client;
mod server;

use thiserror::Error;

pub use client::{ClientEvent, ClientHandshake, ClientHandshakeError};
pub use server::{Refusal, ServerEvent, ServerHandshake};

use crate::pg::server::ClientMessageError;
use crate::scram::{ScramError, ScramVerifier};
use crate::secret::Secret;

/// The database name a management client must ask for.
pub const ADMIN_DATABASE: &str = "admin";
/// PBKDF2 iterations of the admins' SCRAM verifiers.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// Bytes of the random salt of each admin's verifier.
pub const SCRAM_SALT_LEN: usize = 16;
/// Random bytes of a SCRAM nonce (sent as 24 base64 characters).
pub const SERVER_NONCE_LEN: usize = 18;
/// The most admins an admins file holds (SPEC §3).
pub const MAX_ADMINS: usize = 8;

/// The SCRAM verifiers of the admins, derived once when the admins file is read (each
/// derivation runs 4096 PBKDF2 iterations).
#[derive(Debug, Clone, Default)]
pub struct AdminVerifiers {
    entries: Vec<(String, ScramVerifier)>,
}

/// Why an admin could not be added (caller misuse).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AdminError {
    /// More than [`MAX_ADMINS`] admins.
    #[error("at most {MAX_ADMINS} admins")]
    TooMany,
    /// The verifier could not be derived.
    #[error(transparent)]
    Scram(#[from] ScramError),
}

impl AdminVerifiers {
    /// No admins: every remote login is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `name` with the verifier of `password` under `salt`, fresh random
    /// bytes for each admin.
    pub fn insert(
        &mut self,
        name: &str,
        password: &Secret,
        salt: [u8; SCRAM_SALT_LEN],
    ) -> Result<(), AdminError> {
        let verifier = ScramVerifier::derive(password, &salt, SCRAM_ITERATIONS)?;
        if let Some(entry) = self.entries.iter_mut().find(|(known, _)| known == name) {
            entry.1 = verifier;
            return Ok(());
        }
        if self.entries.len() == MAX_ADMINS {
            return Err(AdminError::TooMany);
        }
        self.entries.push((name.to_owned(), verifier));
        Ok(())
    }

    /// The verifier of `name`.
    pub fn get(&self, name: &str) -> Option<&ScramVerifier> {
        self.entries
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, verifier)| verifier)
    }

    /// How many admins there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The server's handshake cannot continue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The client sent a malformed or unexpected message.
    #[error(transparent)]
    Message(#[from] ClientMessageError),
    /// The client's SCRAM message is invalid (other than a wrong proof, which is a refusal).
    #[error(transparent)]
    Scram(#[from] ScramError),
    /// A startup packet that is not expected here (a second SSLRequest, a CancelRequest, a
    /// protocol version other than 3).
    #[error("unexpected startup packet")]
    UnexpectedMessage,
    /// The client chose a SASL mechanism other than SCRAM-SHA-256.
    #[error("unsupported SASL mechanism")]
    UnsupportedMechanism,
    /// Clear bytes arrived after the server accepted TLS: they could have been injected.
    #[error("unencrypted data after TLS was accepted")]
    DataBeforeTls,
}

#[cfg(test)]
mod tests;
