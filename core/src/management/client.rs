//! One management request as the client makes it: the remote handshake when there is one,
//! the request frame out, the answer frame in.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::frame::{self, Frame, FrameError};
use super::handshake::{ClientEvent, ClientHandshake, ClientHandshakeError};
use crate::machine::{Machine, Outbox};

/// What happened to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeEvent {
    /// The remote handshake succeeded; the request is on its way.
    Authenticated,
    /// The answer frame, still compressed and encrypted.
    Answer(Frame),
    /// No answer will come.
    Failed(ExchangeFailure),
}

/// Why no answer came. Never holds the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeFailure {
    /// The remote handshake failed: refused (unknown admin, wrong password), no TLS where it
    /// is required, or a protocol error.
    #[error(transparent)]
    Handshake(ClientHandshakeError),
    /// The answer is not a valid frame (a declared length over the limit, say).
    #[error("invalid frame: {0}")]
    Frame(FrameError),
    /// The server closed the connection before a whole answer arrived.
    #[error("the connection closed before the answer")]
    Closed,
    /// The server sent nothing for the timeout.
    #[error("no answer in time")]
    TimedOut,
}

enum State {
    /// The remote handshake runs.
    Handshake(Box<ClientHandshake>),
    /// The request is sent; the answer is read.
    Reading,
    /// Over.
    Done,
}

/// One request and its answer, as a [`Machine`]: finished after [`ExchangeEvent::Answer`] or
/// [`ExchangeEvent::Failed`]. Every read must come within the timeout of the one before.
pub struct ClientExchange {
    state: State,
    request: BytesMut,
    timeout: Duration,
    deadline: Instant,
    input: BytesMut,
    outbox: Outbox<ExchangeEvent>,
}

impl ClientExchange {
    /// The request frame `request` over the local socket: sent at once.
    pub fn local(request: &[u8], now: Instant, timeout: Duration) -> Self {
        let mut exchange = ClientExchange::new(State::Reading, request, now, timeout);
        exchange.send_request();
        exchange
    }

    /// The request frame `request` over the remote port, after `handshake`.
    pub fn remote(
        handshake: ClientHandshake,
        request: &[u8],
        now: Instant,
        timeout: Duration,
    ) -> Self {
        let mut exchange =
            ClientExchange::new(State::Handshake(Box::new(handshake)), request, now, timeout);
        exchange.follow_handshake();
        exchange
    }

    fn new(state: State, request: &[u8], now: Instant, timeout: Duration) -> Self {
        ClientExchange {
            state,
            request: BytesMut::from(request),
            timeout,
            deadline: now + timeout,
            input: BytesMut::new(),
            outbox: Outbox::default(),
        }
    }

    fn send_request(&mut self) {
        let request = self.request.split();
        self.outbox.bytes().extend_from_slice(&request);
    }

    /// Takes the handshake's bytes and events.
    fn follow_handshake(&mut self) {
        let State::Handshake(handshake) = &mut self.state else {
            return;
        };
        while handshake.poll_transmit(self.outbox.bytes()) {}
        // The handshake reports once, when it ends.
        match handshake.poll_event() {
            Some(ClientEvent::Authenticated) => {
                self.input = handshake.take_remaining();
                self.state = State::Reading;
                self.outbox.push(ExchangeEvent::Authenticated);
                self.send_request();
                self.read_answer();
            }
            Some(ClientEvent::Failed(error)) => self.fail(ExchangeFailure::Handshake(error)),
            None => {}
        }
    }

    /// Takes the answer frame once it is whole.
    fn read_answer(&mut self) {
        match frame::decode(&mut self.input) {
            Ok(Some(frame)) => {
                self.state = State::Done;
                self.outbox.push(ExchangeEvent::Answer(frame));
            }
            Ok(None) => {}
            Err(error) => self.fail(ExchangeFailure::Frame(error)),
        }
    }

    fn fail(&mut self, failure: ExchangeFailure) {
        self.state = State::Done;
        self.outbox.push(ExchangeEvent::Failed(failure));
    }
}

impl Machine for ClientExchange {
    type Event = ExchangeEvent;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.deadline = now + self.timeout;
        match &mut self.state {
            State::Handshake(handshake) => {
                handshake.handle_input(now, bytes);
                self.follow_handshake();
            }
            State::Reading => {
                self.input.extend_from_slice(bytes);
                self.read_answer();
            }
            State::Done => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Done) || now < self.deadline {
            return;
        }
        self.fail(ExchangeFailure::TimedOut);
    }

    fn handle_eof(&mut self, now: Instant) {
        match &mut self.state {
            State::Handshake(handshake) => {
                handshake.handle_eof(now);
                self.follow_handshake();
            }
            State::Reading => self.fail(ExchangeFailure::Closed),
            State::Done => {}
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<ExchangeEvent> {
        self.outbox.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!matches!(self.state, State::Done)).then_some(self.deadline)
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn poll_tls_start(&mut self) -> bool {
        match &mut self.state {
            State::Handshake(handshake) => handshake.poll_tls_start(),
            _ => false,
        }
    }

    fn handle_tls_established(&mut self, now: Instant) {
        if let State::Handshake(handshake) = &mut self.state {
            handshake.handle_tls_established(now);
            self.follow_handshake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::management::handshake::{AdminVerifiers, ServerHandshake};
    use crate::management::{Compression, Encryption};
    use crate::pg::TlsMode;
    use crate::secret::Secret;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn frame_bytes(json: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        frame::encode(&mut out, json, Compression::None, Encryption::None, None).unwrap();
        out
    }

    #[test]
    fn a_local_request_goes_out_and_its_answer_comes_back_in_pieces() {
        let now = crate::test_clock::origin();
        let mut exchange = ClientExchange::local(b"request", now, TIMEOUT);
        let mut out = BytesMut::new();
        assert!(exchange.poll_transmit(&mut out));
        assert_eq!(&out[..], b"request");
        let answer = frame_bytes(br#"{"a":1}"#);
        for byte in answer.iter() {
            assert!(exchange.poll_event().is_none());
            exchange.handle_input(now, std::slice::from_ref(byte));
        }
        match exchange.poll_event() {
            Some(ExchangeEvent::Answer(frame)) => assert_eq!(&frame.payload[..], br#"{"a":1}"#),
            other => panic!("{other:?}"),
        }
        assert!(exchange.is_finished());
    }

    #[test]
    fn an_early_close_an_oversized_frame_and_silence_fail() {
        let now = crate::test_clock::origin();
        let mut closed = ClientExchange::local(b"r", now, TIMEOUT);
        closed.handle_input(now, &frame_bytes(b"{}")[..3]);
        closed.handle_eof(now);
        assert_eq!(
            closed.poll_event(),
            Some(ExchangeEvent::Failed(ExchangeFailure::Closed))
        );
        let mut oversized = ClientExchange::local(b"r", now, TIMEOUT);
        oversized.handle_input(now, &[0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            oversized.poll_event(),
            Some(ExchangeEvent::Failed(ExchangeFailure::Frame(_)))
        ));
        let mut silent = ClientExchange::local(b"r", now, TIMEOUT);
        silent.handle_timeout(now + TIMEOUT);
        assert_eq!(
            silent.poll_event(),
            Some(ExchangeEvent::Failed(ExchangeFailure::TimedOut))
        );
    }

    #[test]
    fn a_remote_request_follows_the_handshake() {
        let now = crate::test_clock::origin();
        let mut admins = AdminVerifiers::new();
        admins
            .insert("admin", &Secret::from("secret"), [3; 16])
            .unwrap();
        let mut server = ServerHandshake::new(Arc::new(admins), false, now, TIMEOUT, [2; 18]);
        let handshake = ClientHandshake::new(
            "admin",
            Secret::from("secret"),
            TlsMode::Off,
            now,
            TIMEOUT,
            [1; 18],
        )
        .unwrap();
        let mut exchange = ClientExchange::remote(handshake, b"request", now, TIMEOUT);
        let mut events = Vec::new();
        let mut at_server = Vec::new();
        for _ in 0..10 {
            let mut out = BytesMut::new();
            while exchange.poll_transmit(&mut out) {}
            if server.is_finished() {
                at_server.extend_from_slice(&out);
            } else {
                server.handle_input(now, &out);
            }
            let mut back = BytesMut::new();
            while server.poll_transmit(&mut back) {}
            if !back.is_empty() {
                exchange.handle_input(now, &back);
            }
            events.extend(std::iter::from_fn(|| exchange.poll_event()));
        }
        assert_eq!(events, [ExchangeEvent::Authenticated]);
        at_server.splice(0..0, server.take_remaining());
        assert_eq!(at_server, b"request");
    }
}
