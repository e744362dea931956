//! Fetching other exporters' `/metrics` over HTTP: one kept-alive connection per endpoint, one
//! fetch at a time per endpoint, each within its deadline, the body parsed.
//!
//! A [`Fetcher`] belongs to one owner of outbound connections (the collector, for
//! `type = prometheus` servers; the bridge, for its endpoints) and is driven like the
//! collector: [`Fetcher::fetch`] starts a fetch, every [`LinkAction`] of
//! [`Fetcher::poll_action`] goes to the runtime, what happens on the connections comes back
//! through [`Fetcher::handle_link`], the deadlines through [`Fetcher::handle_timeout`], and
//! each finished fetch is a [`FetchEvent`]. An endpoint that cannot be reached, is slow,
//! answers other than 200, or sends a body that is too large or does not parse, fails its own
//! fetch and nothing else.

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::exposition::parse::{self, Exposition, ParseError, SourceFormat};
use crate::exposition::{Encoder, MetricType};
use crate::http::client::{ClientError, ClientEvent, ClientLimits, Get, HttpClient};
use crate::link::{ConnId, LinkAction, LinkCommand, LinkEvent, LinkOwner};
use crate::machine::Machine;
use crate::plan::Target;

/// What the fetcher asks for: the text format first, OpenMetrics when that is all an exporter
/// speaks. The text format keeps counter names as the exporter wrote them.
const ACCEPT: &str =
    "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";

/// The path fetched on every endpoint.
const METRICS_PATH: &str = "/metrics";

/// An exporter to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` as configured: the `Host` header, and how the endpoint is named in labels
    /// and logs.
    pub name: String,
    /// Where to connect.
    pub target: Arc<Target>,
}

impl Endpoint {
    /// The endpoint `http://host:port/metrics` (an IPv6 address in brackets or not).
    pub fn new(host: &str, port: u16) -> Endpoint {
        let target = Target::plain_tcp(host, port);
        Endpoint {
            name: target.address.to_string(),
            target: Arc::new(target),
        }
    }
}

/// Why a fetch brought nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The exchange failed (the deadline included).
    #[error(transparent)]
    Http(#[from] ClientError),
    /// The endpoint answered another status than 200.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The body is not a valid exposition.
    #[error("unreadable body: {0}")]
    Parse(#[from] ParseError),
}

/// A finished fetch.
#[derive(Debug)]
pub struct Fetched {
    /// The parsed body, or why there is none.
    pub outcome: Result<Exposition, FetchError>,
    /// From the start of the fetch to its end.
    pub duration: Duration,
    /// When it ended.
    pub finished: Instant,
}

impl Fetched {
    /// Whether the endpoint answered with a readable body.
    pub fn is_up(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The parsed body, when the endpoint answered with one.
    pub fn exposition(&self) -> Option<&Exposition> {
        self.outcome.as_ref().ok()
    }
}

/// The two families that say how each fetch went: `up` (1 when the source answered with a
/// readable body, else 0) and the fetch's duration in seconds; names and HELP texts.
#[derive(Debug, Clone, Copy)]
pub struct HealthFamilies {
    /// The `up` family: name and HELP.
    pub up: (&'static str, &'static str),
    /// The duration family: name and HELP.
    pub duration: (&'static str, &'static str),
}

impl HealthFamilies {
    /// Writes both families with one sample per source, labelled `label` with the source's
    /// name; a source whose fetch did not end has `up` 0 and no duration.
    pub fn write(
        &self,
        encoder: &Encoder,
        out: &mut BytesMut,
        label: &str,
        fetches: &[(&str, Option<&Fetched>)],
    ) {
        let (name, help) = self.up;
        let mut up = encoder.family(out, name, help, MetricType::Gauge);
        for &(source, fetched) in fetches {
            let answered = fetched.is_some_and(Fetched::is_up);
            up.sample(&[(label, source)], f64::from(u8::from(answered)));
        }
        let (name, help) = self.duration;
        let mut duration = encoder.family(out, name, help, MetricType::Gauge);
        for &(source, fetched) in fetches {
            if let Some(fetched) = fetched {
                duration.sample(&[(label, source)], fetched.duration.as_secs_f64());
            }
        }
    }
}

/// What the fetcher reports.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// The fetch of `key` ended.
    Done {
        /// The key given to [`Fetcher::fetch`].
        key: usize,
        /// What it brought.
        fetched: Arc<Fetched>,
    },
}

/// One connection and its HTTP exchange.
struct FetchLink {
    key: usize,
    client: HttpClient,
    /// The runtime reported the socket open; until then nothing is transmitted.
    connected: bool,
    /// Opened for an earlier fetch and kept alive.
    reused: bool,
}

/// The fetch of one key in progress.
struct Running {
    endpoint: Endpoint,
    conn: ConnId,
    started: Instant,
    deadline: Instant,
    /// Already repeated once on a new connection (the kept-alive one had been closed).
    retried: bool,
}

/// HTTP fetches of one owner; see the module documentation.
pub struct Fetcher {
    owner: LinkOwner,
    limits: ClientLimits,
    next_conn: u64,
    links: HashMap<ConnId, FetchLink>,
    idle: HashMap<usize, ConnId>,
    running: HashMap<usize, Running>,
    actions: VecDeque<LinkAction>,
    events: VecDeque<FetchEvent>,
    transmit: BytesMut,
}

impl Fetcher {
    /// A fetcher whose connections belong to `owner`, reading responses within `limits`.
    pub fn new(owner: LinkOwner, limits: ClientLimits) -> Fetcher {
        Fetcher {
            owner,
            limits,
            next_conn: 0,
            links: HashMap::new(),
            idle: HashMap::new(),
            running: HashMap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            transmit: BytesMut::new(),
        }
    }

    /// Whether a fetch of `key` is in progress.
    pub fn is_fetching(&self, key: usize) -> bool {
        self.running.contains_key(&key)
    }

    /// Fetches `endpoint` as `key`, to end by `deadline`. A fetch of `key` in progress goes on,
    /// until the later of the two deadlines.
    pub fn fetch(&mut self, now: Instant, key: usize, endpoint: &Endpoint, deadline: Instant) {
        if let Some(running) = self.running.get_mut(&key) {
            if deadline > running.deadline {
                running.deadline = deadline;
            }
            return;
        }
        let (conn, reused) = match self.idle.remove(&key) {
            Some(conn) if self.links.contains_key(&conn) => (conn, true),
            _ => (self.open(key, &endpoint.target), false),
        };
        self.running.insert(
            key,
            Running {
                endpoint: endpoint.clone(),
                conn,
                started: now,
                deadline,
                retried: false,
            },
        );
        self.send_request(now, key, conn, reused);
    }

    /// Ends every connection and forgets the fetches in progress (no event for them).
    pub fn reset(&mut self) {
        self.running.clear();
        self.idle.clear();
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        for conn in conns {
            self.close(conn);
        }
    }

    /// Something happened on connection `conn`; events of a forgotten connection are ignored.
    pub fn handle_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        match event {
            LinkEvent::Connected => link.connected = true,
            LinkEvent::ConnectFailed(reason) => {
                let key = link.key;
                self.close(conn);
                self.end(now, key, Err(FetchError::Connect(reason)));
                return;
            }
            // Endpoints are plain HTTP: nothing asks for TLS.
            LinkEvent::TlsEstablished => {}
            LinkEvent::Input(bytes) => link.client.handle_input(now, &bytes),
            LinkEvent::Eof => link.client.handle_eof(now),
        }
        self.flush(now, conn);
    }

    /// The instant from [`Fetcher::poll_timeout`] has passed: fetches past their deadline
    /// fail, and their connections are closed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let late: Vec<(usize, ConnId)> = self
            .running
            .iter()
            .filter(|(_, running)| running.deadline <= now)
            .map(|(&key, running)| (key, running.conn))
            .collect();
        for (key, conn) in late {
            self.close(conn);
            self.end(now, key, Err(FetchError::Http(ClientError::Timeout)));
        }
    }

    /// The earliest deadline of the fetches in progress.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running.values().map(|running| running.deadline).min()
    }

    /// The next action for the runtime.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<LinkAction> {
        self.actions.pop_front()
    }

    /// The next finished fetch.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FetchEvent> {
        self.events.pop_front()
    }

    fn open(&mut self, key: usize, target: &Arc<Target>) -> ConnId {
        let conn = ConnId::new(self.owner, self.next_conn);
        self.next_conn += 1;
        self.links.insert(
            conn,
            FetchLink {
                key,
                client: HttpClient::new(self.limits),
                connected: false,
                reused: false,
            },
        );
        self.actions.push_back(LinkAction::Connect {
            conn,
            target: Arc::clone(target),
        });
        conn
    }

    fn send_request(&mut self, now: Instant, key: usize, conn: ConnId, reused: bool) {
        let (Some(running), Some(link)) = (self.running.get(&key), self.links.get_mut(&conn))
        else {
            return;
        };
        link.reused = reused;
        let get = Get {
            host: &running.endpoint.name,
            path: METRICS_PATH,
            accept: ACCEPT,
        };
        // The client is idle: a new connection, or a kept-alive one taken from `idle`.
        if link.client.get(now, &get, running.deadline).is_err() {
            self.close(conn);
            let error = FetchError::Http(ClientError::Closed { received: false });
            self.end(now, key, Err(error));
            return;
        }
        self.flush(now, conn);
    }

    /// Moves what `conn`'s client produced into actions, and handles its events.
    fn flush(&mut self, now: Instant, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if link.connected && link.client.poll_transmit(&mut self.transmit) {
            let bytes = self.transmit.split().freeze();
            self.actions.push_back(LinkAction::Command {
                conn,
                command: LinkCommand::Send(bytes),
            });
        }
        let key = link.key;
        let reused = link.reused;
        let events: Vec<ClientEvent> = std::iter::from_fn(|| link.client.poll_event()).collect();
        let finished = link.client.is_finished();
        if finished {
            self.close(conn);
        }
        for event in events {
            match event {
                ClientEvent::Response(response) => {
                    if !finished {
                        self.idle.insert(key, conn);
                    }
                    let outcome = if response.status == 200 {
                        let format =
                            SourceFormat::of_content_type(response.content_type.as_deref());
                        parse::parse(response.body, format).map_err(FetchError::Parse)
                    } else {
                        Err(FetchError::Status(response.status))
                    };
                    self.end(now, key, outcome);
                }
                ClientEvent::Failed(ClientError::Closed { received: false }) if reused => {
                    self.retry(now, key);
                }
                ClientEvent::Failed(error) => self.end(now, key, Err(FetchError::Http(error))),
            }
        }
    }

    /// A kept-alive connection turned out closed before any answer: the request goes again,
    /// once, on a new connection.
    fn retry(&mut self, now: Instant, key: usize) {
        let Some(running) = self.running.get_mut(&key) else {
            return;
        };
        if running.retried {
            let error = FetchError::Http(ClientError::Closed { received: false });
            self.end(now, key, Err(error));
            return;
        }
        running.retried = true;
        let target = Arc::clone(&running.endpoint.target);
        let conn = self.open(key, &target);
        if let Some(running) = self.running.get_mut(&key) {
            running.conn = conn;
        }
        self.send_request(now, key, conn, false);
    }

    /// Reports the fetch of `key` done with `outcome`.
    fn end(&mut self, now: Instant, key: usize, outcome: Result<Exposition, FetchError>) {
        let Some(running) = self.running.remove(&key) else {
            return;
        };
        if let Err(error) = &outcome {
            tracing::warn!(endpoint = %running.endpoint.name, "fetch failed: {error}");
        }
        let fetched = Fetched {
            outcome,
            duration: now.saturating_duration_since(running.started),
            finished: now,
        };
        self.events.push_back(FetchEvent::Done {
            key,
            fetched: Arc::new(fetched),
        });
    }

    /// Closes `conn` and forgets it.
    fn close(&mut self, conn: ConnId) {
        if self.links.remove(&conn).is_some() {
            self.idle.retain(|_, idle| *idle != conn);
            self.actions.push_back(LinkAction::Command {
                conn,
                command: LinkCommand::Close,
            });
        }
    }
}
