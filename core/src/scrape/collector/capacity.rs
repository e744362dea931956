//! The per-server connection cap (`max_connections_per_server`).
//!
//! Work for a database goes to the connection to that database when there is one, to a new
//! connection while the server has fewer than the cap, and otherwise waits in the run's queue.
//! When a connection of that server has nothing left to do (no query outstanding) and work is
//! waiting, it is closed and a connection to the first waiting database is opened in its place:
//! a PostgreSQL session cannot change databases. The main database's connection is kept
//! unless the cap is 1: it gets the extension metrics late in a scrape and the probes of the
//! next. The connections open at the end of a scrape are kept; the next scrape gives work to
//! the databases that have one before it opens others, so a server with fewer databases than
//! the cap keeps one connection per database and never reconnects.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::link::{ConnId, LinkCommand};
use crate::machine::Machine;

use super::super::plan::MAIN_DATABASE;
use super::Collector;
use super::queries::Purpose;

/// Work of a run waiting for a connection to its database.
#[derive(Debug)]
pub(super) struct Waiting {
    database: String,
    work: Vec<Purpose>,
}

/// A run's work waiting for connections, in the order it arrived.
pub(super) type WaitingWork = VecDeque<Waiting>;

impl Collector {
    /// Sends `work` to `database` of `server` for its run: on the connection to that database
    /// (the caller flushes it when it is the one being read), on a new one when the cap allows,
    /// or later, when a connection of the server is free. Nothing when the server has no run.
    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        server: usize,
        database: &str,
        work: Vec<Purpose>,
    ) {
        if work.is_empty() {
            return;
        }
        let Some(run) = self.runs[server].as_mut() else {
            return;
        };
        if let Some(waiting) = run
            .waiting
            .iter_mut()
            .find(|waiting| waiting.database == database)
        {
            waiting.work.extend(work);
            return;
        }
        let conn = match self.find_link(server, database) {
            Some(conn) => conn,
            None if self.make_room(server) => self.link_for(now, server, database),
            None => {
                if let Some(run) = self.runs[server].as_mut() {
                    run.waiting.push_back(Waiting {
                        database: database.to_owned(),
                        work,
                    });
                }
                return;
            }
        };
        if let Some(link) = self.links.get_mut(&conn)
            && link.pending.is_empty()
        {
            link.busy_from = now;
        }
        self.send_work(conn, work);
        self.flush(now, conn);
    }

    /// Opens connections for the waiting work of `server` while there is room for them; call
    /// when one of its connections finished its work or closed.
    pub(super) fn start_waiting(&mut self, now: Instant, server: usize) {
        while self.runs[server]
            .as_ref()
            .is_some_and(|run| !run.waiting.is_empty())
            && self.make_room(server)
        {
            let Some(waiting) = self.runs[server]
                .as_mut()
                .and_then(|run| run.waiting.pop_front())
            else {
                return;
            };
            let conn = self.link_for(now, server, &waiting.database);
            self.send_work(conn, waiting.work);
            self.flush(now, conn);
        }
    }

    /// Whether `server` may open one more connection: it is under its cap, or an idle
    /// connection of it was just closed to make room.
    fn make_room(&mut self, server: usize) -> bool {
        let held = self
            .links
            .values()
            .filter(|link| link.server == server)
            .count();
        if held < self.settings.max_connections_per_server {
            return true;
        }
        // The main database keeps its connection unless it is the only one allowed: the next
        // scrape starts there. Its second connection goes first.
        let main_may_close = self.settings.max_connections_per_server == 1;
        let victim = self
            .links
            .iter()
            .filter(|(_, link)| link.server == server && link.pending.is_empty())
            .filter(|(_, link)| main_may_close || link.database != MAIN_DATABASE || link.second)
            .min_by_key(|(_, link)| !link.second)
            .map(|(&conn, _)| conn);
        match victim {
            Some(conn) => {
                self.close_link(conn);
                true
            }
            None => false,
        }
    }

    /// Ends connection `conn` politely: Terminate, then [`LinkCommand::Close`]. The
    /// connection is forgotten first, so nothing it reports afterwards is handled.
    pub(super) fn close_link(&mut self, conn: ConnId) {
        let Some(mut link) = self.links.remove(&conn) else {
            return;
        };
        link.pg.terminate();
        while link.connected && link.pg.poll_transmit(&mut self.transmit) {
            let bytes = self.transmit.split().freeze();
            self.command(conn, LinkCommand::Send(bytes));
        }
        self.command(conn, LinkCommand::Close);
    }

    /// Queues each query of `work` on `conn`.
    pub(super) fn send_work(&mut self, conn: ConnId, work: Vec<Purpose>) {
        let metrics = Arc::clone(&self.metrics);
        let alerts = self.settings.alerts.clone();
        for purpose in work {
            let sql = match purpose {
                Purpose::Probe(probe) => probe.sql(),
                Purpose::Metric(planned) => metrics.definitions()[planned.metric].queries
                    [planned.variant]
                    .sql
                    .as_str(),
                Purpose::Alert(index) => {
                    match alerts.as_deref().and_then(|set| set.alerts().get(index)) {
                        Some(alert) => alert.query.as_str(),
                        None => continue,
                    }
                }
            };
            self.send_query(conn, sql, purpose);
        }
    }
}
