//! The client side of the remote-management handshake, for `pgexporter-cli`.
//!
//! The general [`pg::Connection`](crate::pg::Connection) waits for ReadyForQuery after
//! authentication, which a management server never sends: it goes straight to the frame.
//! This machine stops at AuthenticationOk.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, BytesMut};
use thiserror::Error;

use super::{ADMIN_DATABASE, SERVER_NONCE_LEN};
use crate::machine::{Machine, Outbox};
use crate::pg::frontend::{self, EncodeError};
use crate::pg::{Authentication, Message, ProtocolError, TlsMode};
use crate::scram::{self, ClientFinal, ClientFirst, ScramError};
use crate::secret::Secret;

/// What happened during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted the password and proved it knows it: send the management frame.
    Authenticated,
    /// The handshake ended without authentication; close.
    Failed(ClientHandshakeError),
}

/// Why the client's handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ClientHandshakeError {
    /// The server sent bytes that are not valid protocol messages.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The SCRAM exchange failed (including a server that cannot prove the password).
    #[error(transparent)]
    Scram(#[from] ScramError),
    /// The server refused with an ErrorResponse.
    #[error("server refused: {message} ({code})")]
    Refused {
        /// The SQLSTATE, e.g. `28P01` for a wrong password.
        code: String,
        /// The server's message.
        message: String,
    },
    /// TLS was required and the server refused it.
    #[error("the server does not accept TLS")]
    TlsRefused,
    /// The server asked for an authentication other than SCRAM-SHA-256.
    #[error("the server does not offer SCRAM-SHA-256")]
    UnsupportedAuthentication,
    /// The handshake did not finish within the timeout.
    #[error("handshake timed out")]
    TimedOut,
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Caller error: the user name cannot be sent (it holds a NUL byte).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

enum State {
    SslAnswer,
    AwaitTls,
    AuthRequest,
    Continue(ClientFirst),
    Final(ClientFinal),
    AwaitOk,
    Authenticated,
    Closed,
}

/// The client side of the handshake as a sans-IO [`Machine`]. It is finished once
/// authenticated (the management frame follows, outside the handshake) or failed.
pub struct ClientHandshake {
    user: String,
    password: Secret,
    nonce: String,
    tls: TlsMode,
    tls_requested: bool,
    deadline: Instant,
    state: State,
    input: BytesMut,
    outbox: Outbox<ClientEvent>,
}

impl ClientHandshake {
    /// Starts a handshake as admin `user` at `now`: an SSLRequest is queued unless `tls` is
    /// [`TlsMode::Off`], else the StartupMessage. `client_nonce` are fresh random bytes.
    ///
    /// Error (caller misuse): [`ClientHandshakeError::Encode`] for a user name with a NUL byte.
    pub fn new(
        user: &str,
        password: Secret,
        tls: TlsMode,
        now: Instant,
        timeout: Duration,
        client_nonce: [u8; SERVER_NONCE_LEN],
    ) -> Result<Self, ClientHandshakeError> {
        let mut handshake = ClientHandshake {
            user: user.to_owned(),
            password,
            nonce: STANDARD.encode(client_nonce),
            tls,
            tls_requested: false,
            deadline: now + timeout,
            state: State::SslAnswer,
            input: BytesMut::new(),
            outbox: Outbox::default(),
        };
        if tls == TlsMode::Off {
            handshake.send_startup()?;
        } else {
            frontend::ssl_request(handshake.outbox.bytes());
        }
        Ok(handshake)
    }

    /// Bytes received after AuthenticationOk (the server should send none before the frame).
    pub fn take_remaining(&mut self) -> BytesMut {
        self.input.split()
    }

    fn is_pending(&self) -> bool {
        !matches!(self.state, State::Authenticated | State::Closed)
    }

    fn close(&mut self, error: ClientHandshakeError) {
        self.state = State::Closed;
        self.outbox.push(ClientEvent::Failed(error));
    }

    fn send_startup(&mut self) -> Result<(), EncodeError> {
        frontend::startup_message(
            self.outbox.bytes(),
            &[("user", &self.user), ("database", ADMIN_DATABASE)],
        )?;
        self.state = State::AuthRequest;
        Ok(())
    }

    fn advance(&mut self) -> Result<(), ClientHandshakeError> {
        if matches!(self.state, State::SslAnswer) {
            let Some(&answer) = self.input.first() else {
                return Ok(());
            };
            match answer {
                b'S' => {
                    self.input.advance(1);
                    if !self.input.is_empty() {
                        return Err(ProtocolError::DataAfterSslAccept.into());
                    }
                    self.state = State::AwaitTls;
                    self.tls_requested = true;
                    return Ok(());
                }
                b'N' if self.tls == TlsMode::On => return Err(ClientHandshakeError::TlsRefused),
                b'N' => {
                    self.input.advance(1);
                    self.send_startup()?;
                }
                b'E' => {}
                other => return Err(ProtocolError::InvalidSslResponse(other).into()),
            }
        }
        while self.is_pending() {
            let Some(message) = Message::parse(&mut self.input)? else {
                return Ok(());
            };
            self.on_message(message)?;
        }
        Ok(())
    }

    fn on_message(&mut self, message: Message) -> Result<(), ClientHandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let auth = match message {
            Message::Authentication(auth) => auth,
            Message::ErrorResponse(error) => {
                return Err(ClientHandshakeError::Refused {
                    code: error.code().to_owned(),
                    message: error.message().to_owned(),
                });
            }
            other => return Err(ProtocolError::Unexpected(other.name()).into()),
        };
        self.state = match (state, auth) {
            (State::AuthRequest | State::SslAnswer, Authentication::Sasl { mechanisms }) => {
                if !mechanisms.iter().any(|m| m == scram::MECHANISM) {
                    return Err(ClientHandshakeError::UnsupportedAuthentication);
                }
                let first = ClientFirst::new("", &self.password, &self.nonce)?;
                frontend::sasl_initial_response(
                    self.outbox.bytes(),
                    scram::MECHANISM,
                    first.message(),
                )?;
                State::Continue(first)
            }
            (State::Continue(first), Authentication::SaslContinue(data)) => {
                let last = first.handle_server_first(&data)?;
                frontend::sasl_response(self.outbox.bytes(), last.message())?;
                State::Final(last)
            }
            (State::Final(last), Authentication::SaslFinal(data)) => {
                last.verify_server_final(&data)?;
                State::AwaitOk
            }
            (State::AwaitOk, Authentication::Ok) => {
                self.outbox.push(ClientEvent::Authenticated);
                State::Authenticated
            }
            (State::AuthRequest | State::SslAnswer, _) => {
                return Err(ClientHandshakeError::UnsupportedAuthentication);
            }
            _ => return Err(ProtocolError::Unexpected("Authentication").into()),
        };
        Ok(())
    }
}

impl Machine for ClientHandshake {
    type Event = ClientEvent;

    /// Bytes from the server (TLS plaintext once TLS is up). What breaks the handshake ends
    /// it with [`ClientEvent::Failed`]. Input after the handshake is over is dropped: take the
    /// rest with [`ClientHandshake::take_remaining`] after [`ClientEvent::Authenticated`].
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        match self.state {
            State::Authenticated | State::Closed => return,
            State::AwaitTls => return self.close(ProtocolError::DataAfterSslAccept.into()),
            _ => {}
        }
        self.input.extend_from_slice(bytes);
        if let Err(error) = self.advance() {
            self.close(error);
        }
    }

    /// Fails the handshake when the timeout has passed.
    fn handle_timeout(&mut self, now: Instant) {
        if self.is_pending() && now >= self.deadline {
            self.close(ClientHandshakeError::TimedOut);
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if self.is_pending() {
            self.close(ClientHandshakeError::Closed);
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.outbox.poll_event()
    }

    /// The handshake's deadline; `None` once over.
    fn poll_timeout(&self) -> Option<Instant> {
        self.is_pending().then_some(self.deadline)
    }

    fn is_finished(&self) -> bool {
        !self.is_pending()
    }

    /// `true` once after the server accepted the SSLRequest.
    fn poll_tls_start(&mut self) -> bool {
        std::mem::take(&mut self.tls_requested)
    }

    /// The StartupMessage is queued, now under TLS.
    fn handle_tls_established(&mut self, _now: Instant) {
        if matches!(self.state, State::AwaitTls) {
            // The user name was checked when the handshake was created.
            if let Err(error) = self.send_startup() {
                self.close(error.into());
            }
        }
    }
}
