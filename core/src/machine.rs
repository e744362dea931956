//! The contract every byte-level state machine of this crate follows, and the outbox they share.
//!
//! A [`Machine`] is one end of one byte stream: a PostgreSQL client connection, an HTTP server
//! connection, a management session. Whoever owns the socket (a runtime, a blocking client, a
//! test) drives it with one loop:
//!
//! ```text
//! loop {
//!     while let Some(bytes) = machine.poll_send() { write bytes to the socket }
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

use bytes::{Bytes, BytesMut};

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

    /// The next bytes to send, as they are queued: a body shared with other connections comes
    /// out as its own [`Bytes`], without a copy; `None` when nothing waits. Gives the same
    /// bytes in the same order as [`Machine::poll_transmit`]; drain with either.
    #[must_use]
    fn poll_send(&mut self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        self.poll_transmit(&mut out).then(|| out.freeze())
    }

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
///
/// Bytes are appended to a buffer ([`Outbox::bytes`]); a body shared with other machines is
/// queued after them as it is ([`Outbox::push_shared`]), and goes out without a copy through
/// [`Outbox::poll_send`].
#[derive(Debug)]
pub struct Outbox<E> {
    /// What was queued before `bytes`, oldest first.
    queued: VecDeque<Bytes>,
    bytes: BytesMut,
    events: VecDeque<E>,
}

impl<E> Default for Outbox<E> {
    fn default() -> Self {
        Outbox {
            queued: VecDeque::new(),
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

    /// Queues `shared` after the bytes queued so far, without copying it; bytes appended
    /// afterwards follow it.
    pub fn push_shared(&mut self, shared: Bytes) {
        if !self.bytes.is_empty() {
            self.queued.push_back(self.bytes.split().freeze());
        }
        if !shared.is_empty() {
            self.queued.push_back(shared);
        }
    }

    /// Queues an event.
    pub fn push(&mut self, event: E) {
        self.events.push_back(event);
    }

    /// Drops the bytes not handed out yet.
    pub fn discard_bytes(&mut self) {
        self.queued.clear();
        self.bytes.clear();
    }

    /// Whether no byte waits to be handed out.
    pub fn has_no_bytes(&self) -> bool {
        self.queued.is_empty() && self.bytes.is_empty()
    }

    /// Moves the queued bytes to the end of `out`; `false` when nothing was queued. An empty
    /// `out` takes the buffer itself, without copying, when no shared body is queued.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        if self.has_no_bytes() {
            return false;
        }
        for shared in self.queued.drain(..) {
            out.extend_from_slice(&shared);
        }
        if out.is_empty() {
            std::mem::swap(out, &mut self.bytes);
        } else {
            out.extend_from_slice(&self.bytes);
            self.bytes.clear();
        }
        true
    }

    /// The next bytes to send, oldest first: each shared body as it was queued, and the
    /// appended bytes between them; `None` when nothing was queued.
    pub fn poll_send(&mut self) -> Option<Bytes> {
        self.queued
            .pop_front()
            .or_else(|| (!self.bytes.is_empty()).then(|| self.bytes.split().freeze()))
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
    fn a_shared_body_goes_out_as_it_is_between_the_bytes_around_it() {
        let shared = Bytes::from(vec![7u8; 1000]);
        let mut outbox: Outbox<()> = Outbox::default();
        outbox.bytes().extend_from_slice(b"head");
        outbox.push_shared(shared.clone());
        outbox.bytes().extend_from_slice(b"next");
        assert_eq!(outbox.poll_send().as_deref(), Some(&b"head"[..]));
        let sent = outbox.poll_send().unwrap();
        assert_eq!(sent.as_ptr(), shared.as_ptr(), "not copied");
        assert_eq!(outbox.poll_send().as_deref(), Some(&b"next"[..]));
        assert_eq!(outbox.poll_send(), None);
        assert!(outbox.has_no_bytes());

        outbox.bytes().extend_from_slice(b"head");
        outbox.push_shared(shared.clone());
        outbox.bytes().extend_from_slice(b"next");
        let mut out = BytesMut::new();
        assert!(outbox.poll_transmit(&mut out));
        assert!(!outbox.poll_transmit(&mut out));
        assert_eq!(out.len(), 1008, "the same bytes, copied into one buffer");
        assert!(out.starts_with(b"head") && out.ends_with(b"\x07next"));
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
