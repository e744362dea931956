//! Reading one metrics file (YAML or JSON text) into validated definitions.
//!
//! The accepted shape is the reference exporter's: a top-level `version` (default minimum
//! server major version) and `metrics`, a list of metrics with `tag` (or its alias `metric`),
//! `collector`, optional `sort`, `server`, `database`, `optional`, `ttl` (ours), and `queries`, each with
//! `query`, optional `version` and `columns` (`name`, `type`, `description`). Unknown keys are
//! errors, as in the reference, so a misspelt key is never silently ignored.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{DefinitionError, Place};
use super::model::{
    ColumnDefinition, ColumnKind, MetricDefinition, QueryVariant, ServerRole, Sort,
};

/// Largest metrics file accepted, in bytes; refused before parsing.
pub const MAX_SOURCE_LEN: usize = 4 * 1024 * 1024;

/// The syntax of a metrics source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// `*.yaml` / `*.yml`.
    Yaml,
    /// `*.json`, the same keys as YAML.
    Json,
}

/// A metrics file's name (for messages) and contents.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Shown in errors; usually the path.
    pub name: &'a str,
    /// The file contents.
    pub text: &'a str,
    /// How to read `text`.
    pub format: SourceFormat,
}

impl<'a> Source<'a> {
    /// A source named `name` holding `text` in `format`.
    pub fn new(name: &'a str, text: &'a str, format: SourceFormat) -> Self {
        Source { name, text, format }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    version: u32,
    metrics: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    #[serde(alias = "metric")]
    tag: Spanned<String>,
    collector: String,
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    server: ServerRole,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    ttl: Option<RawDuration>,
    queries: Vec<RawQuery>,
}

/// A duration as written: seconds as a number, or text with a unit as in the configuration
/// file (`90`, `"90s"`, `5m`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// The longest `ttl` accepted.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Reads a `ttl`: zero means none; anything else lies between one second and [`MAX_TTL`].
fn read_ttl(raw: Option<RawDuration>) -> Result<Option<Duration>, String> {
    let ttl = match raw {
        None => return Ok(None),
        Some(RawDuration::Seconds(seconds)) => Duration::from_secs(seconds),
        Some(RawDuration::Text(text)) => {
            crate::config::values::parse_duration(&text).map_err(|error| format!("ttl: {error}"))?
        }
    };
    if ttl.is_zero() {
        return Ok(None);
    }
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err(format!(
            "ttl must be zero or between 1s and {}h",
            MAX_TTL.as_secs() / 3600
        ));
    }
    Ok(Some(ttl))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    query: String,
    version: Option<u32>,
    columns: Vec<RawColumn>,
}

/// One entry of a query's `columns`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawColumn {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: ColumnKind,
    description: Option<String>,
}

/// Parses and validates one source into its metric definitions, in file order.
///
/// Errors name the source, and the line and column where the YAML parser knows them.
pub fn parse_source(source: &Source<'_>) -> Result<Vec<MetricDefinition>, DefinitionError> {
    let raw: RawFile = read_raw(source)?;
    raw.metrics
        .into_iter()
        .map(|metric| validate_metric(source.name, raw.version, metric))
        .collect()
}

/// Deserializes `source` into `T`, refusing sources over [`MAX_SOURCE_LEN`] before parsing.
/// Errors name the source, and the line and column where the parser knows them.
pub(crate) fn read_raw<T: serde::de::DeserializeOwned>(
    source: &Source<'_>,
) -> Result<T, DefinitionError> {
    if source.text.len() > MAX_SOURCE_LEN {
        return Err(DefinitionError::Syntax {
            place: Place {
                file: source.name.to_owned(),
                line: 0,
                column: 0,
            },
            message: format!("larger than {MAX_SOURCE_LEN} bytes"),
        });
    }
    Ok(match source.format {
        SourceFormat::Yaml => serde_saphyr::from_str(source.text).map_err(|error| {
            let (line, column) = error
                .location()
                .map_or((0, 0), |location| (location.line(), location.column()));
            DefinitionError::Syntax {
                place: Place {
                    file: source.name.to_owned(),
                    line,
                    column,
                },
                message: first_line(&error.to_string()),
            }
        })?,
        SourceFormat::Json => {
            serde_json::from_str(source.text).map_err(|error| DefinitionError::Syntax {
                place: Place {
                    file: source.name.to_owned(),
                    line: error.line() as u64,
                    column: error.column() as u64,
                },
                message: strip_json_position(&error.to_string()),
            })?
        }
    })
}

/// The first line of a parser message (serde-saphyr appends a source excerpt after it), without
/// the "error: line L column C: " it opens with, which `Place` already shows.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.strip_prefix("error: line ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(position, _)| position.contains(" column "))
        .map_or(line, |(_, explanation)| explanation)
        .to_owned()
}

/// serde_json ends its messages with " at line L column C", which `Place` already shows.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

fn validate_metric(
    file: &str,
    default_version: u32,
    raw: RawMetric,
) -> Result<MetricDefinition, DefinitionError> {
    let place = Place {
        file: file.to_owned(),
        line: raw.tag.referenced.line(),
        column: raw.tag.referenced.column(),
    };
    let tag = raw.tag.value;
    let invalid = |message: String| DefinitionError::Invalid {
        place: place.clone(),
        tag: tag.clone(),
        message,
    };
    if !is_metric_name(&tag) {
        return Err(invalid(
            "the tag must be letters, digits and '_', not starting with a digit".to_owned(),
        ));
    }
    if raw.collector.trim().is_empty() {
        return Err(invalid("the collector is empty".to_owned()));
    }
    if raw.queries.is_empty() {
        return Err(invalid("no queries".to_owned()));
    }
    let ttl = read_ttl(raw.ttl).map_err(invalid)?;
    let mut queries = Vec::with_capacity(raw.queries.len());
    for query in raw.queries {
        let min_version = query.version.unwrap_or(default_version);
        if queries
            .iter()
            .any(|known: &QueryVariant| known.min_version == min_version)
        {
            return Err(invalid(format!("two queries for version {min_version}")));
        }
        queries.push(validate_query(min_version, query).map_err(invalid)?);
    }
    queries.sort_by_key(|variant| variant.min_version);
    Ok(MetricDefinition {
        tag: tag.clone(),
        collector: raw.collector,
        sort: raw.sort,
        server: raw.server,
        all_databases: raw.database.as_deref() == Some("all"),
        optional: raw.optional,
        ttl,
        queries,
        extension: None,
        place,
    })
}

fn validate_query(min_version: u32, raw: RawQuery) -> Result<QueryVariant, String> {
    let context = |message: String| format!("query for version {min_version}: {message}");
    if raw.query.trim().is_empty() {
        return Err(context("the SQL is empty".to_owned()));
    }
    if raw.columns.is_empty() {
        return Err(context("no columns".to_owned()));
    }
    Ok(QueryVariant {
        min_version,
        extension_version: None,
        sql: raw.query,
        columns: validate_columns(raw.columns).map_err(context)?,
    })
}

/// Checks a query's columns: names Prometheus accepts, each name once, at most one unnamed
/// value column, at least one value column.
pub(super) fn validate_columns(raw: Vec<RawColumn>) -> Result<Vec<ColumnDefinition>, String> {
    let mut columns: Vec<ColumnDefinition> = Vec::with_capacity(raw.len());
    for column in raw {
        match (&column.name, column.kind) {
            (None, ColumnKind::Label | ColumnKind::Histogram) => {
                return Err(format!("a {} column needs a name", kind_word(column.kind)));
            }
            (Some(name), _) if !is_label_name(name) => {
                return Err(format!(
                    "column name '{name}' must be letters, digits and '_', not starting with a digit or '__'"
                ));
            }
            _ => {}
        }
        if let Some(name) = &column.name
            && columns
                .iter()
                .any(|known| known.name.as_ref() == Some(name))
        {
            return Err(format!("column '{name}' appears twice"));
        }
        if column.name.is_none() && columns.iter().any(|known| known.name.is_none()) {
            return Err("more than one unnamed value column".to_owned());
        }
        let names_the_tag = |kind: ColumnKind, name: &Option<String>| {
            kind == ColumnKind::Histogram || name.is_none()
        };
        if column.kind.is_value()
            && names_the_tag(column.kind, &column.name)
            && columns
                .iter()
                .any(|known| known.kind.is_value() && names_the_tag(known.kind, &known.name))
        {
            return Err(
                "a histogram and an unnamed column (or two histograms) would both be the family pgexporter_<tag>"
                    .to_owned(),
            );
        }
        columns.push(ColumnDefinition {
            name: column.name,
            kind: column.kind,
            description: column.description.unwrap_or_default(),
        });
    }
    if !columns.iter().any(|column| column.kind.is_value()) {
        return Err("no value column (gauge, counter or histogram)".to_owned());
    }
    Ok(columns)
}

fn kind_word(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Label => "label",
        ColumnKind::Gauge => "gauge",
        ColumnKind::Counter => "counter",
        ColumnKind::Histogram => "histogram",
    }
}

/// Prometheus metric-name characters (colons excluded: they are reserved for recording rules).
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus label-name characters; names starting with `__` are reserved.
fn is_label_name(name: &str) -> bool {
    is_metric_name(name) && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Vec<MetricDefinition>, DefinitionError> {
        parse_source(&Source::new("m.yaml", text, SourceFormat::Yaml))
    }

    fn json(text: &str) -> Result<Vec<MetricDefinition>, DefinitionError> {
        parse_source(&Source::new("m.json", text, SourceFormat::Json))
    }

    const FULL: &str = "\
version: 13
metrics:
  - tag: table_size
    collector: size
    sort: data
    server: primary
    database: all
    optional: true
    ttl: 5m
    queries:
      - query: SELECT relname, pg_relation_size(oid) AS bytes FROM pg_class
        columns:
          - name: relname
            type: label
          - name: bytes
            type: gauge
            description: Table size in bytes
      - query: SELECT relname, 1 AS bytes FROM pg_class
        version: 16
        columns:
          - name: relname
            type: label
          - name: bytes
            type: counter
  - metric: plain
    collector: custom
    queries:
      - query: SELECT 1
        columns:
          - type: gauge
";

    #[test]
    fn every_key_is_read() {
        let metrics = yaml(FULL).unwrap();
        assert_eq!(metrics.len(), 2);
        let size = &metrics[0];
        assert_eq!(size.tag, "table_size");
        assert_eq!(size.collector, "size");
        assert_eq!(size.sort, Sort::Data);
        assert_eq!(size.server, ServerRole::Primary);
        assert!(size.all_databases);
        assert!(size.optional);
        assert_eq!(size.ttl, Some(std::time::Duration::from_secs(300)));
        assert_eq!(size.place.to_string(), "m.yaml:3:10");
        assert_eq!(size.queries.len(), 2);
        assert_eq!(size.queries[0].min_version, 13);
        assert_eq!(size.queries[1].min_version, 16);
        assert_eq!(
            size.queries[0].columns[1].description,
            "Table size in bytes"
        );
        assert_eq!(size.queries[1].columns[1].kind, ColumnKind::Counter);
        let labels: Vec<_> = size.queries[0].labels().collect();
        assert_eq!(labels, vec![(0, "relname")]);

        let plain = &metrics[1];
        assert_eq!(plain.tag, "plain", "`metric` is an alias of `tag`");
        assert_eq!(plain.sort, Sort::Name);
        assert_eq!(plain.server, ServerRole::Both);
        assert!(!plain.all_databases);
        assert!(!plain.optional);
        assert_eq!(plain.ttl, None);
        assert_eq!(
            plain.queries[0].min_version, 13,
            "the file's version is the default"
        );
        assert_eq!(plain.family_names(), vec!["pgexporter_plain".to_owned()]);
    }

    #[test]
    fn json_reads_the_same_keys() {
        let text = r#"{"version": 14, "metrics": [{"tag": "x", "collector": "c", "ttl": 90,
            "queries": [{"query": "SELECT 1 AS v", "columns": [{"name": "v", "type": "gauge"}]}]}]}"#;
        let metrics = json(text).unwrap();
        assert_eq!(metrics[0].tag, "x");
        assert_eq!(metrics[0].queries[0].min_version, 14);
        assert_eq!(metrics[0].ttl, Some(std::time::Duration::from_secs(90)));
        assert_eq!(metrics[0].family_names(), vec!["pgexporter_x_v".to_owned()]);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let error = yaml("metrics:\n  - tag: a\n    collector: c\n    colums: []\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("m.yaml:4:"), "{text}");
        assert!(text.contains("colums"), "{text}");
        assert!(!text.contains("line 4"), "the place once: {text}");

        let error = json("{\"metrics\": [}").unwrap_err();
        assert!(error.to_string().starts_with("m.json:1:"), "{error}");

        let error =
            yaml("metrics:\n  - tag: a\n    collector: c\n    sort: sideways\n    queries: []\n")
                .unwrap_err();
        assert!(error.to_string().contains("sideways"), "{error}");
    }

    #[test]
    fn missing_collector_is_an_error() {
        let error = yaml("metrics:\n  - tag: a\n    queries: []\n").unwrap_err();
        assert!(error.to_string().contains("collector"), "{error}");
        let error = yaml("metrics:\n  - queries: []\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "m.yaml:2:5: missing field `tag`",
            "an entry without a tag, as two of the reference's contrib files have"
        );
    }

    #[test]
    fn rule_violations_name_the_metric() {
        let cases = [
            (
                "metrics:\n  - tag: 9lives\n    collector: c\n    queries: []\n",
                "the tag must be",
            ),
            (
                "metrics:\n  - tag: a\n    collector: ' '\n    queries: []\n",
                "collector is empty",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries: []\n",
                "no queries",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns: []\n",
                "no columns",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - name: l\n            type: label\n",
                "no value column",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: label\n",
                "label column needs a name",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: histogram\n",
                "histogram column needs a name",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - name: __x\n            type: gauge\n",
                "column name '__x'",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - name: v\n            type: gauge\n          - name: v\n            type: counter\n",
                "column 'v' appears twice",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n          - type: counter\n",
                "more than one unnamed",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: ' '\n        columns:\n          - type: gauge\n",
                "SQL is empty",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n      - query: SELECT 2\n        columns:\n          - type: gauge\n",
                "two queries for version 0",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    ttl: 500ms\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n",
                "ttl must be zero or between 1s and 24h",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    ttl: 2d\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n",
                "ttl must be zero or between 1s and 24h",
            ),
            (
                "metrics:\n  - tag: a\n    collector: c\n    ttl: soon\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n",
                "ttl: invalid duration 'soon'",
            ),
        ];
        for (text, expected) in cases {
            let error = yaml(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?} gave {error}");
            assert!(error.starts_with("m.yaml:2:"), "{error}");
        }
    }

    #[test]
    fn oversized_sources_are_refused_before_parsing() {
        let text = "#".repeat(MAX_SOURCE_LEN + 1);
        let error = yaml(&text).unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
    }

    #[test]
    fn variant_selection_takes_the_newest_that_fits() {
        let metrics = yaml(FULL).unwrap();
        let size = &metrics[0];
        assert_eq!(size.variant_for(12), None);
        assert_eq!(size.variant_for(13).unwrap().min_version, 13);
        assert_eq!(size.variant_for(15).unwrap().min_version, 13);
        assert_eq!(size.variant_for(16).unwrap().min_version, 16);
        assert_eq!(size.variant_for(18).unwrap().min_version, 16);
        assert!(size.runs_on(true));
        assert!(!size.runs_on(false));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = yaml(&text);
            let _ = json(&text);
        }
    }
}
