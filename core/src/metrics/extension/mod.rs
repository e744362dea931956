//! Extension metrics: definition files in the reference exporter's format, one per extension,
//! whose queries run only where the extension is installed, the variant chosen by the
//! installed extension version.
//!
//! The exporter ships its own file for each extension of [`BUILTIN_EXTENSION_SOURCES`]; files
//! from `extensions_path` add extensions or replace the shipped file of the same extension.
//!
//! ```
//! use pgexporter_core::metrics::{ExtensionVersion, MetricSet, Source, SourceFormat, load_extensions};
//!
//! let mine = "extension: pg_stat_statements\nmetrics:\n  - metric: calls\n    queries:\n      - query: SELECT sum(calls) AS total FROM pg_stat_statements\n        version: '1.8'\n        columns: [{name: total, type: counter}]\n";
//! let files = load_extensions(&[Source::new("mine.yaml", mine, SourceFormat::Yaml)], 20).unwrap();
//! let statements = files.iter().find(|file| file.extension == "pg_stat_statements").unwrap();
//! assert_eq!(statements.definitions.len(), 1, "the shipped file is replaced");
//! let set = MetricSet::default().with_extensions(files).unwrap();
//! let calls = set.definitions().iter().find(|d| d.tag == "pg_stat_statements_calls").unwrap();
//! let installed = ExtensionVersion::parse("1.10").unwrap();
//! assert_eq!(calls.variant_index_for_extension(&installed), Some(0));
//! ```

mod builtin;
mod parse;
mod version;

use std::collections::HashMap;

pub use builtin::BUILTIN_EXTENSION_SOURCES;
pub use parse::{ExtensionFile, TOP_STATEMENTS_PLACEHOLDER, parse_extension_source};
pub use version::{ExtensionVersion, VersionError};

use super::error::DefinitionError;
use super::parse::{Source, SourceFormat};

/// The default of `extensions_top_statements`: how many statements the per-query families of
/// pg_stat_statements, pg_stat_monitor, pg_stat_kcache and pg_qualstats report.
pub const DEFAULT_TOP_STATEMENTS: u32 = 20;

/// The extension files to run: the shipped ones, each replaced by a file of `extra` for the
/// same extension, and the other files of `extra` added, in extension-name order.
/// `top_statements` fills [`TOP_STATEMENTS_PLACEHOLDER`].
///
/// Fails on the first file that does not parse or validate, and when two files of `extra` are
/// for the same extension; that error names both.
pub fn load_extensions(
    extra: &[Source<'_>],
    top_statements: u32,
) -> Result<Vec<ExtensionFile>, DefinitionError> {
    let mut by_extension: HashMap<String, ExtensionFile> = HashMap::new();
    for (name, text) in BUILTIN_EXTENSION_SOURCES {
        let file =
            parse_extension_source(&Source::new(name, text, SourceFormat::Yaml), top_statements)?;
        by_extension.insert(file.extension.clone(), file);
    }
    let mut replaced: HashMap<String, super::error::Place> = HashMap::new();
    for source in extra {
        let file = parse_extension_source(source, top_statements)?;
        if let Some(first) = replaced.get(&file.extension) {
            return Err(DefinitionError::Invalid {
                place: file.place,
                tag: file.extension,
                message: format!("the extension is also defined at {first}"),
            });
        }
        replaced.insert(file.extension.clone(), file.place.clone());
        by_extension.insert(file.extension.clone(), file);
    }
    let mut files: Vec<ExtensionFile> = by_extension.into_values().collect();
    files.sort_by(|a, b| a.extension.cmp(&b.extension));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<'a>(name: &'a str, text: &'a str) -> Source<'a> {
        Source::new(name, text, SourceFormat::Yaml)
    }

    #[test]
    fn every_shipped_file_loads() {
        let files = load_extensions(&[], DEFAULT_TOP_STATEMENTS).unwrap();
        let names: Vec<&str> = files.iter().map(|file| file.extension.as_str()).collect();
        assert_eq!(
            names,
            [
                "citus",
                "pg_buffercache",
                "pg_qualstats",
                "pg_stat_kcache",
                "pg_stat_monitor",
                "pg_stat_statements",
                "pg_wait_sampling",
                "pgcrypto",
                "pgexporter_ext",
                "pgstattuple",
                "postgis",
                "postgis_raster",
                "postgis_topology",
                "timescaledb",
                "vector",
            ]
        );
        for file in &files {
            assert!(!file.definitions.is_empty(), "{}", file.extension);
            for definition in &file.definitions {
                for variant in &definition.queries {
                    assert!(
                        !variant.sql.contains(TOP_STATEMENTS_PLACEHOLDER),
                        "{}",
                        definition.tag
                    );
                }
            }
        }
    }

    #[test]
    fn top_statements_reaches_the_per_query_families() {
        let files = load_extensions(&[], 7).unwrap();
        let statements = files
            .iter()
            .find(|file| file.extension == "pg_stat_statements")
            .unwrap();
        assert!(
            statements
                .definitions
                .iter()
                .flat_map(|definition| &definition.queries)
                .any(|variant| variant.sql.contains("LIMIT 7")),
            "no query of pg_stat_statements is limited to 7 statements"
        );
    }

    #[test]
    fn extra_files_add_and_replace() {
        let added = "extension: my_ext\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: '1'\n        columns: [{type: gauge}]\n";
        let replacing = "extension: pgcrypto\nmetrics: []\n";
        let files =
            load_extensions(&[yaml("a.yaml", added), yaml("b.yaml", replacing)], 20).unwrap();
        let by_name = |name: &str| files.iter().find(|file| file.extension == name).unwrap();
        assert_eq!(by_name("my_ext").definitions[0].tag, "my_ext_m");
        assert!(by_name("pgcrypto").definitions.is_empty());
        assert!(!by_name("pg_stat_statements").definitions.is_empty());
    }

    #[test]
    fn two_extra_files_for_one_extension_are_refused() {
        let text = "extension: pgcrypto\nmetrics: []\n";
        let error = load_extensions(&[yaml("a.yaml", text), yaml("b.yaml", text)], 20)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("b.yaml:1:12"), "{error}");
        assert!(error.contains("also defined at a.yaml:1:12"), "{error}");
    }
}
