//! The per-server connection cap (`max_connections_per_server`).
//!
//! Work for a database goes to the connection to that database when there is one, to a new
//! connection while the server has fewer than the cap, and otherwise waits in the run's queue.
//! When a connection of that server has nothing left to do (no query outstanding) and work is
//! waiting, it is closed and a connection to the first waiting database is opened in its place:
//! a PostgreSQL session cannot change databases. A closed connection keeps its place under the
//! cap until the server has closed its end, that is until its backend process has exited
//! ([`retiring`](super::retiring)), so the cap bounds the server's processes; no more
//! connections are closed than there are databases waiting. The main database's connection is kept
//! unless the cap is 1: it gets the extension metrics late in a scrape and the probes of the
//! next. The connections open at the end of a scrape are kept; the next scrape gives work to
//! the databases that have one before it opens others, so a server with fewer databases than
//! the cap keeps one connection per database and never reconnects.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::link::ConnId;

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
            None if self.has_room(server) => self.link_for(now, server, database),
            None => {
                if let Some(run) = self.runs[server].as_mut() {
                    run.waiting.push_back(Waiting {
                        database: database.to_owned(),
                        work,
                    });
                }
                self.start_waiting(now, server);
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

    /// Opens connections for the waiting work of `server` while there is room for them, and
    /// closes idle ones to make room for the rest, no more than there are databases waiting
    /// beyond those already closing; call when work starts waiting or one of its connections
    /// finished its work or closed.
    pub(super) fn start_waiting(&mut self, now: Instant, server: usize) {
        loop {
            let waiting = self.runs[server]
                .as_ref()
                .map_or(0, |run| run.waiting.len());
            if waiting == 0 {
                return;
            }
            if self.has_room(server) {
                let Some(waiting) = self.runs[server]
                    .as_mut()
                    .and_then(|run| run.waiting.pop_front())
                else {
                    return;
                };
                let conn = self.link_for(now, server, &waiting.database);
                self.send_work(conn, waiting.work);
                self.flush(now, conn);
                continue;
            }
            if self.retiring_count(server) >= waiting {
                return;
            }
            match self.idle_link(server) {
                Some(conn) => self.retire_link(now, conn),
                None => return,
            }
        }
    }

    /// Whether `server` may open one more connection: it holds fewer than the cap, counting
    /// those still closing.
    pub(super) fn has_room(&self, server: usize) -> bool {
        let held = self
            .links
            .values()
            .filter(|link| link.server == server)
            .count();
        held + self.retiring_count(server) < self.settings.max_connections_per_server
    }

    /// A connection of `server` with nothing to do that may close to make room: the main
    /// database's second connection first. The main database keeps its connection unless it
    /// is the only one allowed: the next scrape starts there.
    fn idle_link(&self, server: usize) -> Option<ConnId> {
        let main_may_close = self.settings.max_connections_per_server == 1;
        self.links
            .iter()
            .filter(|(_, link)| link.server == server && link.pending.is_empty())
            .filter(|(_, link)| main_may_close || link.database != MAIN_DATABASE || link.second)
            .min_by_key(|(_, link)| !link.second)
            .map(|(&conn, _)| conn)
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
