//! Answering the server's authentication requests: trust, cleartext, MD5 and SCRAM-SHA-256.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use md5::{Digest, Md5};

use super::error::{Error, UnsupportedAuth};
use crate::pg::backend::{Authentication, ProtocolError};
use crate::pg::frontend;
use crate::scram::{self, ClientFinal, ClientFirst};
use crate::secret::Secret;

/// Where the SCRAM exchange stands.
#[derive(Debug)]
enum ScramStep {
    /// No SASL exchange was started.
    NotStarted,
    /// Client-first sent; waiting for server-first.
    AwaitingServerFirst(ClientFirst),
    /// Client-final sent; waiting for server-final.
    AwaitingServerFinal(ClientFinal),
    /// The server proved it knows the password.
    Verified,
}

/// What an authentication message led to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthProgress {
    /// More authentication messages are expected.
    Continue,
    /// AuthenticationOk arrived: the session is being set up.
    Done,
}

/// The client's side of authentication: the credentials and the exchange in progress.
#[derive(Debug)]
pub(crate) struct Authenticator {
    user: String,
    password: Option<Secret>,
    scram_client_nonce: String,
    scram: ScramStep,
}

impl Authenticator {
    /// Prepares to authenticate `user` with `password`; the SCRAM client nonce is the base64
    /// form of `scram_client_nonce` (24 printable characters).
    pub(crate) fn new(
        user: String,
        password: Option<Secret>,
        scram_client_nonce: [u8; 18],
    ) -> Self {
        Authenticator {
            user,
            password,
            scram_client_nonce: STANDARD.encode(scram_client_nonce),
            scram: ScramStep::NotStarted,
        }
    }

    /// Answers one Authentication message, appending any reply to `out`.
    ///
    /// Errors: the server asked for a method this client lacks, or a password that was not
    /// given, or the SCRAM exchange failed, or the messages arrived out of order.
    pub(crate) fn handle(
        &mut self,
        request: Authentication,
        out: &mut BytesMut,
    ) -> Result<AuthProgress, Error> {
        match request {
            Authentication::Ok => {
                if matches!(
                    self.scram,
                    ScramStep::AwaitingServerFirst(_) | ScramStep::AwaitingServerFinal(_)
                ) {
                    // A server that skips the final SCRAM step has not proved it knows the
                    // password.
                    return Err(ProtocolError::Unexpected("AuthenticationOk").into());
                }
                return Ok(AuthProgress::Done);
            }
            Authentication::CleartextPassword => {
                let password = self.password()?;
                frontend::password_message(out, password.expose())
                    .map_err(Error::InvalidParameter)?;
            }
            Authentication::Md5Password { salt } => {
                let hash = md5_password(&self.user, self.password()?, salt);
                frontend::password_message(out, hash.expose()).map_err(Error::InvalidParameter)?;
            }
            Authentication::Sasl { mechanisms } => self.start_scram(mechanisms, out)?,
            Authentication::SaslContinue(data) => {
                let ScramStep::AwaitingServerFirst(first) =
                    std::mem::replace(&mut self.scram, ScramStep::NotStarted)
                else {
                    return Err(ProtocolError::Unexpected("AuthenticationSASLContinue").into());
                };
                let last = first.handle_server_first(&data)?;
                frontend::sasl_response(out, last.message()).map_err(Error::InvalidParameter)?;
                self.scram = ScramStep::AwaitingServerFinal(last);
            }
            Authentication::SaslFinal(data) => {
                let ScramStep::AwaitingServerFinal(last) =
                    std::mem::replace(&mut self.scram, ScramStep::NotStarted)
                else {
                    return Err(ProtocolError::Unexpected("AuthenticationSASLFinal").into());
                };
                last.verify_server_final(&data)?;
                self.scram = ScramStep::Verified;
            }
            Authentication::Unsupported { code } => {
                return Err(Error::UnsupportedAuth(UnsupportedAuth::Method { code }));
            }
        }
        Ok(AuthProgress::Continue)
    }

    /// Starts SCRAM-SHA-256 when the server offers it.
    fn start_scram(&mut self, mechanisms: Vec<String>, out: &mut BytesMut) -> Result<(), Error> {
        if !matches!(self.scram, ScramStep::NotStarted) {
            return Err(ProtocolError::Unexpected("AuthenticationSASL").into());
        }
        if !mechanisms.iter().any(|m| m == scram::MECHANISM) {
            return Err(Error::UnsupportedAuth(UnsupportedAuth::SaslMechanisms(
                mechanisms,
            )));
        }
        // PostgreSQL takes the user name from the startup message; libpq sends it empty here.
        let first = ClientFirst::new("", self.password()?, &self.scram_client_nonce)?;
        frontend::sasl_initial_response(out, scram::MECHANISM, first.message())
            .map_err(Error::InvalidParameter)?;
        self.scram = ScramStep::AwaitingServerFirst(first);
        Ok(())
    }

    /// The password, or the error saying the server wants one that was not given.
    fn password(&self) -> Result<&Secret, Error> {
        self.password.as_ref().ok_or(Error::PasswordRequired)
    }
}

/// `"md5" + md5hex(md5hex(password + user) + salt)`, what PostgreSQL's MD5 method expects.
/// Both the inner hash (what the server stores) and the answer are password equivalents.
fn md5_password(user: &str, password: &Secret, salt: [u8; 4]) -> Secret {
    let inner = hex(&Md5::new()
        .chain_update(password.expose())
        .chain_update(user.as_bytes())
        .finalize());
    let outer = hex(&Md5::new()
        .chain_update(inner.expose())
        .chain_update(salt)
        .finalize());
    let mut answer = b"md5".to_vec();
    answer.extend_from_slice(outer.expose());
    Secret::new(answer)
}

/// Lower-case hexadecimal, held as a secret.
fn hex(bytes: &[u8]) -> Secret {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    Secret::new(
        bytes
            .iter()
            .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_password_matches_postgresql() {
        // md5("postgres" + "postgres") = 3175bce1d3201d16594cebf9d7eb3f9d;
        // md5("3175bce1d3201d16594cebf9d7eb3f9d" + "\x01\x02\x03\x04").
        let hash = md5_password("postgres", &Secret::from("postgres"), [1, 2, 3, 4]);
        assert_eq!(hash.len(), 35);
        assert!(hash.expose().starts_with(b"md5"));
        let inner = hex(&Md5::digest(b"postgrespostgres"));
        assert_eq!(inner.expose(), b"3175bce1d3201d16594cebf9d7eb3f9d");
        let mut outer_input = inner.expose().to_vec();
        outer_input.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            &hash.expose()[3..],
            hex(&Md5::digest(&outer_input)).expose()
        );
    }

    #[test]
    fn missing_password_is_reported() {
        let mut auth = Authenticator::new("u".into(), None, [0; 18]);
        let mut out = BytesMut::new();
        assert_eq!(
            auth.handle(Authentication::CleartextPassword, &mut out),
            Err(Error::PasswordRequired)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn sasl_without_scram_sha_256_is_unsupported() {
        let mut auth = Authenticator::new("u".into(), Some(Secret::from("p")), [0; 18]);
        let mechanisms = vec!["SCRAM-SHA-256-PLUS".to_owned()];
        assert_eq!(
            auth.handle(
                Authentication::Sasl {
                    mechanisms: mechanisms.clone()
                },
                &mut BytesMut::new()
            ),
            Err(Error::UnsupportedAuth(UnsupportedAuth::SaslMechanisms(
                mechanisms
            )))
        );
    }

    #[test]
    fn out_of_order_sasl_messages_are_refused() {
        let mut auth = Authenticator::new("u".into(), Some(Secret::from("p")), [0; 18]);
        let mut out = BytesMut::new();
        assert!(
            auth.handle(
                Authentication::SaslFinal(bytes::Bytes::from_static(b"v=")),
                &mut out
            )
            .is_err()
        );
        auth.handle(
            Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256".into()],
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            auth.handle(Authentication::Ok, &mut out),
            Err(Error::Protocol(ProtocolError::Unexpected(
                "AuthenticationOk"
            )))
        );
    }
}
