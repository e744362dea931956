//! An outbound connection between the machine that owns its conversation (the collector's
//! PostgreSQL connections, the HTTP fetches of the collector and the bridge) and the runtime
//! that owns its socket.
//!
//! The owner speaks in [`LinkCommand`]s and hears [`LinkEvent`]s. The runtime connects, then
//! drives a [`Relay`] over the socket (inside a TLS adapter): it hands the relay the owner's
//! commands and passes the relay's events back, without looking at either. Connecting is the
//! runtime's own work, so it reports [`LinkEvent::Connected`] and [`LinkEvent::ConnectFailed`]
//! itself.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::machine::{Machine, Outbox, Peer};
use crate::plan::Target;

/// Identifies one outbound connection between its owner and the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    owner: LinkOwner,
    number: u64,
}

/// Which part of the daemon opened an outbound connection, and hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkOwner {
    /// The collector's PostgreSQL connections.
    Postgresql,
    /// The collector's HTTP connections to `type = prometheus` servers.
    Prometheus,
    /// The bridge's HTTP connections to its endpoints.
    Bridge,
}

impl ConnId {
    /// Connection `number` of `owner`; each owner numbers its own.
    pub(crate) fn new(owner: LinkOwner, number: u64) -> ConnId {
        ConnId { owner, number }
    }

    /// Who opened it.
    pub fn owner(self) -> LinkOwner {
        self.owner
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{}", self.owner, self.number)
    }
}

/// What the owner of outbound connections asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Open a connection to `target`, drive a [`Relay`] over it, and report what happens on
    /// it ([`LinkEvent::Connected`] or [`LinkEvent::ConnectFailed`] first).
    Connect {
        /// The new connection.
        conn: ConnId,
        /// Where to connect, and with which TLS settings.
        target: Arc<Target>,
    },
    /// Hand `command` to the relay of `conn`. After [`LinkCommand::Close`] the owner has
    /// forgotten the connection: its later events are ignored.
    Command {
        /// The connection.
        conn: ConnId,
        /// What to do.
        command: LinkCommand,
    },
}

/// What the owner of a link asks of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCommand {
    /// Write these bytes (plaintext under TLS).
    Send(Bytes),
    /// Continue under TLS, after the bytes sent so far; [`LinkEvent::TlsEstablished`] follows.
    StartTls,
    /// Write what is queued, then close.
    Close,
}

/// What happened on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The socket is open.
    Connected,
    /// The socket could not be opened; the reason names the target.
    ConnectFailed(String),
    /// The TLS handshake asked for by [`LinkCommand::StartTls`] completed.
    TlsEstablished,
    /// Bytes from the peer (plaintext under TLS).
    Input(Bytes),
    /// The peer closed the connection, or it failed.
    Eof,
}

/// The socket side of a link: a [`Machine`] that relays bytes, and a [`Peer`] that takes
/// [`LinkCommand`]s. It finishes after [`LinkCommand::Close`] or at the end of the stream.
#[derive(Debug, Default)]
pub struct Relay {
    outbox: Outbox<LinkEvent>,
    tls_requested: bool,
    finished: bool,
}

impl Machine for Relay {
    type Event = LinkEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        if !self.finished && !bytes.is_empty() {
            self.outbox
                .push(LinkEvent::Input(Bytes::copy_from_slice(bytes)));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn handle_eof(&mut self, _now: Instant) {
        if !self.finished {
            self.finished = true;
            self.outbox.push(LinkEvent::Eof);
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.outbox.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn poll_tls_start(&mut self) -> bool {
        std::mem::take(&mut self.tls_requested)
    }

    fn handle_tls_established(&mut self, _now: Instant) {
        self.outbox.push(LinkEvent::TlsEstablished);
    }
}

impl Peer for Relay {
    type Message = LinkCommand;

    fn handle_message(&mut self, _now: Instant, command: LinkCommand) {
        if self.finished {
            return;
        }
        match command {
            LinkCommand::Send(bytes) => self.outbox.bytes().extend_from_slice(&bytes),
            LinkCommand::StartTls => self.tls_requested = true,
            LinkCommand::Close => self.finished = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_commands_pass_through() {
        let now = crate::test_clock::origin();
        let mut relay = Relay::default();
        relay.handle_message(now, LinkCommand::Send(Bytes::from_static(b"hello")));
        let mut out = BytesMut::new();
        assert!(relay.poll_transmit(&mut out));
        assert_eq!(&out[..], b"hello");
        relay.handle_input(now, b"world");
        assert_eq!(
            relay.poll_event(),
            Some(LinkEvent::Input(Bytes::from_static(b"world")))
        );
        relay.handle_message(now, LinkCommand::StartTls);
        assert!(relay.poll_tls_start());
        assert!(!relay.poll_tls_start());
        relay.handle_tls_established(now);
        assert_eq!(relay.poll_event(), Some(LinkEvent::TlsEstablished));
        relay.handle_message(now, LinkCommand::Close);
        assert!(relay.is_finished());
        relay.handle_input(now, b"late");
        assert_eq!(relay.poll_event(), None);
    }

    #[test]
    fn the_end_of_the_stream_is_reported_once() {
        let now = crate::test_clock::origin();
        let mut relay = Relay::default();
        relay.handle_eof(now);
        relay.handle_eof(now);
        assert_eq!(relay.poll_event(), Some(LinkEvent::Eof));
        assert_eq!(relay.poll_event(), None);
        assert!(relay.is_finished());
    }
}
