//! Connections being closed to make room under the cap: Terminate has gone out and the server
//! has not closed its end yet. PostgreSQL closes a session's socket only when its backend
//! process exits, so until then the session still holds a process of the server and counts
//! against `max_connections_per_server` (see `capacity.rs`).

use std::time::Instant;

use crate::link::{ConnId, LinkCommand, LinkEvent};
use crate::machine::Machine;
use crate::pg;

use super::{Collector, expired};

/// A connection whose Terminate went out, waiting for the server's end of stream or for
/// [`pg::TERMINATE_TIMEOUT`]. Nothing is sent to it and what it reports besides its close is
/// ignored.
pub(super) struct Retiring {
    pub(super) server: usize,
    pg: pg::Connection,
}

impl Collector {
    /// Ends connection `conn` politely and keeps counting it against its server's cap until
    /// the server has closed it: Terminate now, [`LinkCommand::Close`] when the server's end
    /// of stream arrives or the terminate deadline passes; then the work waiting for the
    /// server takes the freed slot. A connection whose socket is not open yet has no session:
    /// it is closed at once.
    pub(super) fn retire_link(&mut self, now: Instant, conn: ConnId) {
        let Some(link) = self.links.remove(&conn) else {
            return;
        };
        let (server, connected) = (link.server, link.connected);
        let mut pg = link.pg;
        pg.terminate(now);
        if connected {
            self.transmit_terminate(conn, &mut pg);
        }
        if connected && !pg.is_finished() {
            self.retiring.insert(conn, Retiring { server, pg });
        } else {
            self.command(conn, LinkCommand::Close);
        }
    }

    /// Ends connection `conn` at once: Terminate when its socket is open, then
    /// [`LinkCommand::Close`] without waiting for the server. For shutdown and reconnects,
    /// where no work waits for the slot.
    pub(super) fn close_link(&mut self, now: Instant, conn: ConnId) {
        if let Some(mut link) = self.links.remove(&conn) {
            link.pg.terminate(now);
            if link.connected {
                self.transmit_terminate(conn, &mut link.pg);
            }
        }
        self.retiring.remove(&conn);
        self.command(conn, LinkCommand::Close);
    }

    /// Hands the Terminate queued on `pg` to the runtime.
    fn transmit_terminate(&mut self, conn: ConnId, pg: &mut pg::Connection) {
        while pg.poll_transmit(&mut self.transmit) {
            let bytes = self.transmit.split().freeze();
            self.command(conn, LinkCommand::Send(bytes));
        }
    }

    /// The retiring connections of `server`.
    pub(super) fn retiring_count(&self, server: usize) -> usize {
        self.retiring
            .values()
            .filter(|retiring| retiring.server == server)
            .count()
    }

    /// Something happened on the retiring connection `conn`: only its end counts.
    pub(super) fn handle_retiring_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        let Some(retiring) = self.retiring.get_mut(&conn) else {
            return;
        };
        match event {
            LinkEvent::Eof | LinkEvent::ConnectFailed(_) => retiring.pg.handle_eof(now),
            LinkEvent::Connected | LinkEvent::TlsEstablished | LinkEvent::Input(_) => return,
        }
        self.follow_retiring(now, conn);
    }

    /// Ends the retiring connections whose terminate deadline has passed.
    pub(super) fn retiring_timeouts(&mut self, now: Instant) {
        for conn in expired(&self.retiring, now, |retiring| &retiring.pg) {
            if let Some(retiring) = self.retiring.get_mut(&conn) {
                retiring.pg.handle_timeout(now);
            }
            self.follow_retiring(now, conn);
        }
    }

    /// The earliest terminate deadline of the retiring connections.
    pub(super) fn retiring_deadline(&self) -> Option<Instant> {
        self.retiring
            .values()
            .filter_map(|retiring| retiring.pg.poll_timeout())
            .min()
    }

    /// Once retiring connection `conn` reported `Closed`: closes its socket, forgets it and
    /// lets the work waiting for its server take the slot.
    fn follow_retiring(&mut self, now: Instant, conn: ConnId) {
        let Some(retiring) = self.retiring.get_mut(&conn) else {
            return;
        };
        let closed = std::iter::from_fn(|| retiring.pg.poll_event())
            .any(|event| matches!(event, pg::Event::Closed { .. }));
        if !closed {
            return;
        }
        let server = retiring.server;
        self.retiring.remove(&conn);
        self.command(conn, LinkCommand::Close);
        self.start_waiting(now, server);
        self.finish_done_runs(now);
    }
}
