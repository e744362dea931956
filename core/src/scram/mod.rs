//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, without channel binding.
//!
//! Both sides are value-level state machines: each step consumes the peer's message and returns
//! the next one to send (or an error). Nonces and salts are passed in by the caller; nothing here
//! draws random numbers.
//!
//! Client: [`ClientFirst::new`] → [`ClientFirst::message`] → [`ClientFirst::handle_server_first`]
//! → [`ClientFinal::message`] → [`ClientFinal::verify_server_final`].
//!
//! Server: [`ScramServer::new`] → [`ScramServer::handle_client_first`] →
//! [`ServerFirst::message`] → [`ServerFirst::handle_client_final`] (returns the server-final
//! message).

mod attributes;
mod client;
mod crypto;
mod server;
mod verifier;

use thiserror::Error;

pub use client::{ClientFinal, ClientFirst};
pub use server::{ScramServer, ServerFirst};
pub use verifier::ScramVerifier;

/// The SASL mechanism name.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// The largest iteration count accepted from a server (and for a verifier).
///
/// PostgreSQL uses 4096 by default; a server asking for far more would make the client spend
/// seconds of CPU on every connection, so it is refused.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// The longest salt accepted, in bytes (PostgreSQL uses 16).
pub const MAX_SALT_LEN: usize = 1024;

/// Why a SCRAM exchange failed. Messages never include keys, proofs or passwords.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScramError {
    /// The peer's message does not follow the SCRAM syntax; the text names the problem.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The server's nonce does not extend the client's, or the client echoed a different nonce.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// The iteration count is zero or above [`MAX_ITERATIONS`].
    #[error("SCRAM iteration count {0} out of range")]
    InvalidIterationCount(u32),
    /// The client asked for channel binding (`p=`), which this server does not offer.
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingUnsupported,
    /// The server-final message reported an error (`e=`), e.g. `invalid-proof`.
    #[error("server rejected SCRAM authentication: {0}")]
    ServerRejected(String),
    /// The server's signature is wrong: it does not know the password.
    #[error("SCRAM server signature does not match")]
    WrongServerSignature,
    /// The client's proof is wrong: it does not know the password.
    #[error("SCRAM client proof does not match")]
    WrongProof,
    /// Caller error: a salt passed to [`ScramVerifier::derive`] is empty or longer than
    /// [`MAX_SALT_LEN`].
    #[error("SCRAM salt must be 1 to {MAX_SALT_LEN} bytes long")]
    InvalidSalt,
    /// Caller error: a nonce passed in is empty or contains a character outside `0x21..=0x7e`
    /// or a comma.
    #[error("SCRAM nonce must be printable ASCII without commas")]
    InvalidNonce,
}
