//! The server side of the remote-management handshake (SPEC §4.4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, BytesMut};

use crate::machine::{Machine, Outbox};

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
    /// The admin proved the password; the management frame follows. Take the bytes already
    /// received with [`ServerHandshake::take_remaining`].
    Authenticated {
        /// The admin's name.
        admin: String,
    },
    /// The handshake failed; send what is queued (an ErrorResponse) and close.
    Refused(Refusal),
    /// The client broke the protocol (an ErrorResponse is queued, except for clear bytes
    /// after `S`); send what is queued and close.
    Broken(HandshakeError),
}

enum State {
    Startup { ssl_answered: bool },
    AwaitTls,
    SaslInitial { admin: String, server: ScramServer },
    SaslResponse { admin: String, first: ServerFirst },
    Authenticated,
    Closed,
}

/// The server side of the handshake as a sans-IO [`Machine`]. It is finished once the admin
/// is authenticated (the management frame follows, outside the handshake) or refused; after
/// [`ServerEvent::Refused`] or [`ServerEvent::Broken`], send what is queued and close.
pub struct ServerHandshake {
    admins: Arc<AdminVerifiers>,
    tls_available: bool,
    tls_requested: bool,
    server_nonce: String,
    deadline: Instant,
    state: State,
    input: BytesMut,
    outbox: Outbox<ServerEvent>,
}

impl ServerHandshake {
    /// A handshake for a connection accepted at `now`. `tls_available` says whether to answer
    /// `S` to an SSLRequest (`tls = on`); `timeout` is `authentication_timeout`;
    /// `server_nonce` are fresh random bytes.
    pub fn new(
        admins: Arc<AdminVerifiers>,
        tls_available: bool,
        now: Instant,
        timeout: Duration,
        server_nonce: [u8; SERVER_NONCE_LEN],
    ) -> Self {
        ServerHandshake {
            admins,
            tls_available,
            tls_requested: false,
            server_nonce: STANDARD.encode(server_nonce),
            deadline: now + timeout,
            state: State::Startup {
                ssl_answered: false,
            },
            input: BytesMut::new(),
            outbox: Outbox::default(),
        }
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
        wire::error_response(self.outbox.bytes(), "FATAL", code, message);
        self.state = State::Closed;
    }

    fn refuse(&mut self, code: &str, message: &str, refusal: Refusal) {
        self.fail(code, message);
        self.outbox.push(ServerEvent::Refused(refusal));
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
                self.outbox.bytes().put_u8(if tls { b'S' } else { b'N' });
                if tls {
                    if !self.input.is_empty() {
                        return Err(HandshakeError::DataBeforeTls);
                    }
                    self.state = State::AwaitTls;
                    self.tls_requested = true;
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
        wire::authentication_sasl(self.outbox.bytes(), &[scram::MECHANISM]);
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
        wire::authentication_sasl_continue(self.outbox.bytes(), first.message());
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
                wire::authentication_sasl_final(self.outbox.bytes(), &server_final);
                wire::authentication_ok(self.outbox.bytes());
                self.state = State::Authenticated;
                self.outbox.push(ServerEvent::Authenticated { admin });
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

impl Machine for ServerHandshake {
    type Event = ServerEvent;

    /// Bytes from the client (TLS plaintext once TLS is up). A message that breaks the
    /// protocol ends the handshake with [`ServerEvent::Broken`]. Input after the handshake is
    /// over is dropped: the management frame belongs to whoever drives the session.
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        match self.state {
            State::Authenticated | State::Closed => return,
            State::AwaitTls => {
                self.state = State::Closed;
                return self
                    .outbox
                    .push(ServerEvent::Broken(HandshakeError::DataBeforeTls));
            }
            _ => {}
        }
        self.input.extend_from_slice(bytes);
        if let Err(error) = self.advance() {
            if !matches!(error, HandshakeError::DataBeforeTls) {
                self.fail(PROTOCOL_VIOLATION_CODE, &error.to_string());
            }
            self.state = State::Closed;
            self.outbox.push(ServerEvent::Broken(error));
        }
    }

    /// Ends the handshake when `authentication_timeout` has passed.
    fn handle_timeout(&mut self, now: Instant) {
        if self.is_pending() && now >= self.deadline {
            self.state = State::Closed;
            self.outbox.push(ServerEvent::Refused(Refusal::TimedOut));
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if self.is_pending() {
            self.state = State::Closed;
            self.outbox.push(ServerEvent::Refused(Refusal::Closed));
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.outbox.poll_event()
    }

    /// `authentication_timeout`; `None` once the handshake is over.
    fn poll_timeout(&self) -> Option<Instant> {
        self.is_pending().then_some(self.deadline)
    }

    fn is_finished(&self) -> bool {
        !self.is_pending()
    }

    /// `true` once after `S` was queued for an SSLRequest (`tls = on`).
    fn poll_tls_start(&mut self) -> bool {
        std::mem::take(&mut self.tls_requested)
    }

    /// A new startup packet is expected, under TLS.
    fn handle_tls_established(&mut self, _now: Instant) {
        if matches!(self.state, State::AwaitTls) {
            self.state = State::Startup { ssl_answered: true };
        }
    }
}
