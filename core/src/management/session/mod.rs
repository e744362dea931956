//! One management connection as the daemon serves it: the remote handshake when there is one,
//! one request frame in, one answer frame out.
//!
//! The runtime accepts a connection, makes a [`Session`] ([`Session::local`] for the Unix
//! socket, [`Session::remote`] for the TCP port) and drives it like every machine of this crate.
//! Every decision is made here: how long the client may take, how a refusal is delayed, what a
//! malformed request gets. The runtime only moves bytes, starts TLS on
//! [`SessionEvent::StartTls`], calls [`Session::answer`] on [`SessionEvent::Request`] with a
//! [`Context`] on the running daemon, and closes on [`SessionEvent::Close`] once
//! [`Session::poll_transmit`] is drained.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};

use super::codes::ErrorCode;
use super::compress::Compression;
use super::dispatch::{Context, Transport, bad_payload, dispatch};
use super::document::{Document, Outcome};
use super::frame::{self, Encryption, Frame, FrameError, Sealing};
use super::handshake::{AdminVerifiers, HandshakeError, Refusal, ServerEvent, ServerHandshake};
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

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Send what is queued (`S`), wrap the connection in TLS with the management server
    /// configuration, then call [`Session::tls_established`].
    StartTls,
    /// A remote admin logged in (for the log).
    Authenticated {
        /// The admin's name.
        admin: String,
    },
    /// The request is complete: call [`Session::answer`].
    Request,
    /// Send what is queued, then close the connection.
    Close(CloseReason),
}

enum State {
    /// Remote only: the handshake runs.
    Handshake,
    /// Reading the request frame.
    Reading,
    /// The request waits for [`Session::answer`].
    Answering { request: Frame, arrived: Instant },
    /// A refusal is held back until the instant.
    Delaying { until: Instant, reason: CloseReason },
    /// Nothing more happens but sending what is queued.
    Done,
}

/// One management connection, from accept to answer.
///
/// Contract: after any `handle_*`, drain [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event), then wait for input until
/// [`poll_timeout`](Self::poll_timeout). The whole request (handshake included) must arrive
/// within the timeout given at creation (`authentication_timeout`).
pub struct Session<'a> {
    transport: Transport,
    handshake: Option<ServerHandshake<'a>>,
    deadline: Instant,
    state: State,
    input: BytesMut,
    output: BytesMut,
    held: BytesMut,
    events: VecDeque<SessionEvent>,
}

impl<'a> Session<'a> {
    /// A session on the local Unix socket, accepted at `now`.
    pub fn local(now: Instant, timeout: Duration) -> Self {
        Session::new(Transport::Local, None, now, timeout)
    }

    /// A session on the remote-management port, accepted at `now`: the handshake against
    /// `admins` comes first. `tls_available` is `tls = on` with a loaded certificate;
    /// `server_nonce` are fresh random bytes.
    pub fn remote(
        admins: &'a AdminVerifiers,
        tls_available: bool,
        now: Instant,
        timeout: Duration,
        server_nonce: [u8; super::handshake::SERVER_NONCE_LEN],
    ) -> Self {
        let handshake = ServerHandshake::new(admins, tls_available, now, timeout, server_nonce);
        Session::new(Transport::Remote, Some(handshake), now, timeout)
    }

    fn new(
        transport: Transport,
        handshake: Option<ServerHandshake<'a>>,
        now: Instant,
        timeout: Duration,
    ) -> Self {
        Session {
            transport,
            state: if handshake.is_some() {
                State::Handshake
            } else {
                State::Reading
            },
            handshake,
            deadline: now + timeout,
            input: BytesMut::new(),
            output: BytesMut::new(),
            held: BytesMut::new(),
            events: VecDeque::new(),
        }
    }

    /// Bytes from the client (TLS plaintext once TLS is up). Input after the request is
    /// complete is ignored.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        match self.state {
            State::Handshake => {
                let handshake = self.handshake.as_mut().expect("a remote session");
                let result = handshake.handle_input(now, bytes);
                self.after_handshake(now, result.err());
            }
            State::Reading => {
                self.input.extend_from_slice(bytes);
                self.read_request(now);
            }
            State::Answering { .. } | State::Delaying { .. } | State::Done => {}
        }
    }

    /// Call at [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Handshake => {
                let handshake = self.handshake.as_mut().expect("a remote session");
                handshake.handle_timeout(now);
                self.after_handshake(now, None);
            }
            State::Reading if now >= self.deadline => self.close(CloseReason::TimedOut),
            State::Delaying { until, reason } if now >= *until => {
                let reason = reason.clone();
                self.output.put_slice(&self.held.split());
                self.close(reason);
            }
            _ => {}
        }
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self, now: Instant) {
        match self.state {
            State::Handshake => {
                let handshake = self.handshake.as_mut().expect("a remote session");
                handshake.handle_eof(now);
                self.after_handshake(now, None);
            }
            State::Reading => self.close(CloseReason::PeerClosed),
            // A client may shut down its writing side after the request.
            State::Answering { .. } | State::Delaying { .. } | State::Done => {}
        }
    }

    /// TLS is up after [`SessionEvent::StartTls`].
    pub fn tls_established(&mut self, now: Instant) {
        if let Some(handshake) = self.handshake.as_mut() {
            handshake.tls_established(now);
        }
    }

    /// Answers the request after [`SessionEvent::Request`]: dispatches it on `context` (a
    /// request that could not be read gets error 1), encodes the answer with the compression
    /// and encryption the request used, and queues it; [`SessionEvent::Close`] follows.
    ///
    /// `timestamp` is the local time as `YYYYMMDDHHMMSS`; `master_key` opens and seals
    /// encrypted frames (`None` when the daemon has no master key). Does nothing when no
    /// request is waiting.
    pub fn answer(
        &mut self,
        now: Instant,
        context: &mut dyn Context,
        timestamp: &str,
        master_key: Option<&MasterKey>,
        random: SealRandom,
    ) {
        let State::Answering { request, arrived } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let document = frame::open(&request, master_key)
            .ok()
            .and_then(|json| Document::parse(&json).ok());
        let answer = match document {
            Some(request) => {
                let elapsed = now.saturating_duration_since(arrived);
                dispatch(context, &request, self.transport, timestamp, elapsed)
            }
            None => bad_payload(timestamp),
        };
        let sealing = master_key.map(|master_key| Sealing {
            master_key,
            salt: random.salt,
            iv: random.iv,
        });
        let encoded = frame::encode(
            &mut self.output,
            &answer.to_json(),
            answer.header.compression,
            answer.header.encryption,
            sealing,
        );
        if encoded.is_err() {
            // Too long or not sealable: say so in the clear.
            let mut failure = answer;
            failure.response = None;
            failure.outcome = Some(Outcome::failure(ErrorCode::Allocation));
            let json = failure.to_json();
            frame::encode(
                &mut self.output,
                &json,
                Compression::None,
                Encryption::None,
                None,
            )
            .expect("a short clear document always encodes");
        }
        self.close(CloseReason::Answered);
    }

    /// Appends the bytes to send to `out`; `false` when there are none.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        crate::transmit::hand_over(&mut self.output, out)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Handshake => self
                .handshake
                .as_ref()
                .and_then(ServerHandshake::poll_timeout),
            State::Reading => Some(self.deadline),
            State::Delaying { until, .. } => Some(*until),
            State::Answering { .. } | State::Done => None,
        }
    }

    /// Follows the handshake's events after a call into it.
    fn after_handshake(&mut self, now: Instant, error: Option<HandshakeError>) {
        let handshake = self.handshake.as_mut().expect("a remote session");
        while handshake.poll_transmit(&mut self.output) {}
        if let Some(error) = error {
            return self.close(CloseReason::Handshake(error));
        }
        while let Some(event) = handshake.poll_event() {
            match event {
                ServerEvent::StartTls => self.events.push_back(SessionEvent::StartTls),
                ServerEvent::Authenticated { admin } => {
                    self.events.push_back(SessionEvent::Authenticated { admin });
                    self.input = handshake.take_remaining();
                    self.state = State::Reading;
                    return self.read_request(now);
                }
                ServerEvent::Refused(refusal @ (Refusal::TimedOut | Refusal::Closed)) => {
                    return self.close(CloseReason::Refused(refusal));
                }
                ServerEvent::Refused(refusal) => {
                    self.held = self.output.split();
                    self.state = State::Delaying {
                        until: now + REFUSAL_DELAY,
                        reason: CloseReason::Refused(refusal),
                    };
                    return;
                }
            }
        }
    }

    /// Takes the request frame once it is whole.
    fn read_request(&mut self, now: Instant) {
        let frame = match frame::decode(&mut self.input) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(error) => return self.close(CloseReason::BadFrame(error)),
        };
        self.state = State::Answering {
            request: frame,
            arrived: now,
        };
        self.events.push_back(SessionEvent::Request);
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Done;
        self.events.push_back(SessionEvent::Close(reason));
    }
}

#[cfg(test)]
mod tests;
