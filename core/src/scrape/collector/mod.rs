//! The collector: the exporter's connections to PostgreSQL and the scrapes run over them.

mod backoff;
mod deadline;
mod ending;
mod extensions;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::link::{ConnId, LinkAction, LinkCommand, LinkEvent};
use crate::machine::Machine;
use crate::metrics::{CollectorFilter, MetricSet, SETTINGS_COLLECTOR};
use crate::pg::{self, ConnectParams, QueryError, QueryId, QueryResult};
use crate::plan::PgTarget;
use crate::secret::Secret;

use super::discovery::{self, Probe};
use super::plan::{MAIN_DATABASE, PlannedQuery, ServerProfile, needs_database_list, plan_queries};
use super::result::{MetricRows, QueryCounters, ScrapeResult, ServerSnapshot};
use backoff::Reachability;
pub use backoff::{FIRST_BACKOFF, MAX_BACKOFF};
pub use deadline::{MAX_SCRAPE_TIMEOUT, MIN_SCRAPE_TIMEOUT};
use deadline::{Waiter, request_deadline};
use extensions::{ExtensionDiscovery, Found};

/// SQLSTATE of a statement cancelled by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// `lock_timeout` of every exporter session: a query that waits this long for a lock held by
/// someone else (a catalog table locked by a migration) fails instead of waiting.
pub const LOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// A PostgreSQL server to collect from: its name, its login and where it is. Every
/// connection to it carries its target, so what the runtime opens never depends on the
/// server's position in a list that a reload may change.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The section name: the `server` label.
    pub name: String,
    /// The role to log in as.
    pub user: String,
    /// Its password from the users file, when it has one.
    pub password: Option<Secret>,
    /// Where it is and how to reach it.
    pub target: Arc<PgTarget>,
}

/// Whether two server lists name the same servers, logins and targets, in the same order.
fn same_servers(old: &[ServerSpec], new: &[ServerSpec]) -> bool {
    old.len() == new.len()
        && old.iter().zip(new).all(|(old, new)| {
            old.name == new.name
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
}

/// What the collector reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scrape ended (every server answered, or the last deadline of its requests passed):
    /// answer every ticket with this result.
    Finished {
        /// What the scrape collected.
        result: Arc<ScrapeResult>,
        /// The requests that waited for it.
        tickets: Vec<Ticket>,
    },
    /// The deadline of these tickets passed while the scrape goes on: answer them with what
    /// has arrived, the servers still running reported inactive. Not a finished scrape: it is
    /// neither cached nor reported as [`Event::Finished`].
    Partial {
        /// What has arrived.
        result: Arc<ScrapeResult>,
        /// The requests whose deadline passed.
        tickets: Vec<Ticket>,
    },
}

/// Why a query was sent.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Probe(Probe),
    Metric(PlannedQuery),
}

impl Purpose {
    /// The name of the query's prepared statement: one per probe and per (metric, variant), so
    /// unique on a connection and always standing for the same SQL.
    fn statement_name(self) -> String {
        match self {
            Purpose::Probe(probe) => format!("probe {probe:?}"),
            Purpose::Metric(planned) => format!("metric {} {}", planned.metric, planned.variant),
        }
    }
}

/// A query sent and not answered yet: the scrape it was sent for, and why.
#[derive(Debug, Clone, Copy)]
struct Pending {
    run: u64,
    purpose: Purpose,
}

/// One connection to one database of one server.
struct Link {
    server: usize,
    server_name: String,
    database: String,
    pg: pg::Connection,
    /// The runtime reported the socket open; until then nothing is transmitted.
    connected: bool,
    /// The session reached its first ReadyForQuery.
    ready: bool,
    /// Why the runtime could not open the socket, when it could not.
    connect_failure: Option<String>,
    /// The last scrape at whose end a CancelRequest went out for its running queries.
    cancelled_run: Option<u64>,
    pending: HashMap<QueryId, Pending>,
}

/// One server's part of the scrape in progress.
struct ServerRun {
    snapshot: ServerSnapshot,
    /// Queries sent for this scrape and not yet answered.
    outstanding: usize,
    /// The extensions found in its databases so far.
    extensions: ExtensionDiscovery,
}

/// The scrape in progress.
struct Run {
    /// Numbers the scrapes: answers to queries of an earlier one are dropped.
    id: u64,
    /// The latest deadline of the requests that joined it: the scrape ends then at the latest.
    deadline: Instant,
    /// The requests not answered yet.
    waiters: Vec<Waiter>,
    servers: Vec<ServerRun>,
}

/// Keeps one connection per (server, database) that some metric needs, runs scrapes over them
/// and reports each finished scrape once, however many requests wait for it.
///
/// Drive it like every machine of this crate, with several connections: call
/// [`Collector::request`] for each `/metrics` request; execute every [`LinkAction`] from
/// [`Collector::poll_action`]; feed back what happens on each connection with the `handle_*`
/// methods; call [`Collector::handle_timeout`] at [`Collector::poll_timeout`]; take
/// [`Event::Finished`] from [`Collector::poll_event`]. After any call, drain `poll_action` and
/// `poll_event` until both are empty.
///
/// Concurrent requests share the scrape in progress (single flight), and each is answered by
/// its own deadline (from its scrape timeout, held between [`MIN_SCRAPE_TIMEOUT`] and
/// [`MAX_SCRAPE_TIMEOUT`]): a request whose deadline comes first gets what has arrived, the
/// servers still running reported inactive. The scrape goes on until every server answered or
/// the last deadline of its requests. With a cache age set, a finished result also answers the
/// requests that arrive while it is young.
///
/// Servers are scraped in parallel; on each connection all queries of a scrape are pipelined.
/// Probes and metric queries run as named prepared statements, so each connection has the
/// server parse and plan them once, on their first scrape (see `pg::Connection::query_prepared`;
/// a reconnect prepares again).
/// A server that cannot be reached, fails its probes or misses the deadline is reported with
/// `active` 0; the other servers are not affected. At the end of a scrape the queries still
/// running are cancelled (a CancelRequest on a one-shot connection) and their connection is
/// kept; a connection still running queries of a scrape it was cancelled for at the next
/// scrape's end (a cancel that did not help) is closed.
/// A connection still being opened is kept and reused (it has its own connect timeout), so
/// logins stuck behind a lock never pile up. After a failed connection to its main database a
/// server is not connected to again before a backoff ([`FIRST_BACKOFF`] doubling up to
/// [`MAX_BACKOFF`]) and is reported inactive meanwhile; the failure is logged as a warning
/// once, then at debug level until the server is reachable again. Every session runs with
/// `lock_timeout` [`LOCK_TIMEOUT`].
pub struct Collector {
    metrics: Arc<MetricSet>,
    filter: CollectorFilter,
    settings: CollectorSettings,
    servers: Vec<ServerSpec>,
    random_nonce: Box<dyn FnMut() -> [u8; 18] + Send>,
    links: HashMap<ConnId, Link>,
    next_conn: u64,
    counters: QueryCounters,
    run: Option<Run>,
    next_run: u64,
    cached: Option<Arc<ScrapeResult>>,
    /// Per server: whether the last finished scrape reached it.
    active: Vec<bool>,
    /// Per server: recent failures to connect to its main database.
    reachability: Vec<Reachability>,
    /// Per server: the last scrape ended with its queries still running.
    late: Vec<bool>,
    /// One-shot connections that carry a CancelRequest, with the packet.
    cancels: HashMap<ConnId, Bytes>,
    /// The last rows of each metric with a `ttl`, by server, definition and database.
    kept: HashMap<(usize, usize, String), MetricRows>,
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
        Collector {
            metrics,
            filter,
            settings,
            active: vec![false; servers.len()],
            reachability: vec![Reachability::default(); servers.len()],
            late: vec![false; servers.len()],
            cancels: HashMap::new(),
            kept: HashMap::new(),
            servers,
            random_nonce,
            links: HashMap::new(),
            next_conn: 0,
            counters: QueryCounters::default(),
            run: None,
            next_run: 0,
            cached: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            transmit: BytesMut::new(),
        }
    }

    /// The servers, in configuration order; [`LinkAction::Connect`] names them by index.
    pub fn servers(&self) -> &[ServerSpec] {
        &self.servers
    }

    /// Per server, in configuration order: whether the last finished scrape reached it
    /// (`false` before the first one).
    pub fn activity(&self) -> &[bool] {
        &self.active
    }

    /// Open connections, for checking the connection budget.
    pub fn connection_count(&self) -> usize {
        self.links.len()
    }

    /// Whether a scrape is in progress.
    pub fn is_scraping(&self) -> bool {
        self.run.is_some()
    }

    /// Query totals since start or since [`Collector::reset_counters`].
    pub fn counters(&self) -> QueryCounters {
        self.counters
    }

    /// Sets the query totals back to zero and forgets the cached result and the rows kept
    /// for their `ttl` (`clear prometheus`).
    pub fn reset_counters(&mut self) {
        self.counters = QueryCounters::default();
        self.cached = None;
        self.kept.clear();
    }

    /// Takes a new configuration (a reload), for the scrapes that start from now on; the
    /// cached result is dropped.
    ///
    /// When the servers, the metric definitions or the query timeout change, every connection
    /// is ended (Terminate, then [`LinkCommand::Close`]) and opened again as the next scrape
    /// needs it: prepared statements and `statement_timeout` belong to a connection. A scrape in progress then ends
    /// at once, as at its deadline, with what has arrived. Other changes (collector filter,
    /// cache age, timeouts of new connections) keep the connections.
    pub fn reconfigure(&mut self, now: Instant, new: Reconfiguration) {
        let reconnect = !same_servers(&self.servers, &new.servers)
            || !Arc::ptr_eq(&self.metrics, &new.metrics)
            || self.settings.query_timeout != new.settings.query_timeout;
        if reconnect {
            if self.run.is_some() {
                self.abandon_late_servers();
                self.finish_if_done(now);
            }
            self.end_every_link(now);
            self.active = vec![false; new.servers.len()];
            self.reachability = vec![Reachability::default(); new.servers.len()];
            self.late = vec![false; new.servers.len()];
            self.kept.clear();
        }
        self.servers = new.servers;
        self.metrics = new.metrics;
        self.filter = new.filter;
        self.settings = new.settings;
        self.cached = None;
    }

    /// Asks for a scrape result for `ticket`. Returns the cached result at once when it is
    /// younger than `cache_max_age`; otherwise the ticket is answered by [`Event::Finished`] of
    /// the scrape in progress, or of one started now, within `scrape_timeout` (the request's
    /// `X-Prometheus-Scrape-Timeout-Seconds`, else the default; held between
    /// [`MIN_SCRAPE_TIMEOUT`] and [`MAX_SCRAPE_TIMEOUT`]).
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
        let waiter = Waiter {
            ticket,
            deadline: request_deadline(now, timeout),
        };
        match self.run.as_mut() {
            Some(run) => {
                run.deadline = run.deadline.max(waiter.deadline);
                run.waiters.push(waiter);
            }
            None => self.start_scrape(now, waiter),
        }
        None
    }

    /// Starts a scrape for `waiter`; none may be running. A server in its reconnect backoff
    /// without a connection is left out (inactive).
    fn start_scrape(&mut self, now: Instant, waiter: Waiter) {
        let list_databases = needs_database_list(&self.metrics, &self.filter);
        let servers = self
            .servers
            .iter()
            .map(|spec| ServerRun {
                snapshot: ServerSnapshot {
                    name: spec.name.clone(),
                    ..ServerSnapshot::default()
                },
                outstanding: 0,
                extensions: ExtensionDiscovery::new(list_databases),
            })
            .collect();
        self.next_run += 1;
        self.run = Some(Run {
            id: self.next_run,
            deadline: waiter.deadline,
            waiters: vec![waiter],
            servers,
        });
        for server in 0..self.servers.len() {
            if self.find_link(server, MAIN_DATABASE).is_none()
                && !self.reachability[server].may_connect(now)
            {
                continue;
            }
            let conn = self.link_for(now, server, MAIN_DATABASE);
            let mut probes = vec![Probe::Role, Probe::Extensions];
            if self.filter.allows(SETTINGS_COLLECTOR) {
                probes.push(Probe::Settings);
            }
            if list_databases {
                probes.push(Probe::Databases);
            }
            for probe in probes {
                self.send_query(conn, probe.sql(), Purpose::Probe(probe));
            }
            self.flush(now, conn);
        }
        self.finish_if_done(now);
    }

    /// Ends every connection politely (Terminate, then [`LinkCommand::Close`]) and forgets the
    /// requests still waiting; call when the exporter stops.
    pub fn shutdown(&mut self, now: Instant) {
        self.run = None;
        self.end_every_link(now);
    }

    /// Sends Terminate on every connection that can take it and closes them all: no
    /// connection outlives the server list it was opened for.
    fn end_every_link(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        for conn in conns {
            if let Some(link) = self.links.get_mut(&conn) {
                link.pg.terminate();
                self.flush(now, conn);
            }
            if self.links.remove(&conn).is_some() {
                self.command(conn, LinkCommand::Close);
            }
        }
    }

    /// Something happened on connection `conn`; events of a connection the collector has
    /// forgotten are ignored.
    pub fn handle_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        if self.cancels.contains_key(&conn) {
            self.handle_cancel_link(conn, event);
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
        let expired: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, link)| link.pg.poll_timeout().is_some_and(|at| at <= now))
            .map(|(&conn, _)| conn)
            .collect();
        for conn in expired {
            if let Some(link) = self.links.get_mut(&conn) {
                link.pg.handle_timeout(now);
                self.flush(now, conn);
            }
        }
        if self.run.as_ref().is_some_and(|run| run.deadline <= now) {
            self.abandon_late_servers();
            self.finish_if_done(now);
        } else {
            self.answer_expired_waiters(now);
        }
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

    /// When [`Collector::handle_timeout`] must be called: the first deadline of a waiting
    /// request or a connection's start-up deadline, whichever is first.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let links = self
            .links
            .values()
            .filter_map(|link| link.pg.poll_timeout());
        let waiters = self
            .run
            .iter()
            .flat_map(|run| run.waiters.iter().map(|waiter| waiter.deadline));
        links.chain(waiters).min()
    }

    /// The connection to `database` of `server`, if there is one (ready or still opening).
    fn find_link(&self, server: usize, database: &str) -> Option<ConnId> {
        self.links
            .iter()
            .find(|(_, link)| link.server == server && link.database == database)
            .map(|(&conn, _)| conn)
    }

    /// The connection to `database` of `server`, opened (an [`LinkAction::Connect`]) if there is none.
    fn link_for(&mut self, now: Instant, server: usize, database: &str) -> ConnId {
        if let Some(conn) = self.find_link(server, database) {
            return conn;
        }
        let spec = &self.servers[server];
        let mut options = vec![(
            "lock_timeout".to_owned(),
            LOCK_TIMEOUT.as_millis().to_string(),
        )];
        if let Some(timeout) = self.settings.query_timeout {
            options.push((
                "statement_timeout".to_owned(),
                timeout.as_millis().to_string(),
            ));
        }
        let params = ConnectParams {
            user: spec.user.clone(),
            database: database.to_owned(),
            password: spec.password.clone(),
            application_name: self.settings.application_name.clone(),
            tls: spec.target.tls,
            options,
            connect_timeout: self.settings.connect_timeout,
        };
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let nonce = (self.random_nonce)();
        self.links.insert(
            conn,
            Link {
                server,
                server_name: spec.name.clone(),
                database: database.to_owned(),
                pg: pg::Connection::new(params, now, nonce),
                connected: false,
                ready: false,
                connect_failure: None,
                cancelled_run: None,
                pending: HashMap::new(),
            },
        );
        let target = Arc::clone(&spec.target);
        self.actions.push_back(LinkAction::Connect { conn, target });
        conn
    }

    /// Queues `sql` on `conn` for the running scrape, as the prepared statement of `purpose`.
    fn send_query(&mut self, conn: ConnId, sql: &str, purpose: Purpose) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let id = link.pg.query_prepared(&purpose.statement_name(), sql);
        link.pending.insert(
            id,
            Pending {
                run: run.id,
                purpose,
            },
        );
        run.servers[link.server].outstanding += 1;
    }

    /// Queues `command` for connection `conn`.
    fn command(&mut self, conn: ConnId, command: LinkCommand) {
        self.actions
            .push_back(LinkAction::Command { conn, command });
    }

    /// Moves what `conn`'s machine produced into actions, and handles its events.
    fn flush(&mut self, now: Instant, conn: ConnId) {
        loop {
            let Some(link) = self.links.get_mut(&conn) else {
                return;
            };
            if link.connected && link.pg.poll_transmit(&mut self.transmit) {
                let bytes = self.transmit.split().freeze();
                self.command(conn, LinkCommand::Send(bytes));
                continue;
            }
            if link.pg.poll_tls_start() {
                self.command(conn, LinkCommand::StartTls);
                continue;
            }
            let Some(event) = link.pg.poll_event() else {
                return;
            };
            match event {
                pg::Event::Ready => {
                    link.ready = true;
                    if link.database == MAIN_DATABASE && self.reachability[link.server].connected()
                    {
                        tracing::info!(server = %link.server_name, "reachable again");
                    }
                }
                pg::Event::Notice(notice) => {
                    tracing::debug!(conn = %conn, "notice: {}", notice.message());
                }
                pg::Event::QueryDone { id, result } => {
                    let pending = link.pending.remove(&id);
                    let (server, database) = (link.server, link.database.clone());
                    let current = self.run.as_ref().map(|run| run.id);
                    match pending {
                        Some(pending) if Some(pending.run) == current => {
                            self.query_done(now, conn, server, &database, pending.purpose, result);
                        }
                        // The answer to a query of an earlier scrape (cancelled at its end).
                        Some(_) => self.count(&result),
                        None => {}
                    }
                }
                pg::Event::Closed { error } => {
                    let link = self.links.remove(&conn).expect("the link was just polled");
                    self.report_closed(now, link, error);
                    self.command(conn, LinkCommand::Close);
                    self.finish_if_done(now);
                    return;
                }
            }
        }
    }

    fn query_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        server: usize,
        database: &str,
        purpose: Purpose,
        result: Result<QueryResult, QueryError>,
    ) {
        self.count(&result);
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let server_run = &mut run.servers[server];
        server_run.outstanding = server_run.outstanding.saturating_sub(1);
        match (purpose, result) {
            (Purpose::Probe(Probe::Role), Ok(result)) => {
                let version = self
                    .links
                    .get(&conn)
                    .and_then(|link| link.pg.server_version_num())
                    .map(discovery::version_parts);
                let role = discovery::read_role(&result);
                let snapshot = &mut run.servers[server].snapshot;
                snapshot.version = version;
                snapshot.role = role;
                snapshot.active = role.is_some() && version.is_some();
                if let (Some(role), Some((major, _))) = (role, version) {
                    let profile = ServerProfile {
                        major,
                        is_primary: role.is_primary,
                    };
                    self.queue_metrics(now, conn, profile, true);
                }
            }
            (Purpose::Probe(Probe::Settings), Ok(result)) => {
                server_run.snapshot.settings = discovery::read_settings(&result);
            }
            (Purpose::Probe(Probe::Extensions), Ok(result)) => {
                let extensions = discovery::read_extensions(&result);
                let major = self
                    .links
                    .get(&conn)
                    .and_then(|link| link.pg.server_version_num());
                if major.is_some_and(|num| {
                    discovery::asks_fips(discovery::version_parts(num).0, &extensions)
                }) {
                    self.send_query(conn, Probe::Fips.sql(), Purpose::Probe(Probe::Fips));
                }
                let installed = extensions
                    .iter()
                    .map(|extension| (extension.name.clone(), extension.version.clone()))
                    .collect();
                if let Some(run) = self.run.as_mut() {
                    run.servers[server].snapshot.extensions = extensions;
                }
                self.extensions_found(now, conn, server, Found::Main(installed));
            }
            (Purpose::Probe(Probe::Fips), Ok(result)) => {
                server_run.snapshot.fips = discovery::read_fips(&result);
            }
            (Purpose::Probe(Probe::DatabaseExtensions), Ok(result)) => {
                let installed = discovery::read_installed(&result);
                self.extensions_found(now, conn, server, Found::Database(database, installed));
            }
            (Purpose::Probe(Probe::Databases), Ok(result)) => {
                let databases = discovery::read_databases(&result);
                self.collect_other_databases(now, server, &databases);
                self.extensions_found(now, conn, server, Found::DatabaseList);
            }
            (Purpose::Metric(planned), Ok(result)) => {
                let rows = MetricRows {
                    metric: planned.metric,
                    variant: planned.variant,
                    database: database.to_owned(),
                    result,
                    fetched: now,
                };
                if self.metrics.definitions()[planned.metric].ttl.is_some() {
                    let key = (server, planned.metric, database.to_owned());
                    self.kept.insert(key, rows.clone());
                }
                server_run.snapshot.rows.push(rows);
            }
            (purpose, Err(error)) => {
                self.log_failure(server, database, purpose, &error);
                let found = match purpose {
                    Purpose::Probe(Probe::Extensions) => Some(Found::Main(Vec::new())),
                    Purpose::Probe(Probe::DatabaseExtensions) => {
                        Some(Found::Database(database, Vec::new()))
                    }
                    Purpose::Probe(Probe::Databases) => Some(Found::DatabaseList),
                    _ => None,
                };
                if let Some(found) = found {
                    self.extensions_found(now, conn, server, found);
                }
            }
        }
        // Queries queued on this connection go out when the caller's flush loop polls it again.
        self.finish_if_done(now);
    }

    /// Queues the metric queries of `conn`'s database for a server with `profile`.
    fn queue_metrics(
        &mut self,
        now: Instant,
        conn: ConnId,
        profile: ServerProfile,
        main_database: bool,
    ) {
        let planned = plan_queries(&self.metrics, &self.filter, profile, main_database);
        self.send_metrics(now, conn, &planned);
    }

    /// Queues the metric queries `planned` on `conn`. A metric with a `ttl` whose rows from
    /// the same query variant are younger than it is not sent: those rows join the scrape.
    fn send_metrics(&mut self, now: Instant, conn: ConnId, planned: &[PlannedQuery]) {
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        let (server, database) = (link.server, link.database.clone());
        let metrics = Arc::clone(&self.metrics);
        for &planned in planned {
            let definition = &metrics.definitions()[planned.metric];
            let key = (server, planned.metric, database.clone());
            let young = definition.ttl.and_then(|ttl| {
                self.kept.get(&key).filter(|rows| {
                    rows.variant == planned.variant
                        && now.saturating_duration_since(rows.fetched) < ttl
                })
            });
            match (young, self.run.as_mut()) {
                (Some(rows), Some(run)) => run.servers[server].snapshot.rows.push(rows.clone()),
                _ => {
                    let sql = &definition.queries[planned.variant].sql;
                    self.send_query(conn, sql, Purpose::Metric(planned));
                }
            }
        }
    }

    /// Runs the `database: all` metrics in every database but the main one, and closes the
    /// connections of databases that no longer exist.
    fn collect_other_databases(&mut self, now: Instant, server: usize, databases: &[String]) {
        let Some(profile) = self.profile_of(server) else {
            return;
        };
        let gone: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, link)| {
                link.server == server
                    && link.database != MAIN_DATABASE
                    && link.pending.is_empty()
                    && !databases.contains(&link.database)
            })
            .map(|(&conn, _)| conn)
            .collect();
        for conn in gone {
            self.links.remove(&conn);
            self.command(conn, LinkCommand::Close);
        }
        self.kept.retain(|(kept_server, _, database), _| {
            *kept_server != server || database == MAIN_DATABASE || databases.contains(database)
        });
        for database in databases.iter().filter(|name| *name != MAIN_DATABASE) {
            let conn = self.link_for(now, server, database);
            self.probe_database_extensions(conn, server);
            self.queue_metrics(now, conn, profile, false);
            self.flush(now, conn);
        }
    }

    /// The profile the running scrape found for `server`, once its role probe answered.
    fn profile_of(&self, server: usize) -> Option<ServerProfile> {
        let snapshot = &self.run.as_ref()?.servers[server].snapshot;
        Some(ServerProfile {
            major: snapshot.version?.0,
            is_primary: snapshot.role?.is_primary,
        })
    }
}
