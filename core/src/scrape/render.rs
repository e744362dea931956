//! Rendering a [`ScrapeResult`] as an exposition body: the always-present families first, then
//! `pg_settings_*`, then one family per value column of each definition, then the samples of
//! `type = prometheus` servers; every family once.

use std::collections::BTreeMap;

use bytes::BytesMut;

use crate::config::ServerType;
use crate::exposition::value::{label_value, parse_number_array, sample_value};
use crate::exposition::{Encoder, Format, Histogram, LabelBlock, LabelBlocks, MetricType};
use crate::metrics::{
    ColumnDefinition, ColumnKind, EXTENSION_INFO_COLLECTOR, MetricDefinition, PRIMARY_COLLECTOR,
    QueryVariant, SETTINGS_COLLECTOR, SETTINGS_PREFIX, Sort,
};
use crate::pg::{QueryResult, Row};

use super::result::{ExporterCounters, MetricRows, ScrapeResult, ServerSnapshot};

/// Most buckets read from one histogram array.
const MAX_HISTOGRAM_BUCKETS: usize = 1024;

/// The exporter's version, the `pgexporter_version` label.
pub const EXPORTER_VERSION: &str = env!("CARGO_PKG_VERSION");

impl ScrapeResult {
    /// Appends the whole body in `format` to `out`, `# EOF` included for OpenMetrics.
    pub fn render(&self, format: Format, counters: &ExporterCounters, out: &mut BytesMut) {
        let start = out.len();
        let encoder = Encoder::new(format);
        self.render_exporter_families(&encoder, counters, out);
        self.render_servers(&encoder, start, out);
        encoder.finish(out);
    }

    /// Appends the body of a `/probe` answer in `format` to `out`: what the scrape learned
    /// from its servers, without the exporter's own families (`pgexporter_state`, the log,
    /// query and history counts), which stay on `/metrics`; `# EOF` included for OpenMetrics.
    pub fn render_probe(&self, format: Format, out: &mut BytesMut) {
        let start = out.len();
        let encoder = Encoder::new(format);
        self.render_servers(&encoder, start, out);
        encoder.finish(out);
    }

    /// The families of the servers, into the body that began at `start` of `out`.
    fn render_servers(&self, encoder: &Encoder, start: usize, out: &mut BytesMut) {
        if self.postgresql().next().is_some() {
            self.render_server_families(encoder, out);
            self.render_collector_health(encoder, out);
            self.render_cache_ages(encoder, out);
        }
        self.render_alerts(encoder, out);
        self.render_settings(encoder, out);
        let mut labels = Vec::new();
        for (index, definition) in self.metrics.definitions().iter().enumerate() {
            render_definition(encoder, self, index, definition, &mut labels, out);
        }
        self.render_fetched(encoder, start, out);
    }

    /// The PostgreSQL servers.
    pub(super) fn postgresql(&self) -> impl Iterator<Item = &ServerSnapshot> {
        self.servers
            .iter()
            .map(|server| &**server)
            .filter(|server| server.kind == ServerType::Postgresql)
    }

    fn render_exporter_families(
        &self,
        encoder: &Encoder,
        counters: &ExporterCounters,
        out: &mut BytesMut,
    ) {
        let logs = &counters.logs;
        encoder
            .family(
                out,
                "pgexporter_state",
                "The state of pgexporter: 1 while running.",
                MetricType::Gauge,
            )
            .sample(&[], 1.0);
        encoder
            .family(
                out,
                "pgexporter_version",
                "The pgexporter version.",
                MetricType::Counter,
            )
            .sample(&[("pgexporter_version", EXPORTER_VERSION)], 1.0);
        encoder
            .family(
                out,
                "pgexporter_fips",
                "1 when the exporter's TLS library runs in FIPS mode; rustls with the ring provider has none.",
                MetricType::Gauge,
            )
            .sample(&[], 0.0);
        for (name, help, count) in [
            (
                "pgexporter_logging_info",
                "INFO log lines since start.",
                logs.info,
            ),
            (
                "pgexporter_logging_warn",
                "WARN log lines since start.",
                logs.warn,
            ),
            (
                "pgexporter_logging_error",
                "ERROR log lines since start.",
                logs.error,
            ),
            (
                "pgexporter_logging_fatal",
                "FATAL log lines since start.",
                logs.fatal,
            ),
        ] {
            encoder
                .family(out, name, help, MetricType::Gauge)
                .sample(&[], count as f64);
        }
        for (name, help, count) in [
            (
                "pgexporter_query_executions_total",
                "Queries run.",
                self.queries.executions,
            ),
            (
                "pgexporter_query_errors_total",
                "Queries that failed.",
                self.queries.errors,
            ),
            (
                "pgexporter_query_timeouts_total",
                "Queries cancelled by statement_timeout.",
                self.queries.timeouts,
            ),
        ] {
            encoder
                .family(out, name, help, MetricType::Counter)
                .sample(&[], count as f64);
        }
        let Some(history) = counters.history else {
            return;
        };
        for (name, help, count) in [
            (
                "pgexporter_history_snapshots_total",
                "Snapshots stored in the history database.",
                history.snapshots,
            ),
            (
                "pgexporter_history_snapshot_failures_total",
                "Snapshots that could not be stored: the database failed (missing directory, \
                 locked, full, read-only) or writes fell behind.",
                history.failures,
            ),
        ] {
            encoder
                .family(out, name, help, MetricType::Counter)
                .sample(&[], count as f64);
        }
    }

    fn render_server_families(&self, encoder: &Encoder, out: &mut BytesMut) {
        self.per_server(
            encoder,
            out,
            (
                "pgexporter_postgresql_active",
                "1 when the server answered this scrape, else 0.",
            ),
            MetricType::Gauge,
            |server| Some(f64::from(u8::from(server.active))),
        );
        let live = || self.postgresql().filter(|server| server.active);
        let mut version = encoder.family(
            out,
            "pgexporter_postgresql_version",
            "The PostgreSQL version.",
            MetricType::Gauge,
        );
        for server in live() {
            if let Some((major, minor)) = server.version {
                let (major, minor) = (major.to_string(), minor.to_string());
                version.sample(
                    &[
                        ("server", &server.name),
                        ("version", &major),
                        ("minor_version", &minor),
                    ],
                    1.0,
                );
            }
        }
        self.per_server(
            encoder,
            out,
            (
                "pgexporter_postgresql_uptime",
                "Seconds since the PostgreSQL server started.",
            ),
            MetricType::Counter,
            |server| Some(server.role?.uptime_seconds).filter(|_| server.active),
        );
        if self.filter.allows(PRIMARY_COLLECTOR) {
            self.per_server(
                encoder,
                out,
                (
                    "pgexporter_postgresql_primary",
                    "1 when the server is a primary, 0 for a replica.",
                ),
                MetricType::Gauge,
                |server| {
                    Some(f64::from(u8::from(server.role?.is_primary))).filter(|_| server.active)
                },
            );
        }
        self.per_server(
            encoder,
            out,
            (
                "pgexporter_postgresql_fips",
                "1 when the server's OpenSSL runs in FIPS mode (pgcrypto's fips_mode(), PostgreSQL 18+).",
            ),
            MetricType::Gauge,
            |server| Some(f64::from(u8::from(server.fips))).filter(|_| server.active),
        );
        if !self.filter.allows(EXTENSION_INFO_COLLECTOR) {
            return;
        }
        let mut extensions = encoder.family(
            out,
            "pgexporter_postgresql_extension_info",
            "Installed extensions.",
            MetricType::Gauge,
        );
        for server in live() {
            for extension in &server.extensions {
                extensions.sample(
                    &[
                        ("server", &server.name),
                        ("extension", &extension.name),
                        ("version", &extension.version),
                        ("comment", &extension.comment),
                    ],
                    1.0,
                );
            }
        }
    }

    /// `pgexporter_metric_cache_age_seconds`: how old the rows of each metric with a `ttl`
    /// are, per server and database; written when some definition has a `ttl`.
    fn render_cache_ages(&self, encoder: &Encoder, out: &mut BytesMut) {
        let definitions = self.metrics.definitions();
        if definitions
            .iter()
            .all(|definition| definition.ttl.is_none())
        {
            return;
        }
        let mut family = encoder.family(
            out,
            "pgexporter_metric_cache_age_seconds",
            "Seconds since PostgreSQL returned the rows served for a metric with a ttl.",
            MetricType::Gauge,
        );
        for server in self.servers.iter().filter(|server| server.active) {
            for rows in &server.rows {
                let definition = &definitions[rows.metric];
                if definition.ttl.is_none() {
                    continue;
                }
                let age = self.finished.saturating_duration_since(rows.fetched);
                family.sample(
                    &[
                        ("server", &server.name),
                        ("database", &rows.database),
                        ("metric", &definition.tag),
                    ],
                    age.as_secs_f64(),
                );
            }
        }
    }

    /// A family with one sample per server, labelled `server`, for the servers where `value`
    /// gives one.
    fn per_server(
        &self,
        encoder: &Encoder,
        out: &mut BytesMut,
        (name, help): (&str, &str),
        metric_type: MetricType,
        value: impl Fn(&ServerSnapshot) -> Option<f64>,
    ) {
        let mut family = encoder.family(out, name, help, metric_type);
        for server in self.postgresql() {
            if let Some(value) = value(server) {
                family.sample(&[("server", &server.name)], value);
            }
        }
    }

    fn render_settings(&self, encoder: &Encoder, out: &mut BytesMut) {
        if !self.filter.allows(SETTINGS_COLLECTOR) {
            return;
        }
        let mut by_name: BTreeMap<&str, Vec<(&str, f64, &str)>> = BTreeMap::new();
        for server in self.postgresql().filter(|server| server.active) {
            for setting in &server.settings {
                let samples = by_name.entry(&setting.name).or_default();
                // Two settings whose names differ only where `_` was put in: the first wins,
                // so that no series is written twice.
                if !samples.iter().any(|(known, _, _)| *known == server.name) {
                    samples.push((&server.name, setting.value, &setting.description));
                }
            }
        }
        let mut family_name = String::new();
        for (name, samples) in by_name {
            family_name.clear();
            family_name.push_str(SETTINGS_PREFIX);
            family_name.push_str(name);
            let help = samples.first().map_or("", |sample| sample.2);
            let mut family = encoder.family(out, &family_name, help, MetricType::Gauge);
            for (server, value, _) in samples {
                family.sample(&[("server", server)], value);
            }
        }
    }
}

/// One value column of a definition, as it appears across the variants that ran.
struct FamilyColumn<'a> {
    name: Option<&'a str>,
    kind: ColumnKind,
    description: &'a str,
}

fn render_definition<'a>(
    encoder: &Encoder,
    result: &'a ScrapeResult,
    index: usize,
    definition: &'a MetricDefinition,
    labels: &mut Vec<(&'a str, &'a str)>,
    out: &mut BytesMut,
) {
    let collected: Vec<(&ServerSnapshot, &MetricRows)> = result
        .postgresql()
        .filter(|server| server.active)
        .flat_map(|server| {
            server
                .rows
                .iter()
                .filter(move |rows| rows.metric == index)
                .map(move |rows| (server, rows))
        })
        .collect();
    if collected.is_empty() {
        return;
    }
    let mut written = Vec::new();
    for family in family_columns(definition, &collected) {
        let Some(family_name) = family_name(definition, &family) else {
            continue;
        };
        match family.kind {
            ColumnKind::Histogram => {
                let mut writer = encoder.histogram_family(out, &family_name, family.description);
                for_each_sample(
                    definition,
                    &collected,
                    &family,
                    labels,
                    None,
                    |labels, row, columns| {
                        let SampleLabels::Pairs(labels) = labels else {
                            return;
                        };
                        if let Some(histogram) = columns
                            .histogram
                            .as_ref()
                            .and_then(|parts| read_histogram(row, parts))
                        {
                            let buckets = Histogram {
                                upper_bounds: &histogram.0,
                                cumulative_counts: &histogram.1,
                                sum: histogram.2,
                                count: histogram.3,
                            };
                            // Bounds and counts of different lengths: the row is skipped.
                            let _ = writer.histogram(labels, &buckets);
                        }
                    },
                );
            }
            kind => {
                let metric_type = if kind == ColumnKind::Counter {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                let mut writer = encoder.family(out, &family_name, family.description, metric_type);
                for_each_sample(
                    definition,
                    &collected,
                    &family,
                    labels,
                    Some(&mut written),
                    |labels, row, columns| {
                        let Some(text) = row.get(columns.value) else {
                            return;
                        };
                        let value = sample_value(Some(text));
                        match labels {
                            SampleLabels::Written(block) => writer.sample_labelled(block, value),
                            SampleLabels::Pairs(labels) => writer.sample(labels, value),
                        };
                    },
                );
            }
        }
    }
}

fn family_name(definition: &MetricDefinition, family: &FamilyColumn<'_>) -> Option<String> {
    ColumnDefinition {
        name: family.name.map(str::to_owned),
        kind: family.kind,
        description: String::new(),
    }
    .family_name(&definition.tag)
}

/// The value columns of the variants that ran, each name once, in order of first appearance.
fn family_columns<'a>(
    definition: &'a MetricDefinition,
    collected: &[(&ServerSnapshot, &MetricRows)],
) -> Vec<FamilyColumn<'a>> {
    let mut variants: Vec<usize> = collected.iter().map(|(_, rows)| rows.variant).collect();
    variants.sort_unstable();
    variants.dedup();
    let mut families: Vec<FamilyColumn<'a>> = Vec::new();
    for variant in variants {
        for (_, column) in definition.queries[variant].values() {
            let name = column.name.as_deref();
            if !families.iter().any(|known| known.name == name) {
                families.push(FamilyColumn {
                    name,
                    kind: column.kind,
                    description: &column.description,
                });
            }
        }
    }
    families
}

/// Where the columns of one family sit in one result.
struct ResultColumns {
    /// The family's label columns, in the order of their names.
    labels: Vec<usize>,
    /// The value column (a histogram's bounds).
    value: usize,
    /// A histogram's four columns.
    histogram: Option<HistogramColumns>,
}

/// The result columns of one histogram: `X`, `X_bucket`, `X_sum`, `X_count`.
struct HistogramColumns {
    bounds: usize,
    buckets: usize,
    sum: usize,
    count: usize,
}

/// A row's labels as [`for_each_sample`] hands them over.
enum SampleLabels<'l, 'a> {
    /// The label names and values: `server`, the family's label columns, `database`.
    Pairs(&'l [(&'a str, &'a str)]),
    /// The same, already written.
    Written(LabelBlock<'l>),
}

/// The labels of every row of one collected result, written once for every family of that
/// result with the same label columns (in the built-in set, all of a query's families).
struct WrittenLabels<'a> {
    /// Which collected result.
    result: usize,
    names: Vec<&'a str>,
    positions: Vec<usize>,
    blocks: LabelBlocks,
}

/// Calls `write` for every row of every collected result that has the family's column, with
/// the row's labels: `server`, the family's label columns, then `database` unless a label
/// column is named so. With `written`, the labels come written, from the sets kept there for
/// the families before this one (added to when missing); else as pairs.
fn for_each_sample<'a>(
    definition: &'a MetricDefinition,
    collected: &[(&'a ServerSnapshot, &'a MetricRows)],
    family: &FamilyColumn<'_>,
    labels: &mut Vec<(&'a str, &'a str)>,
    mut written: Option<&mut Vec<WrittenLabels<'a>>>,
    mut write: impl FnMut(SampleLabels<'_, 'a>, &'a Row, &ResultColumns),
) {
    for (result, &(server, rows)) in collected.iter().enumerate() {
        let variant = &definition.queries[rows.variant];
        let Some(columns) = locate(variant, &rows.result, family.name) else {
            continue;
        };
        let label_names: Vec<&'a str> = variant
            .labels_of(family.name)
            .map(|(_, name)| name)
            .collect();
        let database_label = !label_names.contains(&"database");
        let labels_of = |row: &'a Row, labels: &mut Vec<(&'a str, &'a str)>| {
            labels.clear();
            labels.push(("server", &server.name));
            for (name, &position) in label_names.iter().zip(&columns.labels) {
                labels.push((name, label_value(row.get(position))));
            }
            if database_label {
                labels.push(("database", &rows.database));
            }
        };
        let ordered = ordered_rows(definition.sort, &rows.result);
        let Some(written) = written.as_deref_mut() else {
            for row in ordered {
                labels_of(row, labels);
                write(SampleLabels::Pairs(labels), row, &columns);
            }
            continue;
        };
        let known = written.iter().position(|entry| {
            entry.result == result
                && entry.names == label_names
                && entry.positions == columns.labels
        });
        let entry = match known {
            Some(index) => &written[index],
            None => {
                let mut blocks = LabelBlocks::default();
                for &row in &ordered {
                    labels_of(row, labels);
                    blocks.push(labels);
                }
                written.push(WrittenLabels {
                    result,
                    names: label_names.clone(),
                    positions: columns.labels.clone(),
                    blocks,
                });
                &written[written.len() - 1]
            }
        };
        for (index, row) in ordered.into_iter().enumerate() {
            if let Some(block) = entry.blocks.get(index) {
                write(SampleLabels::Written(block), row, &columns);
            }
        }
    }
}

/// The rows of a result in the definition's order: as returned, or grouped by the first column.
fn ordered_rows(sort: Sort, result: &QueryResult) -> Vec<&Row> {
    let mut rows: Vec<&Row> = result.rows.iter().collect();
    if sort == Sort::Data {
        rows.sort_by(|a, b| a.get_bytes(0).cmp(&b.get_bytes(0)));
    }
    rows
}

/// Finds the family's label columns and value column in a result: a column by its name when
/// the result has a column of that name, else by its position among the definition's columns
/// (a histogram counting four). A histogram's `X`, `X_bucket`, `X_sum` and `X_count` are found
/// by name wherever they stand, else as the four columns from its position.
fn locate(
    variant: &QueryVariant,
    result: &QueryResult,
    family: Option<&str>,
) -> Option<ResultColumns> {
    let by_name = |name: &str| result.columns.iter().position(|column| column.name == name);
    let mut positions = Vec::with_capacity(variant.columns.len());
    let mut next = 0;
    for column in &variant.columns {
        positions.push(next);
        next += if column.kind == ColumnKind::Histogram {
            4
        } else {
            1
        };
    }
    let find = |index: usize| {
        variant.columns[index]
            .name
            .as_deref()
            .and_then(by_name)
            .unwrap_or(positions[index])
    };
    let index = variant
        .columns
        .iter()
        .position(|column| column.kind.is_value() && column.name.as_deref() == family)?;
    let labels = variant
        .labels_of(family)
        .map(|(index, _)| find(index))
        .collect();
    let histogram = (variant.columns[index].kind == ColumnKind::Histogram).then(|| {
        let name = family.unwrap_or_default();
        let part = |suffix: &str, offset: usize| {
            by_name(&format!("{name}{suffix}")).unwrap_or(positions[index] + offset)
        };
        HistogramColumns {
            bounds: part("", 0),
            buckets: part("_bucket", 1),
            sum: part("_sum", 2),
            count: part("_count", 3),
        }
    });
    let value = find(index);
    (value < result.columns.len()).then_some(ResultColumns {
        labels,
        value,
        histogram,
    })
}

/// Reads a histogram's bounds, cumulative counts, sum and count; `None` when any is missing
/// or malformed.
fn read_histogram(row: &Row, columns: &HistogramColumns) -> Option<(Vec<f64>, Vec<f64>, f64, f64)> {
    let mut bounds = Vec::new();
    let mut counts = Vec::new();
    parse_number_array(row.get(columns.bounds)?, MAX_HISTOGRAM_BUCKETS, &mut bounds).ok()?;
    parse_number_array(
        row.get(columns.buckets)?,
        MAX_HISTOGRAM_BUCKETS,
        &mut counts,
    )
    .ok()?;
    let sum = sample_value(Some(row.get(columns.sum)?));
    let count = sample_value(Some(row.get(columns.count)?));
    Some((bounds, counts, sum, count))
}
