//! The collector's PostgreSQL connections: opening them, sending a scrape's queries, reading
//! what comes back into the server's run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::link::{ConnId, LinkAction, LinkCommand, LinkOwner};
use crate::machine::Machine;
use crate::pg::{self, ConnectParams, QueryError, QueryId, QueryResult};

use super::super::discovery::{self, Probe};
use super::super::plan::{MAIN_DATABASE, PlannedQuery, ServerProfile, plan_queries};
use super::super::result::MetricRows;
use super::extensions::Found;
use super::{Collector, LOCK_TIMEOUT, QUERY_CANCELED};

/// Why a query was sent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
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

/// A query sent and not answered yet: the run it was sent for, and why.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub(super) run: u64,
    pub(super) purpose: Purpose,
}

/// One connection to one database of one server.
pub(super) struct Link {
    pub(super) server: usize,
    pub(super) server_name: String,
    pub(super) database: String,
    pub(super) pg: pg::Connection,
    /// The runtime reported the socket open; until then nothing is transmitted.
    pub(super) connected: bool,
    /// The session reached its first ReadyForQuery.
    pub(super) ready: bool,
    /// Why the runtime could not open the socket, when it could not.
    pub(super) connect_failure: Option<String>,
    /// The second connection to the main database, taking part of its metric queries
    /// ([`spread`](super::spread)).
    pub(super) second: bool,
    /// The last run at whose end a CancelRequest went out for its running queries.
    pub(super) cancelled_run: Option<u64>,
    pub(super) pending: HashMap<QueryId, Pending>,
    /// Since when the connection works on its oldest pending query: its last answer, or when
    /// it got work while idle (or became ready).
    pub(super) busy_from: Instant,
}

impl Collector {
    /// The connection to `database` of `server`, if there is one (ready or still opening).
    /// The second connection to the main database ([`spread`](super::spread)) is not it.
    pub(super) fn find_link(&self, server: usize, database: &str) -> Option<ConnId> {
        self.links
            .iter()
            .find(|(_, link)| link.server == server && link.database == database && !link.second)
            .map(|(&conn, _)| conn)
    }

    /// The connection to `database` of `server`, opened (an [`LinkAction::Connect`]) if there
    /// is none; a connection still being opened is reused.
    pub(super) fn link_for(&mut self, now: Instant, server: usize, database: &str) -> ConnId {
        match self.find_link(server, database) {
            Some(conn) => conn,
            None => self.open_link(now, server, database, false),
        }
    }

    /// Opens a connection to `database` of `server` (an [`LinkAction::Connect`]); `second`
    /// when it is the second connection to the main database.
    pub(super) fn open_link(
        &mut self,
        now: Instant,
        server: usize,
        database: &str,
        second: bool,
    ) -> ConnId {
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
        let conn = ConnId::new(LinkOwner::Postgresql, self.next_conn);
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
                second,
                cancelled_run: None,
                pending: HashMap::new(),
                busy_from: now,
            },
        );
        let target = Arc::clone(&spec.target);
        self.actions.push_back(LinkAction::Connect { conn, target });
        conn
    }

    /// Queues `sql` on `conn` for the run of its server, as the prepared statement of
    /// `purpose`; nothing when the server has no run.
    pub(super) fn send_query(&mut self, conn: ConnId, sql: &str, purpose: Purpose) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let Some(run) = self.runs[link.server].as_mut() else {
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
        run.outstanding += 1;
    }

    /// Queues `command` for connection `conn`.
    pub(super) fn command(&mut self, conn: ConnId, command: LinkCommand) {
        self.actions
            .push_back(LinkAction::Command { conn, command });
    }

    /// Moves what `conn`'s machine produced into actions, and handles its events.
    pub(super) fn flush(&mut self, now: Instant, conn: ConnId) {
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
                    link.busy_from = now;
                    if link.database == MAIN_DATABASE
                        && !link.second
                        && self.reachability[link.server].connected()
                    {
                        tracing::info!(server = %link.server_name, "reachable again");
                    }
                }
                pg::Event::Notice(notice) => {
                    tracing::debug!(conn = %conn, "notice: {}", notice.message());
                }
                pg::Event::QueryDone { id, result } => {
                    let pending = link.pending.remove(&id);
                    let spent = now.saturating_duration_since(link.busy_from);
                    link.busy_from = now;
                    let (server, database) = (link.server, link.database.clone());
                    let current = self.runs[server].as_ref().map(|run| run.id);
                    match pending {
                        Some(pending) if Some(pending.run) == current => {
                            if let Purpose::Metric(planned) = pending.purpose {
                                self.query_timed(server, &database, planned, spent);
                                self.metric_answered(
                                    now, server, &database, planned, spent, &result,
                                );
                            }
                            self.query_done(now, conn, server, &database, pending.purpose, result);
                        }
                        // The answer to a query of an earlier run (cancelled at its end).
                        Some(_) => self.count(&result),
                        None => {}
                    }
                    if self
                        .links
                        .get(&conn)
                        .is_some_and(|link| link.pending.is_empty())
                    {
                        self.start_waiting(now, server);
                    }
                }
                pg::Event::Closed { error } => {
                    let link = self.links.remove(&conn).expect("the link was just polled");
                    let server = link.server;
                    self.report_closed(now, link, error);
                    self.command(conn, LinkCommand::Close);
                    self.start_waiting(now, server);
                    self.finish_done_runs(now);
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
        let Some(server_run) = self.runs[server].as_mut() else {
            return;
        };
        server_run.outstanding = server_run.outstanding.saturating_sub(1);
        match (purpose, result) {
            (Purpose::Probe(Probe::Role), Ok(result)) => {
                let version = self
                    .links
                    .get(&conn)
                    .and_then(|link| link.pg.server_version_num())
                    .map(discovery::version_parts);
                let role = discovery::read_role(&result);
                let snapshot = &mut server_run.snapshot;
                snapshot.version = version;
                snapshot.role = role;
                snapshot.active = role.is_some() && version.is_some();
                if let (Some(role), Some((major, _))) = (role, version) {
                    let profile = ServerProfile {
                        major,
                        is_primary: role.is_primary,
                    };
                    let work = self.database_metrics(now, server, MAIN_DATABASE, profile);
                    self.dispatch_main_metrics(now, server, work);
                    self.queue_alerts(conn, server);
                }
                self.signs_read(now, conn, server, discovery::read_signs(&result));
            }
            (Purpose::Probe(Probe::Settings), Ok(result)) => {
                self.settings_read(now, server, discovery::read_settings(&result));
            }
            (Purpose::Probe(Probe::Extensions), Ok(result)) => {
                let extensions = discovery::read_extensions(&result);
                self.extensions_fetched(now, conn, server, extensions);
            }
            (Purpose::Probe(Probe::Fips), Ok(result)) => {
                server_run.snapshot.fips = discovery::read_fips(&result);
            }
            (Purpose::Probe(Probe::DatabaseExtensions), Ok(result)) => {
                let installed = discovery::read_installed(&result);
                self.extensions_found(now, server, Found::Database(database, installed));
            }
            (Purpose::Probe(Probe::Databases), Ok(result)) => {
                let databases = discovery::read_databases(&result);
                self.databases_counted(server, databases.len());
                self.collect_other_databases(now, server, &databases);
                self.extensions_found(now, server, Found::DatabaseList);
            }
            (Purpose::Metric(planned), Ok(result)) => {
                let rows = MetricRows {
                    metric: planned.metric,
                    variant: planned.variant,
                    database: database.to_owned(),
                    result: Arc::new(result),
                    fetched: now,
                };
                self.add_rows(server, rows);
            }
            (Purpose::Alert(alert), Ok(result)) => {
                server_run
                    .snapshot
                    .alerts
                    .push(super::alerts::value_of(alert, &result));
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
                    self.extensions_found(now, server, found);
                }
            }
        }
        // Queries queued on this connection go out when the caller's flush loop polls it again.
        self.finish_done_runs(now);
    }

    /// The metric queries of `database` of `server` (with `profile`) to send for its run.
    fn database_metrics(
        &mut self,
        now: Instant,
        server: usize,
        database: &str,
        profile: ServerProfile,
    ) -> Vec<Purpose> {
        let main_database = database == MAIN_DATABASE;
        let planned = plan_queries(&self.metrics, &self.filter, profile, main_database);
        self.metric_work(now, server, database, &planned)
    }

    /// Of the metric queries `planned` for `database` of `server`, those to send. A metric
    /// with a `ttl` whose rows from the same query variant are younger than it is not sent:
    /// those rows join the run. Of the others, one per SQL text is sent and read by every
    /// definition running that text ([`sharing`](super::sharing)).
    pub(super) fn metric_work(
        &mut self,
        now: Instant,
        server: usize,
        database: &str,
        planned: &[PlannedQuery],
    ) -> Vec<Purpose> {
        let mut due = Vec::with_capacity(planned.len());
        for &planned in planned {
            let definition = &self.metrics.definitions()[planned.metric];
            let key = (server, planned.metric, database.to_owned());
            let young = definition.ttl.and_then(|ttl| {
                self.kept.get(&key).filter(|rows| {
                    rows.variant == planned.variant
                        && now.saturating_duration_since(rows.fetched) < ttl
                })
            });
            match (young, self.runs[server].as_mut()) {
                (Some(rows), Some(run)) => {
                    run.snapshot.rows.push(rows.clone());
                    self.record_collector(server, planned.metric, Duration::ZERO, true);
                }
                _ => due.push(planned),
            }
        }
        self.share_executions(server, database, &due)
            .into_iter()
            .map(Purpose::Metric)
            .collect()
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
        self.readers.retain(|(reader_server, database, _), _| {
            *reader_server != server || database == MAIN_DATABASE || databases.contains(database)
        });
        // The databases with a connection first: a database waiting for room never closes a
        // connection that another database of the same scrape could use.
        let (connected, others): (Vec<&String>, Vec<&String>) = databases
            .iter()
            .filter(|name| *name != MAIN_DATABASE)
            .partition(|name| self.find_link(server, name).is_some());
        for database in connected.into_iter().chain(others) {
            let mut work: Vec<Purpose> =
                self.database_extensions_probe(server).into_iter().collect();
            work.extend(self.database_metrics(now, server, database, profile));
            self.dispatch(now, server, database, work);
        }
    }

    /// The profile the running scrape found for `server`, once its role probe answered.
    pub(super) fn profile_of(&self, server: usize) -> Option<ServerProfile> {
        let snapshot = &self.runs[server].as_ref()?.snapshot;
        Some(ServerProfile {
            major: snapshot.version?.0,
            is_primary: snapshot.role?.is_primary,
        })
    }

    /// Adds a metric query of the run of `server` to its collector's record.
    pub(super) fn record_collector(
        &mut self,
        server: usize,
        metric: usize,
        spent: Duration,
        succeeded: bool,
    ) {
        let Some(run) = self.runs[server].as_mut() else {
            return;
        };
        let collector = &self.metrics.definitions()[metric].collector;
        let records = &mut run.snapshot.collectors;
        let record = match records.get_mut(collector) {
            Some(record) => record,
            None => records.entry(collector.clone()).or_default(),
        };
        record.duration += spent;
        record.failures += u32::from(!succeeded);
    }

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
}
