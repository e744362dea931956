//! The collector: the exporter's connections to PostgreSQL (and to `type = prometheus`
//! servers) and the scrapes run over them.

mod alerts;
mod backoff;
mod capacity;
mod deadline;
mod ending;
mod extensions;
mod facts;
mod queries;
mod retiring;
mod runs;
mod sharing;
mod spread;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::alerts::AlertSet;
use crate::config::ServerType;
use crate::fetch::Fetcher;
use crate::flight::Flights;
use crate::http::client::ClientLimits;
use crate::link::{ConnId, LinkAction, LinkEvent, LinkOwner};
use crate::machine::Machine;
use crate::metrics::{CollectorFilter, MetricSet};
use crate::pg;
use crate::plan::Target;
use crate::secret::Secret;

use super::result::{MetricRows, QueryCounters, ScrapeResult, ServerSnapshot};
use alerts::same_alert_queries;
use backoff::Reachability;
pub use backoff::{FIRST_BACKOFF, MAX_BACKOFF};
pub use deadline::{MAX_SCRAPE_TIMEOUT, MIN_SCRAPE_TIMEOUT, request_deadline};
pub use facts::FACTS_MAX_AGE;
use facts::KnownFacts;
use queries::Link;
use retiring::Retiring;
use runs::ServerRun;
use sharing::Readers;
use spread::MainLoad;

/// SQLSTATE of a statement cancelled by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// `lock_timeout` of every exporter session: a query that waits this long for a lock held by
/// someone else (a catalog table locked by a migration) fails instead of waiting.
pub const LOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// A server to collect from: its name, its kind, its login and where it is. Every connection
/// to it carries its target, so what the runtime opens never depends on the server's position
/// in a list that a reload may change.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The section name: the `server` label.
    pub name: String,
    /// A PostgreSQL server, or an exporter whose `/metrics` is fetched (`type = prometheus`).
    pub kind: ServerType,
    /// The role to log in as.
    pub user: String,
    /// Its password from the users file, when it has one.
    pub password: Option<Secret>,
    /// Where it is and how to reach it.
    pub target: Arc<Target>,
}

/// The connections of `connections` whose machine's deadline (`pg_of` finds it) has passed.
fn expired<T>(
    connections: &HashMap<ConnId, T>,
    now: Instant,
    pg_of: impl Fn(&T) -> &pg::Connection,
) -> Vec<ConnId> {
    connections
        .iter()
        .filter(|(_, connection)| pg_of(connection).poll_timeout().is_some_and(|at| at <= now))
        .map(|(&conn, _)| conn)
        .collect()
}

/// Whether two server lists name the same servers, logins and targets, in the same order.
fn same_servers(old: &[ServerSpec], new: &[ServerSpec]) -> bool {
    old.len() == new.len()
        && old.iter().zip(new).all(|(old, new)| {
            old.name == new.name
                && old.kind == new.kind
                && old.user == new.user
                && old.password == new.password
                && old.target == new.target
        })
}

/// What a reload hands to a running collector ([`Collector::reconfigure`]): the same parts as
/// [`Collector::new`] takes.
#[derive(Debug, Clone)]
pub struct Reconfiguration {
    /// The servers, in configuration order.
    pub servers: Vec<ServerSpec>,
    /// The metric definitions; a different `Arc` counts as a change.
    pub metrics: Arc<MetricSet>,
    /// Which collectors run.
    pub filter: CollectorFilter,
    /// Timeouts and cache.
    pub settings: CollectorSettings,
}

/// A request for a scrape result, numbered by the runtime (one per waiting HTTP request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// Settings of the collector that do not name servers.
#[derive(Debug, Clone)]
pub struct CollectorSettings {
    /// `metrics_query_timeout`: sent as `statement_timeout`; `None` leaves the server's.
    pub query_timeout: Option<Duration>,
    /// Startup, TLS and authentication must finish within this.
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    /// `metrics_cache_max_age`: a result this young answers new requests without a scrape;
    /// zero turns the cache off.
    pub cache_max_age: Duration,
    /// How long a scrape may take when the request does not say
    /// (`X-Prometheus-Scrape-Timeout-Seconds`).
    pub default_scrape_timeout: Duration,
    /// `max_connections_per_server`: the most connections held to one PostgreSQL server (at
    /// least 1; the one-shot connections that carry a CancelRequest aside).
    pub max_connections_per_server: usize,
    /// The alerts evaluated on every scrape; `None` when alerting is off.
    pub alerts: Option<Arc<AlertSet>>,
}

/// A server the running configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no server is named '{0}'")]
pub struct UnknownServer(pub String);

/// What the collector reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scrape ended (every server asked for answered, or the runs of those that did not
    /// reached the last deadline of their requests): answer every ticket with this result.
    Finished {
        /// What the scrape collected.
        result: Arc<ScrapeResult>,
        /// The requests that waited for it.
        tickets: Vec<Ticket>,
    },
    /// The deadline of these tickets passed while the runs of their servers go on for other
    /// requests: answer them with what has arrived, the servers still running reported
    /// inactive. Not a finished scrape: it is neither cached nor reported as
    /// [`Event::Finished`].
    Partial {
        /// What has arrived.
        result: Arc<ScrapeResult>,
        /// The requests whose deadline passed.
        tickets: Vec<Ticket>,
    },
}

/// Keeps connections to the databases that some metric needs, at most
/// `max_connections_per_server` per server, runs scrapes over them and reports each finished
/// scrape once, however many requests wait for it.
///
/// Drive it like every machine of this crate, with several connections: call
/// [`Collector::request`] for each `/metrics` request (or [`Collector::request_server`] for
/// one server's); execute every [`LinkAction`] from [`Collector::poll_action`]; feed back what
/// happens on each connection with the `handle_*` methods; call [`Collector::handle_timeout`]
/// at [`Collector::poll_timeout`]; take [`Event::Finished`] and [`Event::Partial`] from
/// [`Collector::poll_event`].
/// After any call, drain `poll_action` and `poll_event` until both are empty.
///
/// Each server is collected by one run at a time, and every request waiting for that server
/// shares it (single flight): concurrent `/metrics` requests share the scrape in progress, and
/// a request for one server joins the run of that server in progress, whoever started it. Each
/// request keeps its own deadline (from its scrape timeout, held between
/// [`MIN_SCRAPE_TIMEOUT`] and [`MAX_SCRAPE_TIMEOUT`]): a request whose deadline comes first
/// gets what has arrived ([`Event::Partial`]), a server that has not answered reported
/// inactive, while its run goes on for the requests that wait longer; a run ends when its
/// server has answered or at the last deadline of the requests waiting for it. With a cache
/// age set, a finished result also answers the requests that arrive while it is young.
///
/// Servers are scraped in parallel; on each connection all queries of a scrape are pipelined.
/// A server with more databases than its connection cap has them take turns: a connection
/// whose database has nothing left to do is closed and, once the server has closed it too,
/// one to a waiting database opened (see `capacity.rs`); the connections open at the end of a
/// scrape are kept for the next.
/// Probes and metric queries run as named prepared statements, so each connection has the
/// server parse and plan them once, on their first scrape (see `pg::Connection::query_prepared`;
/// a reconnect prepares again). A `type = prometheus` server's run is a fetch of its
/// `/metrics` over a kept-alive HTTP connection.
/// A server that cannot be reached, fails its probes or misses the deadline is reported with
/// `active` 0; the other servers are not affected. At the end of a server's run the queries
/// still running are cancelled (a CancelRequest on a one-shot connection) and their
/// connection is kept; a connection still running queries of a run it was cancelled for at
/// the end of the server's next run (a cancel that did not help) is closed.
/// A connection still being opened is kept and reused (it has its own connect timeout), so
/// logins stuck behind a lock never pile up. After a failed connection to its main database a
/// server is not connected to again before a backoff ([`FIRST_BACKOFF`] doubling up to
/// [`MAX_BACKOFF`]) and is reported inactive meanwhile; the failure is logged as a warning
/// once, then at debug level until the server is reachable again. Every session runs with
/// `lock_timeout` [`LOCK_TIMEOUT`]. A metric with a `ttl` is not queried again while the rows
/// of its last answer are younger than it: those rows are served.
pub struct Collector {
    metrics: Arc<MetricSet>,
    filter: CollectorFilter,
    settings: CollectorSettings,
    servers: Vec<ServerSpec>,
    random_nonce: Box<dyn FnMut() -> [u8; 18] + Send>,
    links: HashMap<ConnId, Link>,
    /// Connections closed to make room, until the server has closed them.
    retiring: HashMap<ConnId, Retiring>,
    next_conn: u64,
    fetcher: Fetcher,
    counters: QueryCounters,
    /// Per server: its run in progress.
    runs: Vec<Option<ServerRun>>,
    /// Numbers the runs: answers to queries of an earlier run are dropped.
    next_run: u64,
    flights: Flights<Ticket, Arc<ServerSnapshot>>,
    /// Per server: its last snapshot and when its run ended.
    last: Vec<Option<(Instant, Arc<ServerSnapshot>)>>,
    cached: Option<Arc<ScrapeResult>>,
    /// Per server: whether its last run reached it.
    active: Vec<bool>,
    /// Per server: recent failures to connect to its main database.
    reachability: Vec<Reachability>,
    /// Per server: its last run ended with its queries still running.
    late: Vec<bool>,
    /// One-shot connections that carry a CancelRequest, with the packet.
    cancels: HashMap<ConnId, Bytes>,
    /// The last rows of each metric with a `ttl`, by server, definition and database.
    kept: HashMap<(usize, usize, String), MetricRows>,
    /// Who reads the results of the metric queries sent in the running scrapes.
    readers: Readers,
    /// Per server: its settings and extensions as last read.
    facts: Vec<KnownFacts>,
    /// Per server: its database count and what its main database's queries cost.
    main_load: Vec<MainLoad>,
    actions: VecDeque<LinkAction>,
    events: VecDeque<Event>,
    transmit: BytesMut,
}

impl Collector {
    /// A collector for `servers`, running the metrics of `metrics` that `filter` allows.
    ///
    /// `random_nonce` supplies 18 random bytes for each new connection's SCRAM nonce; the core
    /// draws no randomness itself.
    pub fn new(
        servers: Vec<ServerSpec>,
        metrics: Arc<MetricSet>,
        filter: CollectorFilter,
        settings: CollectorSettings,
        random_nonce: Box<dyn FnMut() -> [u8; 18] + Send>,
    ) -> Self {
        let count = servers.len();
        Collector {
            metrics,
            filter,
            settings,
            servers,
            random_nonce,
            links: HashMap::new(),
            retiring: HashMap::new(),
            next_conn: 0,
            fetcher: Fetcher::new(LinkOwner::Prometheus, ClientLimits::default()),
            counters: QueryCounters::default(),
            runs: (0..count).map(|_| None).collect(),
            next_run: 0,
            flights: Flights::default(),
            last: vec![None; count],
            cached: None,
            active: vec![false; count],
            reachability: vec![Reachability::default(); count],
            late: vec![false; count],
            cancels: HashMap::new(),
            kept: HashMap::new(),
            readers: Readers::new(),
            facts: vec![KnownFacts::default(); count],
            main_load: vec![MainLoad::default(); count],
            actions: VecDeque::new(),
            events: VecDeque::new(),
            transmit: BytesMut::new(),
        }
    }

    /// The servers, in configuration order.
    pub fn servers(&self) -> &[ServerSpec] {
        &self.servers
    }

    /// Per server, in configuration order: whether its last run reached it (`false` before
    /// the first one).
    pub fn activity(&self) -> &[bool] {
        &self.active
    }

    /// Open PostgreSQL connections, for checking the connection budget: those closed to make
    /// room count until the server has closed them.
    pub fn connection_count(&self) -> usize {
        self.links.len() + self.retiring.len()
    }

    /// Whether a server is being collected.
    pub fn is_scraping(&self) -> bool {
        self.runs.iter().any(Option::is_some)
    }

    /// Query totals since start or since [`Collector::reset_counters`].
    pub fn counters(&self) -> QueryCounters {
        self.counters
    }

    /// Sets the query totals back to zero and forgets the cached results and the rows kept
    /// for their `ttl` (`clear prometheus`).
    pub fn reset_counters(&mut self) {
        self.counters = QueryCounters::default();
        self.cached = None;
        self.last.fill(None);
        self.kept.clear();
        self.facts.fill(KnownFacts::default());
    }

    /// Takes a new configuration (a reload), for the scrapes that start from now on; the
    /// cached results are dropped.
    ///
    /// When the servers, the metric definitions, the query timeout or the connection cap
    /// change, every connection is ended (Terminate, then [`LinkCommand::Close`](crate::link::LinkCommand::Close)) and opened
    /// again as the next scrape needs it: prepared statements and `statement_timeout` belong to a connection. The runs
    /// in progress then end at once, as at their deadline, and every waiting request is
    /// answered with what has arrived. Other changes (collector filter, cache age, timeouts of
    /// new connections) keep the connections.
    pub fn reconfigure(&mut self, now: Instant, new: Reconfiguration) {
        let reconnect = !same_servers(&self.servers, &new.servers)
            || !Arc::ptr_eq(&self.metrics, &new.metrics)
            || self.settings.query_timeout != new.settings.query_timeout
            || self.settings.max_connections_per_server != new.settings.max_connections_per_server
            || !same_alert_queries(
                self.settings.alerts.as_deref(),
                new.settings.alerts.as_deref(),
            );
        if reconnect {
            for server in 0..self.runs.len() {
                self.abandon_run(now, server);
            }
            let landed = self.flights.abandon();
            self.land(now, landed);
            self.end_every_link(now);
            self.fetcher.reset();
            self.follow_fetcher(now);
            let count = new.servers.len();
            self.runs = (0..count).map(|_| None).collect();
            self.active = vec![false; count];
            self.last = vec![None; count];
            self.reachability = vec![Reachability::default(); count];
            self.late = vec![false; count];
            self.kept.clear();
            self.readers.clear();
            self.facts = vec![KnownFacts::default(); count];
            self.main_load = vec![MainLoad::default(); count];
        }
        self.servers = new.servers;
        self.metrics = new.metrics;
        self.filter = new.filter;
        self.settings = new.settings;
        self.cached = None;
        self.last.fill(None);
    }

    /// Asks for a scrape result of every server for `ticket`. Returns the cached result at
    /// once when it is younger than `cache_max_age`; otherwise the ticket is answered by
    /// [`Event::Finished`] when every server has answered, or by [`Event::Partial`] at its
    /// deadline: the request waits `scrape_timeout` (its `X-Prometheus-Scrape-Timeout-Seconds`,
    /// else the default), held between [`MIN_SCRAPE_TIMEOUT`] and [`MAX_SCRAPE_TIMEOUT`].
    pub fn request(
        &mut self,
        now: Instant,
        ticket: Ticket,
        scrape_timeout: Option<Duration>,
    ) -> Option<Arc<ScrapeResult>> {
        if let Some(cached) = &self.cached
            && now.saturating_duration_since(cached.finished) < self.settings.cache_max_age
        {
            return Some(Arc::clone(cached));
        }
        let timeout = scrape_timeout.unwrap_or(self.settings.default_scrape_timeout);
        let parts = (0..self.servers.len()).collect();
        self.wait_for(now, ticket, parts, request_deadline(now, timeout));
        None
    }

    /// Asks for a scrape result of the server named `server` alone, as
    /// [`Collector::request`] does for all: a young enough snapshot of that server answers at
    /// once, else its run in progress (or a new one) does.
    ///
    /// # Errors
    /// [`UnknownServer`] when no server has that name.
    pub fn request_server(
        &mut self,
        now: Instant,
        ticket: Ticket,
        server: &str,
        scrape_timeout: Option<Duration>,
    ) -> Result<Option<Arc<ScrapeResult>>, UnknownServer> {
        let index = self
            .servers
            .iter()
            .position(|spec| spec.name == server)
            .ok_or_else(|| UnknownServer(server.to_owned()))?;
        if let Some((finished, snapshot)) = &self.last[index]
            && now.saturating_duration_since(*finished) < self.settings.cache_max_age
        {
            return Ok(Some(Arc::new(ScrapeResult {
                metrics: Arc::clone(&self.metrics),
                filter: self.filter.clone(),
                servers: vec![Arc::clone(snapshot)],
                queries: self.counters,
                alerts: self.settings.alerts.clone(),
                finished: *finished,
            })));
        }
        let timeout = scrape_timeout.unwrap_or(self.settings.default_scrape_timeout);
        self.wait_for(now, ticket, vec![index], request_deadline(now, timeout));
        Ok(None)
    }

    /// Ends every connection politely (Terminate, then [`LinkCommand::Close`](crate::link::LinkCommand::Close)) and forgets the
    /// requests still waiting; call when the exporter stops.
    pub fn shutdown(&mut self, now: Instant) {
        self.runs.iter_mut().for_each(|run| *run = None);
        self.flights.abandon();
        self.end_every_link(now);
        self.fetcher.reset();
        self.follow_fetcher(now);
    }

    /// Sends Terminate on every connection that can take it and closes them all, the
    /// retiring ones too, without waiting for the server: no connection outlives the server
    /// list it was opened for.
    fn end_every_link(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self
            .links
            .keys()
            .chain(self.retiring.keys())
            .copied()
            .collect();
        for conn in conns {
            self.close_link(now, conn);
        }
    }

    /// Something happened on connection `conn`; events of a connection the collector has
    /// forgotten are ignored.
    pub fn handle_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        if conn.owner() == LinkOwner::Prometheus {
            self.fetcher.handle_link(now, conn, event);
            self.follow_fetcher(now);
            return;
        }
        if self.cancels.contains_key(&conn) {
            self.handle_cancel_link(conn, event);
            return;
        }
        if self.retiring.contains_key(&conn) {
            self.handle_retiring_link(now, conn, event);
            return;
        }
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        match event {
            LinkEvent::Connected => link.connected = true,
            LinkEvent::ConnectFailed(reason) => {
                link.connect_failure = Some(reason);
                link.pg.handle_eof(now);
            }
            LinkEvent::TlsEstablished => link.pg.handle_tls_established(now),
            LinkEvent::Input(bytes) => link.pg.handle_input(now, &bytes),
            LinkEvent::Eof => link.pg.handle_eof(now),
        }
        self.flush(now, conn);
    }

    /// The instant from [`Collector::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for conn in expired(&self.links, now, |link| &link.pg) {
            if let Some(link) = self.links.get_mut(&conn) {
                link.pg.handle_timeout(now);
                self.flush(now, conn);
            }
        }
        self.retiring_timeouts(now);
        self.fetcher.handle_timeout(now);
        self.follow_fetcher(now);
        self.abandon_late_runs(now);
    }

    /// The next action for the runtime.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<LinkAction> {
        self.actions.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Collector::handle_timeout`] must be called: a run's or a request's deadline, a
    /// connection's start-up or terminate deadline or a fetch's, whichever is first.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let links = self
            .links
            .values()
            .filter_map(|link| link.pg.poll_timeout());
        let runs = self.runs.iter().flatten().map(|run| run.deadline);
        links
            .chain(self.retiring_deadline())
            .chain(runs)
            .chain(self.flights.poll_timeout())
            .chain(self.fetcher.poll_timeout())
            .min()
    }
}
