//! What one scrape collected, kept as the rows PostgreSQL returned so that it can be rendered
//! in any exposition format on demand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alerts::AlertSet;
use crate::config::ServerType;
use crate::fetch::Fetched;
use crate::history::HistoryCounters;
use crate::metrics::{CollectorFilter, MetricSet};
use crate::pg::QueryResult;

use super::discovery::{Extension, Role, Setting};

/// The rows of one metric query from one database of one server.
#[derive(Debug, Clone)]
pub struct MetricRows {
    /// Index into the set's definitions.
    pub metric: usize,
    /// Index into that definition's query variants: the one that ran.
    pub variant: usize,
    /// The database the query ran in.
    pub database: String,
    /// The rows, shared by every definition reading the same execution and by the rows kept
    /// for a `ttl`.
    pub result: Arc<QueryResult>,
    /// When PostgreSQL returned them: before the scrape for a metric with a `ttl` whose rows
    /// were young enough to serve again.
    pub fetched: Instant,
}

/// Everything one scrape learned from one server (PostgreSQL's answers, or a
/// `type = prometheus` server's fetched exposition).
#[derive(Debug, Clone, Default)]
pub struct ServerSnapshot {
    /// The server's section name, the `server` label.
    pub name: String,
    /// Whether it is a PostgreSQL server or a `type = prometheus` one.
    pub kind: ServerType,
    /// The server answered its probes before the deadline.
    pub active: bool,
    /// Major and minor version, when connected.
    pub version: Option<(u32, u32)>,
    /// Primary or replica, and uptime.
    pub role: Option<Role>,
    /// Numeric and boolean settings.
    pub settings: Vec<Setting>,
    /// Installed extensions.
    pub extensions: Vec<Extension>,
    /// The server's OpenSSL runs in FIPS mode (pgcrypto's `fips_mode()`, PostgreSQL 18+).
    pub fips: bool,
    /// Metric rows, in the order they arrived.
    pub rows: Vec<MetricRows>,
    /// What the fetch of a `type = prometheus` server brought.
    pub fetched: Option<Arc<Fetched>>,
    /// The values of the alert queries that answered.
    pub alerts: Vec<AlertValue>,
    /// Per collector whose metric queries this run sent (or served from a `ttl`): what they
    /// came to.
    pub collectors: BTreeMap<String, CollectorRecord>,
}

/// What one collector's metric queries came to in one server's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorRecord {
    /// The time its queries took: for each, from the previous answer on its connection (or
    /// from when the idle connection was given work) to its own answer, so queries waiting
    /// in a connection's pipeline are not counted twice.
    pub duration: Duration,
    /// Its queries that failed.
    pub failures: u32,
}

/// What one alert query returned on one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertValue {
    /// Index into the alert set.
    pub alert: usize,
    /// The first column of the first row (0 without a row).
    pub value: f64,
}

/// Running totals of the queries the exporter has sent since it started (or since the
/// counters were cleared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryCounters {
    /// Queries that completed, successfully or not.
    pub executions: u64,
    /// Queries that failed.
    pub errors: u64,
    /// Queries cancelled by `statement_timeout` (SQLSTATE 57014).
    pub timeouts: u64,
}

/// Log lines written since start, by level; the runtime counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// INFO lines.
    pub info: u64,
    /// WARN lines.
    pub warn: u64,
    /// ERROR lines.
    pub error: u64,
    /// FATAL lines.
    pub fatal: u64,
}

/// What the exporter counts itself, rendered with every scrape: its log lines, and its
/// history snapshots when history is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterCounters {
    /// The `pgexporter_logging_*` counts.
    pub logs: LogCounters,
    /// The `pgexporter_history_*` counts; `None` when history is off.
    pub history: Option<HistoryCounters>,
}

/// A finished scrape: render it with [`ScrapeResult::render`].
#[derive(Debug, Clone)]
pub struct ScrapeResult {
    /// The definitions the rows refer to.
    pub metrics: Arc<MetricSet>,
    /// The collectors that ran; it also selects the fixed families that have a collector.
    pub filter: CollectorFilter,
    /// One snapshot per server asked for (every configured server for `/metrics`), in
    /// configuration order; snapshots are shared by the results they are part of.
    pub servers: Vec<Arc<ServerSnapshot>>,
    /// Query totals when the scrape ended.
    pub queries: QueryCounters,
    /// The alerts evaluated, `None` when alerting is off.
    pub alerts: Option<Arc<AlertSet>>,
    /// When the scrape ended; with `metrics_cache_max_age`, when the result goes stale.
    pub finished: Instant,
}

/// A result of no server (the exporter's own families only) of the built-in metrics,
/// finished at `now` (tests only).
#[cfg(test)]
pub(crate) fn empty_result(now: Instant) -> Arc<ScrapeResult> {
    Arc::new(ScrapeResult {
        metrics: Arc::new(MetricSet::builtin().expect("the built-in metrics load")),
        filter: CollectorFilter::default(),
        servers: Vec::new(),
        queries: QueryCounters::default(),
        alerts: None,
        finished: now,
    })
}
