//! The collector: the exporter's connections to PostgreSQL and the scrapes run over them.

mod alerts;
mod extensions;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::alerts::AlertSet;
use crate::link::{ConnId, LinkAction, LinkCommand, LinkEvent};
use crate::machine::Machine;
use crate::metrics::{CollectorFilter, MetricSet, SETTINGS_COLLECTOR};
use crate::pg::{self, ConnectParams, QueryError, QueryId, QueryResult};
use crate::plan::PgTarget;
use crate::secret::Secret;

use super::discovery::{self, Probe};
use super::plan::{MAIN_DATABASE, PlannedQuery, ServerProfile, needs_database_list, plan_queries};
use super::result::{MetricRows, QueryCounters, ScrapeResult, ServerSnapshot};
use alerts::same_alert_queries;
use extensions::{ExtensionDiscovery, Found};

/// SQLSTATE of a statement cancelled by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

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
    /// The alerts evaluated on every scrape; `None` when alerting is off.
    pub alerts: Option<Arc<AlertSet>>,
}

/// What the collector reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scrape ended (every server answered or the deadline passed): answer every ticket with
    /// this result.
    Finished {
        /// What the scrape collected.
        result: Arc<ScrapeResult>,
        /// The requests that waited for it.
        tickets: Vec<Ticket>,
    },
}

/// Most time kept back from a request's scrape timeout, so the answer arrives before the
/// client gives up.
const MAX_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The deadline of a scrape started at `now` for a client that waits `timeout`: a tenth of the
/// timeout (at most [`MAX_DEADLINE_MARGIN`]) is kept for rendering and sending.
fn scrape_deadline(now: Instant, timeout: Duration) -> Instant {
    now + timeout - (timeout / 10).min(MAX_DEADLINE_MARGIN)
}

/// Why a query was sent.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Probe(Probe),
    Metric(PlannedQuery),
    /// The query of the alert at this index of the set.
    Alert(usize),
}

impl Purpose {
    /// The name of the query's prepared statement: one per probe and per (metric, variant), so
    /// unique on a connection and always standing for the same SQL.
    fn statement_name(self) -> String {
        match self {
            Purpose::Probe(probe) => format!("probe {probe:?}"),
            Purpose::Metric(planned) => format!("metric {} {}", planned.metric, planned.variant),
            Purpose::Alert(index) => format!("alert {index}"),
        }
    }
}

/// One connection to one database of one server.
struct Link {
    server: usize,
    server_name: String,
    database: String,
    pg: pg::Connection,
    /// The runtime reported the socket open; until then nothing is transmitted.
    connected: bool,
    pending: HashMap<QueryId, Purpose>,
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
    deadline: Instant,
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
/// Concurrent requests share the scrape in progress (single flight); with a cache age set, a
/// finished result also answers the requests that arrive while it is young.
///
/// Servers are scraped in parallel; on each connection all queries of a scrape are pipelined.
/// Probes and metric queries run as named prepared statements, so each connection has the
/// server parse and plan them once, on their first scrape (see `pg::Connection::query_prepared`;
/// a reconnect prepares again).
/// A server that cannot be reached, fails its probes or misses the deadline is reported with
/// `active` 0 and its connections are reset; the other servers are not affected.
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
    waiting: Vec<Ticket>,
    cached: Option<Arc<ScrapeResult>>,
    /// Per server: whether the last finished scrape reached it.
    active: Vec<bool>,
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
            servers,
            random_nonce,
            links: HashMap::new(),
            next_conn: 0,
            counters: QueryCounters::default(),
            run: None,
            waiting: Vec::new(),
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

    /// Sets the query totals back to zero and forgets the cached result (`clear prometheus`).
    pub fn reset_counters(&mut self) {
        self.counters = QueryCounters::default();
        self.cached = None;
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
            || self.settings.query_timeout != new.settings.query_timeout
            || !same_alert_queries(
                self.settings.alerts.as_deref(),
                new.settings.alerts.as_deref(),
            );
        if reconnect {
            if self.run.is_some() {
                self.abandon_late_servers();
                self.finish_if_done(now);
            }
            self.end_every_link(now);
            self.active = vec![false; new.servers.len()];
        }
        self.servers = new.servers;
        self.metrics = new.metrics;
        self.filter = new.filter;
        self.settings = new.settings;
        self.cached = None;
    }

    /// Asks for a scrape result for `ticket`. Returns the cached result at once when it is
    /// younger than `cache_max_age`; otherwise the ticket is answered by [`Event::Finished`] of
    /// the scrape in progress, or of one started now that must end within `scrape_timeout`
    /// (the request's `X-Prometheus-Scrape-Timeout-Seconds`, else the default).
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
        self.waiting.push(ticket);
        if self.run.is_none() {
            let timeout = scrape_timeout.unwrap_or(self.settings.default_scrape_timeout);
            self.start_scrape(now, scrape_deadline(now, timeout));
        }
        None
    }

    /// Starts a scrape that must end by `deadline`; none may be running.
    fn start_scrape(&mut self, now: Instant, deadline: Instant) {
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
        self.run = Some(Run { deadline, servers });
        for server in 0..self.servers.len() {
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
        self.waiting.clear();
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
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        match event {
            LinkEvent::Connected => link.connected = true,
            LinkEvent::ConnectFailed(reason) => {
                tracing::warn!(
                    server = %link.server_name,
                    database = %link.database,
                    "cannot connect: {reason}"
                );
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

    /// When [`Collector::handle_timeout`] must be called: the scrape deadline or a
    /// connection's start-up deadline, whichever is first.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let links = self
            .links
            .values()
            .filter_map(|link| link.pg.poll_timeout());
        let deadline = self.run.as_ref().map(|run| run.deadline);
        links.chain(deadline).min()
    }

    /// The connection to `database` of `server`, opened (an [`LinkAction::Connect`]) if there is none.
    fn link_for(&mut self, now: Instant, server: usize, database: &str) -> ConnId {
        if let Some((&conn, _)) = self
            .links
            .iter()
            .find(|(_, link)| link.server == server && link.database == database)
        {
            return conn;
        }
        let spec = &self.servers[server];
        let mut options = Vec::new();
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
        let id = link.pg.query_prepared(&purpose.statement_name(), sql);
        link.pending.insert(id, purpose);
        if let Some(run) = self.run.as_mut() {
            run.servers[link.server].outstanding += 1;
        }
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
                pg::Event::Ready => {}
                pg::Event::Notice(notice) => {
                    tracing::debug!(conn = %conn, "notice: {}", notice.message());
                }
                pg::Event::QueryDone { id, result } => {
                    let purpose = link.pending.remove(&id);
                    let (server, database) = (link.server, link.database.clone());
                    if let Some(purpose) = purpose {
                        self.query_done(now, conn, server, &database, purpose, result);
                    }
                }
                pg::Event::Closed { error } => {
                    let link = self.links.remove(&conn).expect("the link was just polled");
                    if let Some(error) = error {
                        tracing::warn!(
                            server = %link.server_name,
                            database = %link.database,
                            "connection lost: {error}"
                        );
                    }
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
                    self.queue_metrics(conn, profile, true);
                    self.queue_alerts(conn, server);
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
                server_run.snapshot.rows.push(MetricRows {
                    metric: planned.metric,
                    variant: planned.variant,
                    database: database.to_owned(),
                    result,
                });
            }
            (Purpose::Alert(alert), Ok(result)) => {
                server_run
                    .snapshot
                    .alerts
                    .push(alerts::value_of(alert, &result));
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
    fn queue_metrics(&mut self, conn: ConnId, profile: ServerProfile, main_database: bool) {
        let planned = plan_queries(&self.metrics, &self.filter, profile, main_database);
        self.send_metrics(conn, &planned);
    }

    /// Queues the metric queries `planned` on `conn`.
    fn send_metrics(&mut self, conn: ConnId, planned: &[PlannedQuery]) {
        let metrics = Arc::clone(&self.metrics);
        for &planned in planned {
            let sql = &metrics.definitions()[planned.metric].queries[planned.variant].sql;
            self.send_query(conn, sql, Purpose::Metric(planned));
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
        for database in databases.iter().filter(|name| *name != MAIN_DATABASE) {
            let conn = self.link_for(now, server, database);
            self.probe_database_extensions(conn, server);
            self.queue_metrics(conn, profile, false);
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

    fn count(&mut self, result: &Result<QueryResult, QueryError>) {
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

    fn log_failure(&self, server: usize, database: &str, purpose: Purpose, error: &QueryError) {
        let server = &self.servers[server].name;
        match purpose {
            Purpose::Probe(Probe::Fips) => {
                tracing::debug!(server = %server, database, "pgcrypto's fips_mode() failed: {error}");
            }
            Purpose::Probe(probe) => {
                tracing::warn!(server = %server, database, "probe {probe:?} failed: {error}");
            }
            Purpose::Alert(alert) => self.log_alert_failure(server, alert, error),
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

    /// At the deadline: every server still waiting is reported inactive, its partial rows are
    /// dropped and the connections with queries in flight are closed, so that late answers
    /// cannot reach the next scrape.
    fn abandon_late_servers(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        for (index, server_run) in run.servers.iter_mut().enumerate() {
            if server_run.outstanding == 0 {
                continue;
            }
            tracing::warn!(server = %server_run.snapshot.name, "missed the scrape deadline");
            server_run.outstanding = 0;
            server_run.snapshot.active = false;
            server_run.snapshot.rows.clear();
            let late: Vec<ConnId> = self
                .links
                .iter()
                .filter(|(_, link)| link.server == index && !link.pending.is_empty())
                .map(|(&conn, _)| conn)
                .collect();
            for conn in late {
                self.links.remove(&conn);
                self.actions.push_back(LinkAction::Command {
                    conn,
                    command: LinkCommand::Close,
                });
            }
        }
    }

    /// Ends the scrape when no server has a query outstanding.
    fn finish_if_done(&mut self, now: Instant) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        if run.servers.iter().any(|server| server.outstanding > 0) {
            return;
        }
        let run = self.run.take().expect("checked above");
        self.active = run
            .servers
            .iter()
            .map(|server| server.snapshot.active)
            .collect();
        let result = Arc::new(ScrapeResult {
            metrics: Arc::clone(&self.metrics),
            filter: self.filter.clone(),
            servers: run
                .servers
                .into_iter()
                .map(|server| server.snapshot)
                .collect(),
            queries: self.counters,
            alerts: self.settings.alerts.clone(),
            finished: now,
        });
        if !self.settings.cache_max_age.is_zero() {
            self.cached = Some(Arc::clone(&result));
        }
        let tickets = std::mem::take(&mut self.waiting);
        self.events.push_back(Event::Finished { result, tickets });
    }
}
