//! How a scrape ends: requests answered by their own deadlines, late servers' queries
//! cancelled, and the failures of connections reported once per change of state.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::link::{ConnId, LinkAction, LinkCommand, LinkEvent};
use crate::pg::{self, CancelKey, QueryError, QueryResult};

use super::super::discovery::Probe;
use super::super::plan::MAIN_DATABASE;
use super::super::result::{ScrapeResult, ServerSnapshot};
use super::{Collector, Event, Link, Purpose, QUERY_CANCELED, Run, ServerRun};

impl Collector {
    /// Answers the requests whose deadline has passed while the scrape goes on: with what has
    /// arrived, the servers still running reported inactive.
    pub(super) fn answer_expired_waiters(&mut self, now: Instant) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let (expired, waiting) = run
            .waiters
            .iter()
            .partition(|waiter| waiter.deadline <= now);
        run.waiters = waiting;
        if expired.is_empty() {
            return;
        }
        let servers = run.servers.iter().map(partial_snapshot).collect();
        let result = self.result_of(servers, now);
        let tickets = expired.iter().map(|waiter| waiter.ticket).collect();
        self.events.push_back(Event::Partial { result, tickets });
    }

    /// Ends the scrape when no server has a query outstanding, and answers every request
    /// still waiting.
    pub(super) fn finish_if_done(&mut self, now: Instant) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        if run.servers.iter().any(|server| server.outstanding > 0) {
            return;
        }
        let Run {
            servers, waiters, ..
        } = self.run.take().expect("checked above");
        self.active = servers
            .iter()
            .map(|server| server.snapshot.active)
            .collect();
        let result = self.result_of(
            servers.into_iter().map(|server| server.snapshot).collect(),
            now,
        );
        if !self.settings.cache_max_age.is_zero() {
            self.cached = Some(Arc::clone(&result));
        }
        let tickets = waiters.iter().map(|waiter| waiter.ticket).collect();
        self.events.push_back(Event::Finished { result, tickets });
    }

    /// A result of the running definitions with `servers`, finished at `now`.
    fn result_of(&self, servers: Vec<ServerSnapshot>, now: Instant) -> Arc<ScrapeResult> {
        Arc::new(ScrapeResult {
            metrics: Arc::clone(&self.metrics),
            filter: self.filter.clone(),
            servers,
            queries: self.counters,
            finished: now,
        })
    }

    /// At the end of the scrape: every server still waiting is reported inactive and its
    /// partial rows are dropped. Its running queries are cancelled and their connections kept;
    /// a connection still running queries of a scrape whose end already cancelled them is
    /// closed. Connections still being opened are kept: their connect timeout ends them.
    pub(super) fn abandon_late_servers(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let run_id = run.id;
        let mut late_servers = Vec::new();
        for (index, server_run) in run.servers.iter_mut().enumerate() {
            let late = server_run.outstanding > 0;
            if late {
                server_run.outstanding = 0;
                server_run.snapshot.active = false;
                server_run.snapshot.rows.clear();
                late_servers.push(index);
                let name = &server_run.snapshot.name;
                if self.late[index] {
                    tracing::debug!(server = %name, "missed the scrape deadline again");
                } else {
                    tracing::warn!(server = %name, "missed the scrape deadline: its queries are cancelled");
                }
            }
            self.late[index] = late;
        }
        let running: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, link)| late_servers.contains(&link.server) && !link.pending.is_empty())
            .map(|(&conn, _)| conn)
            .collect();
        for conn in running {
            let Some(link) = self.links.get_mut(&conn) else {
                continue;
            };
            let cancelled = link.cancelled_run;
            let unmoved = cancelled.is_some_and(|cancelled| {
                link.pending
                    .values()
                    .any(|pending| pending.run <= cancelled)
            });
            if unmoved {
                tracing::warn!(server = %link.server_name, database = %link.database, "queries still running after a cancel: closing the connection");
                self.links.remove(&conn);
                self.command(conn, LinkCommand::Close);
            } else if let Some(key) = link.pg.cancel_key().filter(|_| link.ready) {
                link.cancelled_run = Some(run_id);
                let server = link.server;
                self.send_cancel(server, key);
            }
        }
    }

    /// Opens a one-shot connection to `server` that carries the CancelRequest of `key`. It
    /// goes without TLS, as PostgreSQL reads a CancelRequest before any negotiation.
    fn send_cancel(&mut self, server: usize, key: CancelKey) {
        let mut packet = BytesMut::new();
        key.cancel_request(&mut packet);
        let conn = ConnId(self.next_conn);
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
        } else if link.database != MAIN_DATABASE {
            tracing::warn!(server = %server, database = %database, "cannot connect: {reason}");
        } else if self.reachability[link.server].failed(now) {
            tracing::warn!(server = %server, database = %database, "cannot connect: {reason}; retrying with backoff");
        } else {
            tracing::debug!(server = %server, database = %database, "still cannot connect: {reason}");
        }
    }

    /// Adds a query's outcome to the totals.
    pub(super) fn count(&mut self, result: &Result<QueryResult, QueryError>) {
        match result {
            Ok(_) => self.counters.executions += 1,
            Err(QueryError::Server(error)) => {
                self.counters.executions += 1;
                self.counters.errors += 1;
                if error.code() == QUERY_CANCELED {
                    self.counters.timeouts += 1;
                }
            }
            Err(_) => self.counters.errors += 1,
        }
    }

    /// Logs a failed query: at debug level when failures are expected.
    pub(super) fn log_failure(
        &self,
        server: usize,
        database: &str,
        purpose: Purpose,
        error: &QueryError,
    ) {
        let server = &self.servers[server].name;
        match purpose {
            Purpose::Probe(Probe::Fips) => {
                tracing::debug!(server = %server, database, "pgcrypto's fips_mode() failed: {error}");
            }
            Purpose::Probe(probe) => {
                tracing::warn!(server = %server, database, "probe {probe:?} failed: {error}");
            }
            Purpose::Metric(planned) => {
                let definition = &self.metrics.definitions()[planned.metric];
                if definition.optional {
                    tracing::debug!(server = %server, database, metric = %definition.tag, "query failed: {error}");
                } else {
                    tracing::warn!(server = %server, database, metric = %definition.tag, "query failed: {error}");
                }
            }
        }
    }
}

/// What a request answered before the end of the scrape shows of `server`: all it collected
/// when it has finished, else only that it is not active.
fn partial_snapshot(server: &ServerRun) -> ServerSnapshot {
    if server.outstanding == 0 {
        server.snapshot.clone()
    } else {
        ServerSnapshot {
            name: server.snapshot.name.clone(),
            ..ServerSnapshot::default()
        }
    }
}
