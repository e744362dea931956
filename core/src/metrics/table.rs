//! The reference table of a metric set's families, for the README.

use std::fmt::Write;

use super::model::{ColumnKind, MetricDefinition};
use super::set::MetricSet;

/// Oldest PostgreSQL major version the exporter documents.
const OLDEST_DOCUMENTED: u32 = 13;

/// A Markdown table of every family `set` can produce: name, type, labels, the PostgreSQL
/// versions whose variant produces it, and the collector.
///
/// ```
/// use pgexporter_core::metrics::{MetricSet, Source, SourceFormat, family_table};
///
/// let yaml = "metrics:\n  - tag: t\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n      - query: SELECT 2\n        version: 16\n        columns:\n          - name: x\n            type: label\n          - type: gauge\n";
/// let set = MetricSet::from_sources(&[Source::new("t.yaml", yaml, SourceFormat::Yaml)]).unwrap();
/// assert_eq!(
///     family_table(&set),
///     "| family | type | labels | PostgreSQL | collector |\n|---|---|---|---|---|\n\
///      | `pgexporter_t` | gauge | server, x, database | 13+ | c |\n"
/// );
/// ```
pub fn family_table(set: &MetricSet) -> String {
    let mut table = String::from(
        "| family | type | labels | PostgreSQL | collector |\n|---|---|---|---|---|\n",
    );
    for definition in set.definitions() {
        for (name, kind) in value_columns(definition) {
            let family = super::model::ColumnDefinition {
                name: name.map(str::to_owned),
                kind,
                description: String::new(),
            }
            .family_name(&definition.tag)
            .expect("a value column");
            let _ = writeln!(
                table,
                "| `{family}` | {} | {} | {} | {} |",
                kind_word(kind),
                labels(definition, name).join(", "),
                versions(definition, name),
                definition.collector
            );
        }
    }
    table
}

/// The value columns of every variant, each name once, in order of first appearance.
fn value_columns(definition: &MetricDefinition) -> Vec<(Option<&str>, ColumnKind)> {
    let mut columns: Vec<(Option<&str>, ColumnKind)> = Vec::new();
    for variant in &definition.queries {
        for (_, column) in variant.values() {
            let name = column.name.as_deref();
            if !columns.iter().any(|(known, _)| *known == name) {
                columns.push((name, column.kind));
            }
        }
    }
    columns
}

fn kind_word(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Label => "label",
        ColumnKind::Gauge => "gauge",
        ColumnKind::Counter => "counter",
        ColumnKind::Histogram => "histogram",
    }
}

/// `server`, then the family's label columns of every variant with the column, then
/// `database` unless a label column is named so: the order of the samples' labels.
fn labels<'a>(definition: &'a MetricDefinition, column: Option<&'a str>) -> Vec<&'a str> {
    let mut labels = vec!["server"];
    for variant in with_column(definition, column) {
        for (_, label) in variant.labels_of(column) {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
    }
    if !labels.contains(&"database") {
        labels.push("database");
    }
    labels
}

fn with_column<'a>(
    definition: &'a MetricDefinition,
    column: Option<&'a str>,
) -> impl Iterator<Item = &'a super::model::QueryVariant> {
    definition.queries.iter().filter(move |variant| {
        variant
            .values()
            .any(|(_, value)| value.name.as_deref() == column)
    })
}

/// The major versions whose chosen variant has the column, as `13+`, `14–16` or `13–16, 18+`.
fn versions(definition: &MetricDefinition, column: Option<&str>) -> String {
    let mut ranges: Vec<(u32, Option<u32>)> = Vec::new();
    for (index, variant) in definition.queries.iter().enumerate() {
        if !variant
            .values()
            .any(|(_, value)| value.name.as_deref() == column)
        {
            continue;
        }
        let from = variant.min_version.max(OLDEST_DOCUMENTED);
        let to = definition
            .queries
            .get(index + 1)
            .map(|next| next.min_version.saturating_sub(1));
        match ranges.last_mut() {
            Some((_, end @ Some(_))) if end.is_some_and(|end| end + 1 == from) => *end = to,
            _ => ranges.push((from, to)),
        }
    }
    ranges
        .iter()
        .map(|(from, to)| match to {
            None => format!("{from}+"),
            Some(to) if to == from => from.to_string(),
            Some(to) => format!("{from}–{to}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
