//! The scrape: the exporter's connections to PostgreSQL, the queries a scrape runs on them,
//! the fetches of `type = prometheus` servers, and the rendering of what came back.
//!
//! A [`Collector`] keeps one connection per (server, database) that a metric needs and reuses
//! it across scrapes. A scrape first probes each server on its main connection (role, version,
//! settings, extensions, databases), then pipelines every metric query that applies, on every
//! needed connection at once. The runtime only executes [`LinkAction`](crate::link::LinkAction)s: it opens sockets, starts
//! TLS, writes bytes and reports what it reads. A finished scrape is a [`ScrapeResult`] that
//! renders to any exposition format.

mod alert_families;
mod collector;
mod discovery;
mod fetched;
mod health;
mod plan;
mod render;
mod result;
#[cfg(test)]
pub(crate) use result::empty_result;

pub use collector::{
    Collector, CollectorSettings, Event, FACTS_MAX_AGE, FIRST_BACKOFF, LOCK_TIMEOUT, MAX_BACKOFF,
    MAX_SCRAPE_TIMEOUT, MIN_SCRAPE_TIMEOUT, Reconfiguration, ServerSpec, Ticket, UnknownServer,
    request_deadline,
};
pub use discovery::{Extension, Role, Setting};
pub use fetched::{PROMETHEUS_SCRAPE_DURATION, PROMETHEUS_UP};
pub use plan::MAIN_DATABASE;
pub use render::EXPORTER_VERSION;
pub use result::{
    AlertValue, CollectorRecord, ExporterCounters, LogCounters, MetricRows, QueryCounters,
    ScrapeResult, ServerSnapshot,
};
#[cfg(test)]
mod tests;
