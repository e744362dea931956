//! The contract every byte-level state machine of this crate follows, and the outbox they share.
//!
//! A [`Machine`] is one end of one byte stream: a PostgreSQL client connection, an HTTP server
//! connection, a management session. Whoever owns the socket (a runtime, a blocking client, a
//! test) drives it with one loop:
//!
//! ```text
//! loop {
//!     while machine.poll_transmit(&mut out) { write out to the socket }
//!     while let Some(event) = machine.poll_event() { react to the event }
//!     if machine.is_finished() { close the socket; break }
//!     wait for input, or until machine.poll_timeout():
//!         bytes => machine.handle_input(now, &bytes)
//!         end of stream => machine.handle_eof(now)
//!         the instant passed => machine.handle_timeout(now)
//! }
//! ```
//!
//! What the peer did wrong is an event, reported once, and it usually finishes the machine; a
//! `Result` on a machine's own methods only ever reports the caller misusing the API.
//!
//! A machine may ask for its stream to continue under TLS ([`Machine::poll_tls_start`]): the
//! bytes it queued before the request go out in the clear, and it queues nothing more until
//! [`Machine::handle_tls_established`]. A TLS adapter around the machine (which owns the TLS
//! library) honours the request, so a runtime only ever moves bytes.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;

/// One end of one byte stream, without IO. See the module documentation for the driving loop.
pub trait Machine {
    /// What happened that the driver must act on.
    type Event;

    /// Bytes received from the peer (TLS plaintext once TLS is up). Input after the machine
    /// finished is dropped.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]);

    /// The instant given by [`Machine::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant);

    /// The peer closed its sending side (or the stream failed).
    fn handle_eof(&mut self, now: Instant);

    /// Appends the bytes to send to `out`; `false` when there are none. The caller owns the
    /// buffer.
    #[must_use]
    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool;

    /// The next event, oldest first.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`Machine::handle_timeout`] wants to be called; `None` when nothing is timed.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Whether the conversation is over: send what [`Machine::poll_transmit`] still gives,
    /// then close the stream.
    fn is_finished(&self) -> bool;

    /// Whether the machine asks, now, for the stream to continue under TLS. Answers `true` at
    /// most once per request; drain [`Machine::poll_transmit`] before asking, so that the
    /// bytes queued before the request go out in the clear.
    #[must_use]
    fn poll_tls_start(&mut self) -> bool {
        false
    }

    /// The TLS handshake asked for by [`Machine::poll_tls_start`] completed: from now on input
    /// and output are TLS plaintext.
    fn handle_tls_established(&mut self, _now: Instant) {}
}

/// A machine whose driver also carries messages to it from elsewhere in the process (the
/// answers to what its events asked for, or commands). The driver forwards the machine's
/// events and hands it each message with [`Peer::handle_message`], then drains it as after any
/// `handle_*` call.
pub trait Peer: Machine {
    /// What the machine is told.
    type Message;

    /// A message for this machine arrived.
    fn handle_message(&mut self, now: Instant, message: Self::Message);
}

/// The bytes to send and the events to report of one machine: what its driver drains.
#[derive(Debug)]
pub struct Outbox<E> {
    bytes: BytesMut,
    events: VecDeque<E>,
}

impl<E> Default for Outbox<E> {
    fn default() -> Self {
        Outbox {
            bytes: BytesMut::new(),
            events: VecDeque::new(),
        }
    }
}

impl<E> Outbox<E> {
    /// The buffer of bytes to send, to append to.
    pub fn bytes(&mut self) -> &mut BytesMut {
        &mut self.bytes
    }

    /// Queues an event.
    pub fn push(&mut self, event: E) {
        self.events.push_back(event);
    }

    /// Drops the bytes not handed out yet.
    pub fn discard_bytes(&mut self) {
        self.bytes.clear();
    }

    /// Whether no byte waits to be handed out.
    pub fn has_no_bytes(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Moves the queued bytes to the end of `out`; `false` when nothing was queued. An empty
    /// `out` takes the buffer itself, without copying.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        if self.bytes.is_empty() {
            return false;
        }
        if out.is_empty() {
            std::mem::swap(out, &mut self.bytes);
        } else {
            out.extend_from_slice(&self.bytes);
            self.bytes.clear();
        }
        true
    }

    /// The oldest event.
    pub fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_move_once_and_append() {
        let mut outbox: Outbox<()> = Outbox::default();
        let mut out = BytesMut::new();
        outbox.bytes().extend_from_slice(b"abc");
        assert!(outbox.poll_transmit(&mut out));
        assert!(!outbox.poll_transmit(&mut out));
        outbox.bytes().extend_from_slice(b"de");
        assert!(outbox.poll_transmit(&mut out));
        assert_eq!(&out[..], b"abcde");
        assert!(outbox.has_no_bytes());
    }

    #[test]
    fn events_come_out_in_order() {
        let mut outbox = Outbox::default();
        outbox.push(1);
        outbox.push(2);
        assert_eq!(outbox.poll_event(), Some(1));
        assert_eq!(outbox.poll_event(), Some(2));
        assert_eq!(outbox.poll_event(), None);
    }
}
