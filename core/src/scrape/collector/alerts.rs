//! The alert queries of a scrape: sent on each server's main connection right after its metric
//! queries, so they travel in the same pipelined round trip.

use crate::alerts::AlertSet;
use crate::exposition::value::sample_value;
use crate::link::ConnId;
use crate::pg::{QueryError, QueryResult};

use super::super::result::AlertValue;
use super::Collector;
use super::queries::Purpose;

/// Whether connections that prepared the alert queries of `old` can run those of `new`: each
/// prepared statement is named by its alert's position.
pub(super) fn same_alert_queries(old: Option<&AlertSet>, new: Option<&AlertSet>) -> bool {
    match (old, new) {
        (Some(old), Some(new)) => old.prepares_alike(new),
        _ => true,
    }
}

/// What the query of alert `alert` returned: the first column of its first row, read as a
/// sample value (no row, NULL or empty: 0).
pub(super) fn value_of(alert: usize, result: &QueryResult) -> AlertValue {
    let text = result.rows.first().and_then(|row| row.get(0));
    AlertValue {
        alert,
        value: sample_value(text),
    }
}

impl Collector {
    /// Queues the query of every alert that applies to `server` on `conn`, its main connection.
    pub(super) fn queue_alerts(&mut self, conn: ConnId, server: usize) {
        let Some(alerts) = self.settings.alerts.clone() else {
            return;
        };
        let name = &self.servers[server].name;
        let queries: Vec<(usize, &str)> = alerts
            .alerts()
            .iter()
            .enumerate()
            .filter(|(_, alert)| alert.queries(name))
            .map(|(index, alert)| (index, alert.query.as_str()))
            .collect();
        for (index, sql) in queries {
            self.send_query(conn, sql, Purpose::Alert(index));
        }
    }

    /// Logs a failed alert query: the alert has no sample for this scrape.
    pub(super) fn log_alert_failure(&self, server: &str, alert: usize, error: &QueryError) {
        let name = self
            .settings
            .alerts
            .as_ref()
            .and_then(|set| set.alerts().get(alert))
            .map_or("?", |alert| alert.name.as_str());
        tracing::warn!(server = %server, alert = %name, "alert query failed: {error}");
    }
}
