//! The server side of the remote-management handshake (SPEC §4.4).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, BytesMut};

use super::{ADMIN_DATABASE, AdminVerifiers, HandshakeError, SERVER_NONCE_LEN};
use crate::pg::server::{self as wire, StartupPacket};
use crate::scram::{self, ScramError, ScramServer, ServerFirst};

/// SQLSTATE of a refused connection (unknown admin, other database).
const REFUSED_CODE: &str = "53300";
/// SQLSTATE of a failed password authentication.
const BAD_PASSWORD_CODE: &str = "28P01";
/// SQLSTATE of a protocol violation.
const PROTOCOL_VIOLATION_CODE: &str = "08P01";

/// Why the server ended a handshake without authenticating the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The user is not in the admins file.
    UnknownAdmin(String),
    /// The database is not `admin`.
    WrongDatabase(String),
    /// The SCRAM proof is wrong.
    WrongPassword(String),
    /// `authentication_timeout` passed.
    TimedOut,
    /// The client closed the connection.
    Closed,
}

/// What happened during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The client asked for TLS and `S` was queued: send it, wrap the transport in TLS, then
    /// call [`ServerHandshake::tls_established`].
    StartTls,
    /// The admin proved the password; the management frame follows. Take the bytes already
    /// received with [`ServerHandshake::take_remaining`].
    Authenticated {
        /// The admin's name.
        admin: String,
    },
    /// The handshake failed; send what is queued (an ErrorResponse) and close.
    Refused(Refusal),
}

enum State {
    Startup { ssl_answered: bool },
    AwaitTls,
    SaslInitial { admin: String, server: ScramServer },
    SaslResponse { admin: String, first: ServerFirst },
    Authenticated,
    Closed,
}

/// The server side of the handshake as a sans-IO state machine.
///
/// Drive it like every machine of this crate: after each `handle_*`, drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event), then wait for
/// input until [`poll_timeout`](Self::poll_timeout). After [`ServerEvent::Refused`] or an
/// error from [`handle_input`](Self::handle_input), send what is queued and close.
pub struct ServerHandshake<'a> {
    admins: &'a AdminVerifiers,
    tls_available: bool,
    server_nonce: String,
    deadline: Instant,
    state: State,
    input: BytesMut,
    output: BytesMut,
    events: VecDeque<ServerEvent>,
}

impl<'a> ServerHandshake<'a> {
    /// A handshake for a connection accepted at `now`. `tls_available` says whether to answer
    /// `S` to an SSLRequest (`tls = on`); `timeout` is `authentication_timeout`;
    /// `server_nonce` are fresh random bytes.
    pub fn new(
        admins: &'a AdminVerifiers,
        tls_available: bool,
        now: Instant,
        timeout: Duration,
        server_nonce: [u8; SERVER_NONCE_LEN],
    ) -> Self {
        ServerHandshake {
            admins,
            tls_available,
            server_nonce: STANDARD.encode(server_nonce),
            deadline: now + timeout,
            state: State::Startup {
                ssl_answered: false,
            },
            input: BytesMut::new(),
            output: BytesMut::new(),
            events: VecDeque::new(),
        }
    }

    /// Takes bytes from the client (TLS plaintext once TLS is up).
    ///
    /// Errors: [`HandshakeError::Message`] or [`HandshakeError::Scram`] when the client sent
    /// something invalid (an ErrorResponse is queued), [`HandshakeError::DataBeforeTls`] for
    /// clear bytes after `S`, [`HandshakeError::Finished`] when the handshake is over (caller
    /// misuse: feed the frame decoder instead).
    pub fn handle_input(&mut self, _now: Instant, bytes: &[u8]) -> Result<(), HandshakeError> {
        match self.state {
            State::Authenticated | State::Closed => return Err(HandshakeError::Finished),
            State::AwaitTls => {
                self.state = State::Closed;
                return Err(HandshakeError::DataBeforeTls);
            }
            _ => {}
        }
        self.input.extend_from_slice(bytes);
        let result = self.advance();
        if let Err(error) = &result {
            if !matches!(error, HandshakeError::DataBeforeTls) {
                self.fail(PROTOCOL_VIOLATION_CODE, &error.to_string());
            }
            self.state = State::Closed;
        }
        result
    }

    /// Ends the handshake when `authentication_timeout` has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_pending() && now >= self.deadline {
            self.state = State::Closed;
            self.events
                .push_back(ServerEvent::Refused(Refusal::TimedOut));
        }
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.is_pending() {
            self.state = State::Closed;
            self.events.push_back(ServerEvent::Refused(Refusal::Closed));
        }
    }

    /// TLS is up after [`ServerEvent::StartTls`]; a new startup packet is expected.
    pub fn tls_established(&mut self, _now: Instant) {
        if matches!(self.state, State::AwaitTls) {
            self.state = State::Startup { ssl_answered: true };
        }
    }

    /// Appends the bytes to send to `out`; `false` when there are none.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        crate::transmit::hand_over(&mut self.output, out)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called; `None` once the
    /// handshake is over.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.is_pending().then_some(self.deadline)
    }

    /// The bytes received after the last handshake message: the start of the management
    /// frame. Call after [`ServerEvent::Authenticated`].
    pub fn take_remaining(&mut self) -> BytesMut {
        self.input.split()
    }

    fn is_pending(&self) -> bool {
        !matches!(self.state, State::Authenticated | State::Closed)
    }

    /// Queues a FATAL ErrorResponse and closes.
    fn fail(&mut self, code: &str, message: &str) {
        wire::error_response(&mut self.output, "FATAL", code, message);
        self.state = State::Closed;
    }

    fn refuse(&mut self, code: &str, message: &str, refusal: Refusal) {
        self.fail(code, message);
        self.events.push_back(ServerEvent::Refused(refusal));
    }

    /// Consumes every whole message in the input.
    fn advance(&mut self) -> Result<(), HandshakeError> {
        loop {
            let state = std::mem::replace(&mut self.state, State::Closed);
            let progressed = match state {
                State::Startup { ssl_answered } => self.on_startup(ssl_answered)?,
                State::SaslInitial { admin, server } => self.on_sasl_initial(admin, server)?,
                State::SaslResponse { admin, first } => self.on_sasl_response(admin, first)?,
                other => {
                    self.state = other;
                    false
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    fn on_startup(&mut self, ssl_answered: bool) -> Result<bool, HandshakeError> {
        let Some(packet) = wire::parse_startup(&mut self.input)? else {
            self.state = State::Startup { ssl_answered };
            return Ok(false);
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest if !ssl_answered => {
                let tls = self.tls_available && packet == StartupPacket::SslRequest;
                self.output.put_u8(if tls { b'S' } else { b'N' });
                if tls {
                    if !self.input.is_empty() {
                        return Err(HandshakeError::DataBeforeTls);
                    }
                    self.state = State::AwaitTls;
                    self.events.push_back(ServerEvent::StartTls);
                    return Ok(false);
                }
                self.state = State::Startup { ssl_answered: true };
                Ok(true)
            }
            StartupPacket::Startup { major: 3, .. } => {
                self.on_startup_message(&packet);
                Ok(true)
            }
            _ => Err(HandshakeError::UnexpectedMessage),
        }
    }

    fn on_startup_message(&mut self, packet: &StartupPacket) {
        let admin = packet.param("user").unwrap_or_default().to_owned();
        let database = packet.param("database").unwrap_or(&admin).to_owned();
        if database != ADMIN_DATABASE {
            let refusal = Refusal::WrongDatabase(database);
            return self.refuse(REFUSED_CODE, "connection refused", refusal);
        }
        let Some(verifier) = self.admins.get(&admin) else {
            return self.refuse(
                REFUSED_CODE,
                "connection refused",
                Refusal::UnknownAdmin(admin),
            );
        };
        // The nonce is base64, always valid.
        let server = ScramServer::new(verifier.clone(), &self.server_nonce)
            .expect("a base64 nonce is a valid SCRAM nonce");
        wire::authentication_sasl(&mut self.output, &[scram::MECHANISM]);
        self.state = State::SaslInitial { admin, server };
    }

    fn on_sasl_initial(
        &mut self,
        admin: String,
        server: ScramServer,
    ) -> Result<bool, HandshakeError> {
        let Some(initial) = wire::parse_sasl_initial_response(&mut self.input)? else {
            self.state = State::SaslInitial { admin, server };
            return Ok(false);
        };
        if initial.mechanism != scram::MECHANISM {
            return Err(HandshakeError::UnsupportedMechanism);
        }
        let first = server.handle_client_first(&initial.data)?;
        wire::authentication_sasl_continue(&mut self.output, first.message());
        self.state = State::SaslResponse { admin, first };
        Ok(true)
    }

    fn on_sasl_response(
        &mut self,
        admin: String,
        first: ServerFirst,
    ) -> Result<bool, HandshakeError> {
        let Some(data) = wire::parse_sasl_response(&mut self.input)? else {
            self.state = State::SaslResponse { admin, first };
            return Ok(false);
        };
        match first.handle_client_final(&data) {
            Ok(server_final) => {
                wire::authentication_sasl_final(&mut self.output, &server_final);
                wire::authentication_ok(&mut self.output);
                self.state = State::Authenticated;
                self.events.push_back(ServerEvent::Authenticated { admin });
                Ok(false)
            }
            Err(ScramError::WrongProof) => {
                let message = format!("password authentication failed for user \"{admin}\"");
                self.refuse(BAD_PASSWORD_CODE, &message, Refusal::WrongPassword(admin));
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }
}
