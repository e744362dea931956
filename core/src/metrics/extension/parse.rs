//! Reading one extension definition file, in the reference exporter's format.
//!
//! ```yaml
//! extension: pg_stat_statements      # the extension the metrics read
//! metrics:
//!   - metric: most_executed          # families pgexporter_<extension>_<metric>[_<column>]
//!     collector: pg_stat_statements  # optional: the extension's name
//!     sort: name                     # optional, as in metric files
//!     server: both                   # optional: both | primary | replica
//!     database: all                  # optional: every database where it is installed
//!     optional: false                # optional: failures are logged at debug level
//!     queries:
//!       - query: SELECT ...
//!         version: "1.8"             # the oldest extension version it is for
//!         columns: [...]             # a query without columns is skipped
//! ```
//!
//! `tag` is accepted for `metric`. Versions are extension versions, compared as versions; a
//! version written as a bare number (`version: 1.10`) is read as its text, never as a float.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::super::error::{DefinitionError, Place};
use super::super::model::{MetricDefinition, QueryVariant, ServerRole, Sort};
use super::super::parse::{RawColumn, Source, is_metric_name, read_raw, validate_columns};
use super::version::ExtensionVersion;

/// The text in an extension query's SQL that stands for the number of statements a per-query
/// family reports (`extensions_top_statements`).
pub const TOP_STATEMENTS_PLACEHOLDER: &str = "{{top_statements}}";

/// One extension's definitions, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionFile {
    /// The extension's name, as `pg_extension.extname` writes it.
    pub extension: String,
    /// Its metrics; each has `extension` set and its variants keyed by extension version.
    pub definitions: Vec<MetricDefinition>,
    /// Where the `extension` key was written.
    pub place: Place,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensionFile {
    extension: Spanned<String>,
    metrics: Vec<RawExtensionMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensionMetric {
    #[serde(alias = "tag")]
    metric: Spanned<String>,
    collector: Option<String>,
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    server: ServerRole,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    optional: bool,
    queries: Vec<RawExtensionQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensionQuery {
    query: String,
    version: Option<Spanned<String>>,
    #[serde(default)]
    columns: Vec<RawColumn>,
}

/// Parses and checks one extension definition file. `top_statements` replaces
/// [`TOP_STATEMENTS_PLACEHOLDER`] in every query.
///
/// Errors name the source and, where the YAML parser knows them, the line and column: an
/// extension or metric name that cannot be part of a family name, a version that is not one,
/// two queries of a metric for one version, columns that metric files would refuse.
pub fn parse_extension_source(
    source: &Source<'_>,
    top_statements: u32,
) -> Result<ExtensionFile, DefinitionError> {
    let raw: RawExtensionFile = read_raw(source)?;
    let place = place_of(source, &raw.extension);
    let extension = raw.extension.value;
    if !is_metric_name(&extension) {
        return Err(DefinitionError::Invalid {
            place,
            tag: extension,
            message: "the extension name must be letters, digits and '_'".to_owned(),
        });
    }
    let mut definitions = Vec::with_capacity(raw.metrics.len());
    for metric in raw.metrics {
        if let Some(definition) = validate_metric(source, &extension, metric, top_statements)? {
            definitions.push(definition);
        }
    }
    Ok(ExtensionFile {
        extension,
        definitions,
        place,
    })
}

fn place_of<T>(source: &Source<'_>, spanned: &Spanned<T>) -> Place {
    Place {
        file: source.name.to_owned(),
        line: spanned.referenced.line(),
        column: spanned.referenced.column(),
    }
}

/// The metric's definition; `None` when none of its queries has columns.
fn validate_metric(
    source: &Source<'_>,
    extension: &str,
    raw: RawExtensionMetric,
    top_statements: u32,
) -> Result<Option<MetricDefinition>, DefinitionError> {
    let place = place_of(source, &raw.metric);
    let tag = format!("{extension}_{}", raw.metric.value);
    let invalid = |place: &Place, message: String| DefinitionError::Invalid {
        place: place.clone(),
        tag: tag.clone(),
        message,
    };
    if !is_metric_name(&raw.metric.value) {
        return Err(invalid(
            &place,
            "the metric name must be letters, digits and '_'".to_owned(),
        ));
    }
    let collector = raw.collector.unwrap_or_else(|| extension.to_owned());
    if collector.trim().is_empty() {
        return Err(invalid(&place, "the collector is empty".to_owned()));
    }
    let mut queries: Vec<QueryVariant> = Vec::with_capacity(raw.queries.len());
    for query in raw.queries {
        let version_place = query
            .version
            .as_ref()
            .map_or_else(|| place.clone(), |version| place_of(source, version));
        let version = match &query.version {
            Some(text) => ExtensionVersion::parse(&text.value)
                .map_err(|error| invalid(&version_place, error.to_string()))?,
            None => ExtensionVersion::lowest(),
        };
        if query.columns.is_empty() {
            continue;
        }
        let context = |message: String| format!("query for version {version}: {message}");
        if queries
            .iter()
            .any(|known| known.extension_version.as_ref() == Some(&version))
        {
            return Err(invalid(
                &version_place,
                context("a second query".to_owned()),
            ));
        }
        if query.query.trim().is_empty() {
            return Err(invalid(
                &version_place,
                context("the SQL is empty".to_owned()),
            ));
        }
        let columns = validate_columns(query.columns)
            .map_err(|message| invalid(&version_place, context(message)))?;
        queries.push(QueryVariant {
            min_version: 0,
            extension_version: Some(version),
            sql: query
                .query
                .replace(TOP_STATEMENTS_PLACEHOLDER, &top_statements.to_string()),
            columns,
        });
    }
    if queries.is_empty() {
        return Ok(None);
    }
    queries.sort_by(|a, b| a.extension_version.cmp(&b.extension_version));
    Ok(Some(MetricDefinition {
        tag,
        collector,
        sort: raw.sort,
        server: raw.server,
        all_databases: raw.database.as_deref() == Some("all"),
        optional: raw.optional,
        ttl: None,
        queries,
        extension: Some(extension.to_owned()),
        place,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SourceFormat;

    fn parse(text: &str) -> Result<ExtensionFile, DefinitionError> {
        parse_extension_source(&Source::new("ext.yaml", text, SourceFormat::Yaml), 25)
    }

    fn version(text: &str) -> ExtensionVersion {
        ExtensionVersion::parse(text).unwrap()
    }

    /// The shapes the reference's files use: a comment block, `metric`, quoted and bare
    /// versions, descriptions on label columns, trailing semicolons and blanks, a multi-line
    /// plain scalar, and a query without columns.
    const REFERENCE_SHAPED: &str = "\
#
# A comment block, as at the top of every file.
#

extension: pg_demo
metrics:

# A comment between the key and the list.

  - metric: activity
    queries:
      - query: SELECT current_database() as database,
                  count(*) as sessions
                FROM pg_stat_activity;
        version: \"1.9\"
        columns:
          - name: database
            type: label
            description: The database.
          - name: sessions
            type: gauge  
            description: Sessions.
      - query: SELECT 1 AS sessions, 'x' AS database
        version: 1.10
        columns:
          - name: database
            type: label
          - name: sessions
            type: counter
      - query: SELECT 'no columns'
        version: \"1.2\"

  - tag: statements
    collector: statements
    database: all
    server: primary
    sort: data
    optional: true
    queries:
      - query: SELECT 1 AS calls LIMIT {{top_statements}}
        version: \"2.0.2\"
        columns:
          - name: calls
            type: counter

  - metric: skipped
    queries:
      - query: SELECT 1
        version: \"1.0\"
";

    #[test]
    fn the_reference_shape_is_read() {
        let file = parse(REFERENCE_SHAPED).unwrap();
        assert_eq!(file.extension, "pg_demo");
        assert_eq!(file.place.to_string(), "ext.yaml:5:12");
        let tags: Vec<&str> = file.definitions.iter().map(|d| d.tag.as_str()).collect();
        assert_eq!(
            tags,
            ["pg_demo_activity", "pg_demo_statements"],
            "a metric without columns is skipped"
        );

        let activity = &file.definitions[0];
        assert_eq!(
            activity.collector, "pg_demo",
            "the collector defaults to the extension"
        );
        assert_eq!(activity.extension.as_deref(), Some("pg_demo"));
        assert!(!activity.all_databases);
        let versions: Vec<&str> = activity
            .queries
            .iter()
            .map(|q| q.extension_version.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(
            versions,
            ["1.9", "1.10"],
            "sorted as versions; the query without columns is skipped"
        );
        assert!(activity.queries[0].sql.contains("FROM pg_stat_activity;"));
        assert_eq!(
            activity.family_names(),
            ["pgexporter_pg_demo_activity_sessions"]
        );

        let statements = &file.definitions[1];
        assert_eq!(statements.collector, "statements");
        assert!(statements.all_databases && statements.optional);
        assert_eq!(statements.server, ServerRole::Primary);
        assert_eq!(statements.sort, Sort::Data);
        assert_eq!(statements.queries[0].sql, "SELECT 1 AS calls LIMIT 25");
    }

    #[test]
    fn the_variant_is_the_highest_not_above_the_installed_version() {
        let file = parse(REFERENCE_SHAPED).unwrap();
        let activity = &file.definitions[0];
        assert_eq!(activity.variant_index_for_extension(&version("1.8")), None);
        assert_eq!(
            activity.variant_index_for_extension(&version("1.9")),
            Some(0)
        );
        assert_eq!(
            activity.variant_index_for_extension(&version("1.9.5")),
            Some(0)
        );
        assert_eq!(
            activity.variant_index_for_extension(&version("1.10")),
            Some(1)
        );
        assert_eq!(
            activity.variant_index_for_extension(&version("1.11")),
            Some(1)
        );
        assert_eq!(
            activity.variant_index_for_extension(&version("1.10-dev")),
            Some(0)
        );
    }

    #[test]
    fn mistakes_name_the_place() {
        let cases = [
            (
                "extension: uuid-ossp\nmetrics: []\n",
                "ext.yaml:1:12",
                "extension name",
            ),
            (
                "extension: e\nmetrics:\n  - metric: 9x\n    queries: []\n",
                "ext.yaml:3:13",
                "metric name",
            ),
            (
                "extension: e\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: one\n        columns: [{type: gauge}]\n",
                "ext.yaml:6:18",
                "'one' is not an extension version",
            ),
            (
                "extension: e\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: '1.0'\n        columns: [{type: gauge}]\n      - query: SELECT 2\n        version: '1'\n        columns: [{type: gauge}]\n",
                "ext.yaml:9:18",
                "query for version 1: a second query",
            ),
            (
                "extension: e\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: '1.0'\n        columns: [{name: x, type: label}]\n",
                "ext.yaml:6:18",
                "no value column",
            ),
            (
                "extension: e\nmetrics:\n  - metric: m\n    collector: ''\n    queries: []\n",
                "ext.yaml:3:13",
                "collector is empty",
            ),
            (
                "extension: e\nmetrics:\n  - metric: m\n    colums: []\n",
                "ext.yaml:4:",
                "colums",
            ),
            ("metrics: []\n", "ext.yaml:", "extension"),
        ];
        for (text, place, message) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with(place), "{text:?} gave {error}");
            assert!(error.contains(message), "{text:?} gave {error}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
