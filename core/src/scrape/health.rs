//! The collectors' own health, per server and collector, on `/metrics` and `/probe`:
//! `pgexporter_collector_duration_seconds` (the time its queries took in the scrape),
//! `pgexporter_collector_success` (1 when every one of them succeeded) and
//! `pgexporter_collector_series` (the series they returned: rows times value columns).

use std::collections::BTreeMap;

use bytes::BytesMut;

use crate::exposition::{Encoder, MetricType};
use crate::metrics::{COLLECTOR_DURATION, COLLECTOR_SERIES, COLLECTOR_SUCCESS};

use super::result::{CollectorRecord, ScrapeResult, ServerSnapshot};

/// One server's collectors: name, record and series.
type Collectors<'a> = Vec<(&'a str, &'a CollectorRecord, usize)>;

/// The value of a family's sample, from a collector's record and series.
type SampleValue = fn(&CollectorRecord, usize) -> f64;

impl ScrapeResult {
    /// The three collector families, over the PostgreSQL servers that answered.
    pub(super) fn render_collector_health(&self, encoder: &Encoder, out: &mut BytesMut) {
        let servers: Vec<(&str, Collectors<'_>)> = self
            .postgresql()
            .filter(|server| server.active && !server.collectors.is_empty())
            .map(|server| (server.name.as_str(), self.collectors_of(server)))
            .collect();
        if servers.is_empty() {
            return;
        }
        let families: [(&str, &str, SampleValue); 3] = [
            (
                COLLECTOR_DURATION,
                "Seconds the collector's queries took in the last scrape of the server.",
                |record, _| record.duration.as_secs_f64(),
            ),
            (
                COLLECTOR_SUCCESS,
                "1 when every query of the collector succeeded in the last scrape of the server, else 0.",
                |record, _| f64::from(u8::from(record.failures == 0)),
            ),
            (
                COLLECTOR_SERIES,
                "Series the collector's queries returned in the last scrape of the server (rows times value columns).",
                |_, series| series as f64,
            ),
        ];
        for (name, help, value) in families {
            let mut family = encoder.family(out, name, help, MetricType::Gauge);
            for (server, collectors) in &servers {
                for &(collector, record, series) in collectors {
                    family.sample(
                        &[("server", server), ("collector", collector)],
                        value(record, series),
                    );
                }
            }
        }
    }

    /// The collectors of `server`, with the series its rows hold for each.
    fn collectors_of<'a>(&self, server: &'a ServerSnapshot) -> Collectors<'a> {
        let definitions = self.metrics.definitions();
        let mut series: BTreeMap<&str, usize> = BTreeMap::new();
        for rows in &server.rows {
            let definition = &definitions[rows.metric];
            let columns = definition.queries[rows.variant].values().count();
            *series.entry(&definition.collector).or_default() += rows.result.rows.len() * columns;
        }
        server
            .collectors
            .iter()
            .map(|(name, record)| {
                let count = series.get(name.as_str()).copied().unwrap_or(0);
                (name.as_str(), record, count)
            })
            .collect()
    }
}
