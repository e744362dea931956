//! How a server's run ends early: its queries still running cancelled, and the failures of
//! connections reported once per change of state.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::link::{ConnId, LinkAction, LinkCommand, LinkEvent, LinkOwner};
use crate::pg::{self, CancelKey};

use super::super::plan::MAIN_DATABASE;
use super::{Collector, Link};

impl Collector {
    /// At the end of the run `run_id` of `server` with queries outstanding: its running
    /// queries are cancelled and their connections kept; a connection still running queries
    /// of a run whose end already cancelled them is closed, counting against the cap until
    /// the server has closed it (or the terminate deadline passed). Connections still being
    /// opened are kept: their connect timeout ends them.
    pub(super) fn cancel_late_queries(&mut self, now: Instant, server: usize, run_id: u64) {
        if self.late[server] {
            tracing::debug!(server = %self.servers[server].name, "missed the scrape deadline again");
        } else {
            tracing::warn!(server = %self.servers[server].name, "missed the scrape deadline: its queries are cancelled");
        }
        let running: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, link)| link.server == server && !link.pending.is_empty())
            .map(|(&conn, _)| conn)
            .collect();
        for conn in running {
            let Some(link) = self.links.get_mut(&conn) else {
                continue;
            };
            let unmoved = link.cancelled_run.is_some_and(|cancelled| {
                link.pending
                    .values()
                    .any(|pending| pending.run <= cancelled)
            });
            if unmoved {
                tracing::warn!(server = %link.server_name, database = %link.database, "queries still running after a cancel: closing the connection");
                self.retire_link(now, conn);
            } else if let Some(key) = link.pg.cancel_key().filter(|_| link.ready) {
                link.cancelled_run = Some(run_id);
                self.send_cancel(server, key);
            }
        }
    }

    /// Opens a one-shot connection to `server` that carries the CancelRequest of `key`. It
    /// goes without TLS, as PostgreSQL reads a CancelRequest before any negotiation.
    fn send_cancel(&mut self, server: usize, key: CancelKey) {
        let mut packet = BytesMut::new();
        key.cancel_request(&mut packet);
        let conn = ConnId::new(LinkOwner::Postgresql, self.next_conn);
        self.next_conn += 1;
        self.cancels.insert(conn, packet.freeze());
        let target = Arc::clone(&self.servers[server].target);
        self.actions.push_back(LinkAction::Connect { conn, target });
    }

    /// Something happened on the one-shot connection `conn` of a CancelRequest: once open it
    /// takes the packet and is closed; the server answers nothing.
    pub(super) fn handle_cancel_link(&mut self, conn: ConnId, event: LinkEvent) {
        match event {
            LinkEvent::Connected => {
                if let Some(packet) = self.cancels.remove(&conn) {
                    self.command(conn, LinkCommand::Send(packet));
                    self.command(conn, LinkCommand::Close);
                }
            }
            LinkEvent::ConnectFailed(reason) => {
                self.cancels.remove(&conn);
                tracing::debug!("cannot send a cancel request: {reason}");
            }
            LinkEvent::TlsEstablished | LinkEvent::Input(_) | LinkEvent::Eof => {}
        }
    }

    /// Logs why the connection `link` closed. A connection to a server's main database that
    /// failed before it was ready starts or extends the server's reconnect backoff, and is
    /// logged as a warning only the first time in a row.
    pub(super) fn report_closed(&mut self, now: Instant, link: Link, error: Option<pg::Error>) {
        let reason = match (link.connect_failure, error) {
            (Some(reason), _) => reason,
            (None, Some(error)) => error.to_string(),
            (None, None) => return,
        };
        let (server, database) = (&link.server_name, &link.database);
        if link.ready {
            tracing::warn!(server = %server, database = %database, "connection lost: {reason}");
        } else if link.database != MAIN_DATABASE || link.second {
            tracing::warn!(server = %server, database = %database, "cannot connect: {reason}");
        } else if self.reachability[link.server].failed(now) {
            tracing::warn!(server = %server, database = %database, "cannot connect: {reason}; retrying with backoff");
        } else {
            tracing::debug!(server = %server, database = %database, "still cannot connect: {reason}");
        }
    }
}
