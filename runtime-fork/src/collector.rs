//! The parent's collector: the core's [`Collector`] with its PostgreSQL sockets, driven from
//! the parent's poll loop, and the rendered bodies it publishes for the children.
//!
//! The parent keeps every connection to PostgreSQL, so PostgreSQL sees exactly the
//! connections of the other runtimes: at most one per server and database used, however many
//! children ask for scrapes at once (they share the scrape in flight and the cache).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use nix::unistd::Pid;
use pgexporter_core::exposition::Format;
use pgexporter_core::scrape::{
    Action, Collector, ConnId, Event, LogCounters, ScrapeResult, Ticket,
};
use pgexporter_net::control::LivePlan;
use pgexporter_net::random;
use pgexporter_net::serve::{LogSource, PgEndpoint};

use crate::postgres::{Interest, PgSocket, SocketEvent};
use crate::shared::SharedState;

/// A child waiting for a scrape, and the format it wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiter {
    /// The child.
    pub(crate) child: Pid,
    /// The format its body is wanted in.
    pub(crate) format: Format,
}

/// An answer for a waiting child: whether the body of its format is published.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    /// The child.
    pub(crate) child: Pid,
    /// Whether the body is in the shared state (else the child answers 503).
    pub(crate) published: bool,
}

/// The body last published in one format: rendered from this result with these log counts.
struct Published {
    result: Arc<ScrapeResult>,
    logs: LogCounters,
}

/// The collector, its sockets and the waiting children.
pub(crate) struct CollectorDriver {
    collector: Collector,
    endpoints: Vec<PgEndpoint>,
    sockets: HashMap<ConnId, PgSocket>,
    waiters: HashMap<Ticket, Waiter>,
    next_ticket: u64,
    shared: &'static SharedState,
    logs: LogSource,
    published: [Option<Published>; 2],
    body: BytesMut,
}

impl CollectorDriver {
    /// A collector for `plan`; `logs` gives the log counts the bodies show.
    pub(crate) fn new(plan: &LivePlan, shared: &'static SharedState, logs: LogSource) -> Self {
        let collector = Collector::new(
            plan.servers.clone(),
            Arc::clone(&plan.metrics),
            plan.filter.clone(),
            plan.collector.clone(),
            Box::new(random::bytes),
        );
        shared.set_activity(collector.activity());
        CollectorDriver {
            collector,
            endpoints: plan.endpoints.clone(),
            sockets: HashMap::new(),
            waiters: HashMap::new(),
            next_ticket: 0,
            shared,
            logs,
            published: [None, None],
            body: BytesMut::new(),
        }
    }

    /// Whether the last finished scrape reached each server.
    pub(crate) fn activity(&self) -> Vec<bool> {
        self.collector.activity().to_vec()
    }

    /// When [`CollectorDriver::handle_timeout`] is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.collector.poll_timeout()
    }

    /// The sockets to poll, with what each waits for.
    pub(crate) fn poll_interests(&self) -> Vec<(ConnId, std::os::fd::BorrowedFd<'_>, Interest)> {
        self.sockets
            .iter()
            .filter_map(|(conn, socket)| Some((*conn, socket.fd()?, socket.interest())))
            .collect()
    }

    /// A child asks for a scrape result in `format`; the answers that are ready now.
    pub(crate) fn request(
        &mut self,
        now: Instant,
        waiter: Waiter,
        timeout: Option<std::time::Duration>,
    ) -> Vec<Answer> {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        match self.collector.request(now, ticket, timeout) {
            Some(result) => {
                let published = self.publish(&result, waiter.format);
                let mut answers = self.execute(now);
                answers.push(Answer {
                    child: waiter.child,
                    published,
                });
                answers
            }
            None => {
                self.waiters.insert(ticket, waiter);
                self.execute(now)
            }
        }
    }

    /// Readiness of socket `conn` from `poll`.
    pub(crate) fn on_ready(
        &mut self,
        now: Instant,
        conn: ConnId,
        readable: bool,
        writable: bool,
    ) -> Vec<Answer> {
        let events = match self.sockets.get_mut(&conn) {
            Some(socket) => socket.on_ready(readable, writable),
            None => return Vec::new(),
        };
        self.feed(now, conn, events);
        self.execute(now)
    }

    /// The collector's timer.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<Answer> {
        self.collector.handle_timeout(now);
        self.execute(now)
    }

    /// A reload changed the servers, definitions or settings.
    pub(crate) fn reconfigure(&mut self, now: Instant, plan: &LivePlan) -> Vec<Answer> {
        self.collector.reconfigure(now, plan.reconfiguration());
        self.endpoints = plan.endpoints.clone();
        self.execute(now)
    }

    /// `clear prometheus`: resets the query counters and forgets the bodies.
    pub(crate) fn clear(&mut self) {
        self.collector.reset_counters();
        self.published = [None, None];
        self.shared.clear_bodies();
    }

    /// Stops: terminates every PostgreSQL connection.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        self.collector.shutdown(now);
        self.execute(now);
        for (_, socket) in self.sockets.drain() {
            socket.close();
        }
    }

    /// In a child: closes the inherited sockets without a word to PostgreSQL (the parent
    /// keeps them).
    pub(crate) fn release_in_child(&mut self) {
        self.sockets.clear();
        self.waiters.clear();
    }

    fn feed(&mut self, now: Instant, conn: ConnId, events: Vec<SocketEvent>) {
        for event in events {
            match event {
                SocketEvent::Connected => self.collector.handle_connected(now, conn),
                SocketEvent::ConnectFailed(reason) => {
                    self.sockets.remove(&conn);
                    self.collector.handle_connect_failed(now, conn, &reason);
                }
                SocketEvent::TlsEstablished => self.collector.handle_tls_established(now, conn),
                SocketEvent::Input(bytes) => self.collector.handle_input(now, conn, &bytes),
                SocketEvent::Eof => {
                    self.sockets.remove(&conn);
                    self.collector.handle_eof(now, conn);
                    return;
                }
            }
        }
    }

    /// Carries out the collector's actions and answers the finished tickets.
    fn execute(&mut self, now: Instant) -> Vec<Answer> {
        let mut answers = Vec::new();
        loop {
            while let Some(action) = self.collector.poll_action() {
                self.act(now, action);
            }
            let Some(Event::Finished { result, tickets }) = self.collector.poll_event() else {
                break;
            };
            for ticket in tickets {
                if let Some(waiter) = self.waiters.remove(&ticket) {
                    let published = self.publish(&result, waiter.format);
                    answers.push(Answer {
                        child: waiter.child,
                        published,
                    });
                }
            }
        }
        self.shared.set_activity(self.collector.activity());
        answers
    }

    fn act(&mut self, now: Instant, action: Action) {
        match action {
            Action::Connect { conn, server } => {
                let Some(endpoint) = self.endpoints.get(server).cloned() else {
                    self.collector.handle_connect_failed(
                        now,
                        conn,
                        "the server is no longer configured",
                    );
                    return;
                };
                let (socket, events) = PgSocket::connect(endpoint);
                self.sockets.insert(conn, socket);
                self.feed(now, conn, events);
            }
            Action::StartTls { conn, .. } => {
                if let Some(socket) = self.sockets.get_mut(&conn) {
                    let events = socket.start_tls();
                    self.feed(now, conn, events);
                }
            }
            Action::Send { conn, bytes } => {
                if let Some(socket) = self.sockets.get_mut(&conn) {
                    let events = socket.send(&bytes);
                    self.feed(now, conn, events);
                }
            }
            Action::Close { conn } => {
                if let Some(socket) = self.sockets.remove(&conn) {
                    socket.close();
                }
            }
        }
    }

    /// Makes sure the body of `result` in `format`, with the log counts of now, is the one in
    /// the shared state; `false` when it cannot be published.
    fn publish(&mut self, result: &Arc<ScrapeResult>, format: Format) -> bool {
        let logs = (self.logs)();
        let index = usize::from(format == Format::OpenMetrics);
        let current = self.published[index].as_ref().is_some_and(|published| {
            Arc::ptr_eq(&published.result, result) && published.logs == logs
        });
        if current {
            return true;
        }
        self.body.clear();
        result.render(format, &logs, &mut self.body);
        match self.shared.publish_body(format, &self.body) {
            Ok(()) => {
                self.published[index] = Some(Published {
                    result: Arc::clone(result),
                    logs,
                });
                true
            }
            Err(error) => {
                tracing::error!("{error}");
                self.published[index] = None;
                false
            }
        }
    }
}
