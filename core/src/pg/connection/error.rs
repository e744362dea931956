//! Why a connection or a query failed.

use std::fmt;

use thiserror::Error;

use crate::pg::backend::{ProtocolError, ServerError};
use crate::pg::frontend::EncodeError;
use crate::scram::ScramError;

/// Why a connection failed. Its `Display` never includes a password or key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The server sent an ErrorResponse outside a query, e.g. `28P01` (wrong password) during
    /// authentication, or a `FATAL` error that ends the session.
    #[error("{0}")]
    Server(ServerError),
    /// TLS mode is `on` and the server answered `N` to SSLRequest.
    #[error("the server does not accept TLS connections")]
    TlsRefused,
    /// The server sent bytes that break the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server asked for an authentication method this client does not implement.
    #[error("unsupported authentication: {0}")]
    UnsupportedAuth(UnsupportedAuth),
    /// The server asked for a password and none was configured for this user.
    #[error("the server requires a password and none is configured")]
    PasswordRequired,
    /// The SCRAM-SHA-256 exchange failed (wrong server signature, malformed message, ...).
    #[error("SCRAM authentication failed: {0}")]
    Scram(#[from] ScramError),
    /// Startup, TLS and authentication did not finish within `connect_timeout`.
    #[error("timed out while connecting")]
    Timeout,
    /// The server closed the connection before the client ended it.
    #[error("the server closed the connection unexpectedly")]
    UnexpectedEof,
    /// Caller error: a connection parameter (user, database, option, password) cannot be sent,
    /// e.g. it contains a NUL byte.
    #[error("invalid connection parameter: {0}")]
    InvalidParameter(EncodeError),
}

/// An authentication method the server asked for and this client does not implement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsupportedAuth {
    /// A method by its protocol code (2 Kerberos V5, 6 SCM credentials, 7 GSSAPI, 8 GSSAPI
    /// continuation, 9 SSPI, ...).
    Method {
        /// The code from the Authentication message.
        code: i32,
    },
    /// SASL without SCRAM-SHA-256 among the offered mechanisms.
    SaslMechanisms(Vec<String>),
}

impl fmt::Display for UnsupportedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsupportedAuth::Method { code } => {
                let name = match code {
                    2 => "Kerberos V5",
                    6 => "SCM credentials",
                    7 | 8 => "GSSAPI",
                    9 => "SSPI",
                    _ => "unknown method",
                };
                write!(f, "{name} (code {code})")
            }
            UnsupportedAuth::SaslMechanisms(mechanisms) => {
                write!(f, "SASL mechanisms {}", mechanisms.join(", "))
            }
        }
    }
}

/// Why one query failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The server refused the query; every field of its ErrorResponse is kept.
    #[error("{0}")]
    Server(ServerError),
    /// The connection closed before the query's result arrived.
    #[error("the connection closed before the query completed")]
    ConnectionClosed,
    /// Caller error: the SQL cannot be sent (it contains a NUL byte or is too long).
    #[error("invalid query: {0}")]
    InvalidQuery(EncodeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_readable() {
        let server = ServerError::from_fields(vec![
            (b'S', "FATAL".into()),
            (b'C', "28P01".into()),
            (b'M', "password authentication failed for user \"u\"".into()),
        ]);
        assert_eq!(
            Error::Server(server).to_string(),
            "FATAL: password authentication failed for user \"u\" (SQLSTATE 28P01)"
        );
        assert_eq!(
            Error::UnsupportedAuth(UnsupportedAuth::Method { code: 7 }).to_string(),
            "unsupported authentication: GSSAPI (code 7)"
        );
        assert_eq!(
            QueryError::ConnectionClosed.to_string(),
            "the connection closed before the query completed"
        );
    }
}
