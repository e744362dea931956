//! One management connection as the daemon serves it: the remote handshake when there is one,
//! one request frame in, one answer frame out.
//!
//! A [`Session`] ([`Session::local`] for the Unix socket, [`Session::remote`] for the TCP port)
//! is a [`Machine`] and a [`Peer`]. Every decision about the connection is made here: how long
//! the client may take, what a malformed request gets, how the answer is sealed. The request
//! itself is handed on as a [`SessionEvent::Request`] to whoever holds the running state (the
//! daemon's [`dispatch`](super::dispatch)); its answer comes back as the session's message, and
//! the session closes once it is sent. A refused login is reported as
//! [`SessionEvent::LoginRefused`], and its refusal is told [`REFUSAL_DELAY`] later, or as
//! long after as the daemon says ([`Session::delay_refusal`]: it spaces out the refusals to one
//! source, [`LoginThrottle`](super::LoginThrottle)).

use core::net::IpAddr;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};

use super::codes::ErrorCode;
use super::compress::Compression;
use super::dispatch::{Transport, bad_payload};
use super::document::{Document, Outcome};
use super::frame::{self, Encryption, Frame, FrameError, Sealing};
use super::handshake::{AdminVerifiers, HandshakeError, Refusal, ServerEvent, ServerHandshake};
use crate::machine::{Machine, Outbox, Peer};
use crate::vault::MasterKey;
use crate::vault::blob::{IV_LEN, SALT_LEN};

/// How long a refused login waits before the refusal is sent, whatever was wrong (user,
/// database or password), so that guessing costs time and the answer's timing says nothing.
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);

/// Fresh random bytes for sealing an encrypted answer.
#[derive(Debug, Clone, Copy)]
pub struct SealRandom {
    /// 16 random bytes: the blob's salt.
    pub salt: [u8; SALT_LEN],
    /// 12 random bytes: the blob's IV.
    pub iv: [u8; IV_LEN],
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The request was answered.
    Answered,
    /// The remote login was refused (after [`REFUSAL_DELAY`] for bad credentials).
    Refused(Refusal),
    /// The handshake broke the protocol.
    Handshake(HandshakeError),
    /// The request frame's header is invalid (unknown code, declared length over the limit);
    /// nothing more is read from this connection.
    BadFrame(FrameError),
    /// The request did not arrive within the timeout.
    TimedOut,
    /// The client closed before its request was complete.
    PeerClosed,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Answered => f.write_str("answered"),
            CloseReason::Refused(Refusal::UnknownAdmin(user)) => {
                write!(f, "login refused: unknown admin '{user}'")
            }
            CloseReason::Refused(Refusal::WrongDatabase(database)) => {
                write!(f, "login refused: database '{database}' is not 'admin'")
            }
            CloseReason::Refused(Refusal::WrongPassword(user)) => {
                write!(f, "login refused: wrong password for admin '{user}'")
            }
            CloseReason::Refused(Refusal::TimedOut) | CloseReason::TimedOut => {
                f.write_str("the client took too long")
            }
            CloseReason::Refused(Refusal::Closed) | CloseReason::PeerClosed => {
                f.write_str("the client closed the connection early")
            }
            CloseReason::Handshake(error) => write!(f, "handshake failed: {error}"),
            CloseReason::BadFrame(error) => write!(f, "malformed frame: {error}"),
        }
    }
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// A request to answer with the session's message.
    Request(Request),
    /// The remote login was refused (bad credentials): the session waits to tell its client
    /// until [`REFUSAL_DELAY`] has passed, or as long as [`Session::delay_refusal`] says.
    LoginRefused {
        /// The client's address.
        source: Option<IpAddr>,
    },
}

/// A management request to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request document, opened and parsed.
    pub document: Document,
    /// Where it came from (`conf reload` is local only).
    pub transport: Transport,
}

/// What a session needs besides its connection, fixed when it is accepted.
#[derive(Clone)]
pub struct SessionSettings {
    /// `authentication_timeout`: the whole request, handshake included, must arrive within it.
    pub timeout: Duration,
    /// Opens and seals encrypted frames; `None` when the daemon has no master key.
    pub master_key: Option<Arc<MasterKey>>,
    /// The local time of the answer's header, `YYYYMMDDHHMMSS`.
    pub timestamp: String,
    /// Fresh random bytes for sealing the answer.
    pub seal: SealRandom,
    /// The client's address (`None` on the management socket).
    pub source: Option<IpAddr>,
}

enum State {
    /// Remote only: the handshake runs.
    Handshake,
    /// Reading the request frame.
    Reading,
    /// The request was handed on at the instant; its answer is awaited.
    Answering {
        arrived: Instant,
        compression: Compression,
        encryption: Encryption,
    },
    /// A refusal made at `since` is held back until the instant.
    Delaying {
        since: Instant,
        until: Instant,
        reason: CloseReason,
    },
    /// Nothing more happens but sending what is queued.
    Done,
}

/// One management connection, from accept to answer: a [`Machine`] whose events are the
/// [`Request`] and a refused login, and a [`Peer`] whose message is the answer [`Document`].
pub struct Session {
    transport: Transport,
    handshake: Option<Box<ServerHandshake>>,
    settings: SessionSettings,
    /// The remote admin, once logged in.
    admin: Option<String>,
    /// Why the session ended, once it has.
    ended: Option<CloseReason>,
    deadline: Instant,
    state: State,
    input: BytesMut,
    outbox: Outbox<SessionEvent>,
    held: BytesMut,
}

impl Session {
    /// A session on the local Unix socket, accepted at `now`.
    pub fn local(now: Instant, settings: SessionSettings) -> Self {
        Session::new(Transport::Local, None, now, settings)
    }

    /// A session on the remote-management port, accepted at `now`: the handshake against
    /// `admins` comes first. `tls_available` is `tls = on` with a loaded certificate;
    /// `server_nonce` are fresh random bytes.
    pub fn remote(
        admins: Arc<AdminVerifiers>,
        tls_available: bool,
        now: Instant,
        settings: SessionSettings,
        server_nonce: [u8; super::handshake::SERVER_NONCE_LEN],
    ) -> Self {
        let handshake =
            ServerHandshake::new(admins, tls_available, now, settings.timeout, server_nonce);
        Session::new(Transport::Remote, Some(Box::new(handshake)), now, settings)
    }

    fn new(
        transport: Transport,
        handshake: Option<Box<ServerHandshake>>,
        now: Instant,
        settings: SessionSettings,
    ) -> Self {
        Session {
            transport,
            state: if handshake.is_some() {
                State::Handshake
            } else {
                State::Reading
            },
            handshake,
            deadline: now + settings.timeout,
            settings,
            admin: None,
            ended: None,
            input: BytesMut::new(),
            outbox: Outbox::default(),
            held: BytesMut::new(),
        }
    }

    /// Follows the handshake after a call into it: its bytes become the session's, and its
    /// events move the session on.
    fn after_handshake(&mut self, now: Instant) {
        let Some(handshake) = self.handshake.as_mut() else {
            return;
        };
        while handshake.poll_transmit(self.outbox.bytes()) {}
        // The handshake reports once, when it ends.
        match handshake.poll_event() {
            Some(ServerEvent::Authenticated { admin }) => {
                tracing::info!("management: admin '{admin}' logged in");
                self.admin = Some(admin);
                self.input = handshake.take_remaining();
                self.state = State::Reading;
                self.read_request(now);
            }
            Some(ServerEvent::Refused(refusal @ (Refusal::TimedOut | Refusal::Closed))) => {
                self.close(CloseReason::Refused(refusal));
            }
            Some(ServerEvent::Refused(refusal)) => {
                self.held = self.outbox.bytes().split();
                self.state = State::Delaying {
                    since: now,
                    until: now + REFUSAL_DELAY,
                    reason: CloseReason::Refused(refusal),
                };
                let source = self.settings.source;
                self.outbox.push(SessionEvent::LoginRefused { source });
            }
            Some(ServerEvent::Broken(error)) => self.close(CloseReason::Handshake(error)),
            None => {}
        }
    }

    /// Takes the request frame once it is whole: a request that opens and parses is handed
    /// on; one that does not is answered with error 1 here.
    fn read_request(&mut self, now: Instant) {
        let frame = match frame::decode(&mut self.input) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(error) => return self.close(CloseReason::BadFrame(error)),
        };
        match self.open(&frame) {
            Some(document) => {
                self.state = State::Answering {
                    arrived: now,
                    compression: document.header.compression,
                    encryption: document.header.encryption,
                };
                self.outbox.push(SessionEvent::Request(Request {
                    document,
                    transport: self.transport,
                }));
            }
            None => {
                let answer = bad_payload(&self.settings.timestamp);
                self.write_answer(&answer, Compression::None, Encryption::None);
                self.close(CloseReason::Answered);
            }
        }
    }

    /// The request document inside `frame`, when it opens and parses.
    fn open(&self, frame: &Frame) -> Option<Document> {
        let json = frame::open(frame, self.settings.master_key.as_deref()).ok()?;
        Document::parse(&json).ok()
    }

    /// Queues `answer` with the request's compression and encryption, or, when it cannot be
    /// encoded so, a clear allocation failure.
    fn write_answer(
        &mut self,
        answer: &Document,
        compression: Compression,
        encryption: Encryption,
    ) {
        let sealing = self
            .settings
            .master_key
            .as_deref()
            .map(|master_key| Sealing {
                master_key,
                salt: self.settings.seal.salt,
                iv: self.settings.seal.iv,
            });
        let encoded = frame::encode(
            self.outbox.bytes(),
            &answer.to_json(),
            compression,
            encryption,
            sealing,
        );
        if encoded.is_ok() {
            return;
        }
        let mut failure = answer.clone();
        failure.response = None;
        failure.outcome = Some(Outcome::failure(ErrorCode::Allocation));
        let clear = frame::encode(
            self.outbox.bytes(),
            &failure.to_json(),
            Compression::None,
            Encryption::None,
            None,
        );
        if let Err(error) = clear {
            tracing::error!("management: cannot encode even a short answer: {error}");
        }
    }

    fn close(&mut self, reason: CloseReason) {
        match &reason {
            CloseReason::Answered => tracing::debug!("management request answered"),
            CloseReason::Refused(_) | CloseReason::Handshake(_) | CloseReason::BadFrame(_) => {
                tracing::warn!("management connection: {reason}");
            }
            _ => tracing::debug!("management connection: {reason}"),
        }
        self.state = State::Done;
        self.ended = Some(reason);
    }

    /// The refused login's refusal is told `delay` after the refusal (instead of
    /// [`REFUSAL_DELAY`]); nothing when no refusal is held back.
    pub fn delay_refusal(&mut self, delay: Duration) {
        if let State::Delaying { since, until, .. } = &mut self.state {
            *until = *since + delay;
        }
    }

    /// The remote admin, once logged in.
    pub fn admin(&self) -> Option<&str> {
        self.admin.as_deref()
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.ended.as_ref()
    }
}

impl Machine for Session {
    type Event = SessionEvent;

    /// Bytes from the client (TLS plaintext once TLS is up). Input after the request is
    /// complete is dropped.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        match self.state {
            State::Handshake => {
                if let Some(handshake) = self.handshake.as_mut() {
                    handshake.handle_input(now, bytes);
                }
                self.after_handshake(now);
            }
            State::Reading => {
                self.input.extend_from_slice(bytes);
                self.read_request(now);
            }
            State::Answering { .. } | State::Delaying { .. } | State::Done => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Handshake => {
                if let Some(handshake) = self.handshake.as_mut() {
                    handshake.handle_timeout(now);
                }
                self.after_handshake(now);
            }
            State::Reading if now >= self.deadline => self.close(CloseReason::TimedOut),
            State::Delaying { until, reason, .. } if now >= *until => {
                let reason = reason.clone();
                let held = self.held.split();
                self.outbox.bytes().put_slice(&held);
                self.close(reason);
            }
            _ => {}
        }
    }

    fn handle_eof(&mut self, now: Instant) {
        match self.state {
            State::Handshake => {
                if let Some(handshake) = self.handshake.as_mut() {
                    handshake.handle_eof(now);
                }
                self.after_handshake(now);
            }
            State::Reading => self.close(CloseReason::PeerClosed),
            // A client may shut down its writing side after the request.
            State::Answering { .. } | State::Delaying { .. } | State::Done => {}
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.outbox.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Handshake => self
                .handshake
                .as_ref()
                .and_then(|handshake| handshake.poll_timeout()),
            State::Reading => Some(self.deadline),
            State::Delaying { until, .. } => Some(*until),
            State::Answering { .. } | State::Done => None,
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn poll_tls_start(&mut self) -> bool {
        self.handshake
            .as_mut()
            .is_some_and(|handshake| handshake.poll_tls_start())
    }

    fn handle_tls_established(&mut self, now: Instant) {
        if let Some(handshake) = self.handshake.as_mut() {
            handshake.handle_tls_established(now);
        }
        self.after_handshake(now);
    }
}

/// The answer to the [`Request`]: stamped with the session's time and the time the command
/// took, encoded with the compression and encryption the request used, then the session
/// closes. An answer while none is awaited is dropped.
impl Peer for Session {
    type Message = Document;

    fn handle_message(&mut self, now: Instant, mut answer: Document) {
        let State::Answering {
            arrived,
            compression,
            encryption,
        } = self.state
        else {
            return;
        };
        answer.header.timestamp.clone_from(&self.settings.timestamp);
        if answer.outcome.as_ref().is_some_and(Outcome::is_success) {
            answer.outcome = Some(Outcome::success(now.saturating_duration_since(arrived)));
        }
        self.write_answer(&answer, compression, encryption);
        self.close(CloseReason::Answered);
    }
}

#[cfg(test)]
mod tests;
