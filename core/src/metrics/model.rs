//! The typed model of a metric definition, after parsing and validation.

use std::time::Duration;

use serde::Deserialize;

use super::error::Place;
use super::extension::ExtensionVersion;

/// Prefix of every family the exporter writes.
pub const FAMILY_PREFIX: &str = "pgexporter_";

/// Order of the rows of one result, as the reference exporter defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Rows in the order the query returned them.
    #[default]
    Name,
    /// Rows grouped by the value of the first column.
    Data,
}

/// Which servers a metric is collected from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerRole {
    /// Primaries and replicas.
    #[default]
    Both,
    /// Only servers that are not in recovery.
    Primary,
    /// Only servers in recovery.
    Replica,
}

/// What a result column becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// A label on every sample of the row.
    Label,
    /// A gauge family.
    Gauge,
    /// A counter family.
    Counter,
    /// A histogram family `pgexporter_<tag>`, read from the result columns `X` (bounds),
    /// `X_bucket`, `X_sum` and `X_count`, found by name wherever they stand in the row.
    Histogram,
}

impl ColumnKind {
    /// Whether the column carries a value (a family) rather than a label.
    pub fn is_value(self) -> bool {
        !matches!(self, ColumnKind::Label)
    }
}

/// One column of a query's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// The column name; `None` only for a value column whose family is named by the tag alone.
    pub name: Option<String>,
    /// What the column becomes.
    pub kind: ColumnKind,
    /// The family's HELP text (empty when none was given).
    pub description: String,
}

impl ColumnDefinition {
    /// The family this column produces: `pgexporter_<tag>_<name>`, or `pgexporter_<tag>` for
    /// an unnamed column and for a histogram (whose name only finds its result columns, as
    /// the reference names it); `None` for a label column.
    pub fn family_name(&self, tag: &str) -> Option<String> {
        match (self.kind, &self.name) {
            (ColumnKind::Label, _) => None,
            (ColumnKind::Histogram, _) | (_, None) => Some(format!("{FAMILY_PREFIX}{tag}")),
            (_, Some(name)) => Some(format!("{FAMILY_PREFIX}{tag}_{name}")),
        }
    }
}

/// One SQL text of a metric and the oldest server major version it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryVariant {
    /// Oldest PostgreSQL major version (13, 14, ...) this variant is for; 0 = any.
    pub min_version: u32,
    /// For a metric of an extension: the oldest installed version of the extension this
    /// variant is for. `None` for every other metric.
    pub extension_version: Option<ExtensionVersion>,
    /// The SQL, sent as one simple query.
    pub sql: String,
    /// The result columns, in result order.
    pub columns: Vec<ColumnDefinition>,
}

impl QueryVariant {
    /// The label columns, in result order, with their result positions.
    pub fn labels(&self) -> impl Iterator<Item = (usize, &str)> {
        self.columns
            .iter()
            .enumerate()
            .filter_map(|(index, column)| match column.kind {
                ColumnKind::Label => column.name.as_deref().map(|name| (index, name)),
                _ => None,
            })
    }

    /// The label columns of the family of value column `value` (a name, `None` for the
    /// unnamed column): every label column, or for a histogram those written before it.
    pub fn labels_of(&self, value: Option<&str>) -> impl Iterator<Item = (usize, &str)> {
        let end = self
            .columns
            .iter()
            .position(|column| {
                column.kind == ColumnKind::Histogram && column.name.as_deref() == value
            })
            .unwrap_or(self.columns.len());
        self.labels().filter(move |(index, _)| *index < end)
    }

    /// The value columns, in result order, with their result positions.
    pub fn values(&self) -> impl Iterator<Item = (usize, &ColumnDefinition)> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, column)| column.kind.is_value())
    }
}

/// A validated metric definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDefinition {
    /// Names the families: `pgexporter_<tag>[_<column>]`.
    pub tag: String,
    /// The collector name matched by `-C`/`-X` and the `collectors` keys.
    pub collector: String,
    /// Row order.
    pub sort: Sort,
    /// Which servers run it.
    pub server: ServerRole,
    /// Run in every database of the server (`database: all`), else only in `postgres`.
    pub all_databases: bool,
    /// Failures are expected (missing privileges, absent views) and logged at debug level.
    pub optional: bool,
    /// `ttl`: how long a result stays good. Within it, scrapes serve the last result of each
    /// database instead of running the query again; `None` runs it on every scrape.
    pub ttl: Option<Duration>,
    /// The SQL variants, sorted by ascending `min_version` (by ascending `extension_version`
    /// for a metric of an extension), versions distinct.
    pub queries: Vec<QueryVariant>,
    /// The extension whose objects the queries read: the metric runs only where that
    /// extension is installed and enabled. `None` for the built-in and custom metrics.
    pub extension: Option<String>,
    /// Where the definition was written.
    pub place: Place,
}

impl MetricDefinition {
    /// The variant for a server of major version `server_major`: the one with the highest
    /// `min_version` not above it, or `None` when every variant needs a newer server.
    pub fn variant_for(&self, server_major: u32) -> Option<&QueryVariant> {
        self.variant_index_for(server_major)
            .map(|index| &self.queries[index])
    }

    /// The position in `queries` of [`MetricDefinition::variant_for`]'s answer.
    pub fn variant_index_for(&self, server_major: u32) -> Option<usize> {
        self.queries
            .iter()
            .rposition(|variant| variant.min_version <= server_major)
    }

    /// For a metric of an extension, the position in `queries` of the variant for `installed`,
    /// the extension's installed version: the one with the highest `extension_version` not
    /// above it. `None` when every variant needs a newer version, and for other metrics.
    pub fn variant_index_for_extension(&self, installed: &ExtensionVersion) -> Option<usize> {
        self.queries.iter().rposition(|variant| {
            variant
                .extension_version
                .as_ref()
                .is_some_and(|version| version <= installed)
        })
    }

    /// Whether the metric runs on a server that is a primary (`is_primary`) or a replica.
    pub fn runs_on(&self, is_primary: bool) -> bool {
        match self.server {
            ServerRole::Both => true,
            ServerRole::Primary => is_primary,
            ServerRole::Replica => !is_primary,
        }
    }

    /// Every family name any variant of this metric can produce, each once.
    pub fn family_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .queries
            .iter()
            .flat_map(|variant| variant.columns.iter())
            .filter_map(|column| column.family_name(&self.tag))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
