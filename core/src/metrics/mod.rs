//! Metric definitions: the YAML/JSON model of custom metric files, the extension definition
//! files, the set of definitions a scrape runs, and the choices made per server (query variant
//! by server or extension version, role, collector, enabled extensions).
//!
//! Parsing takes file contents, never paths: the binaries read the files and pass the text in.
//!
//! ```
//! use pgexporter_core::metrics::{MetricSet, SourceFormat, Source};
//!
//! let yaml = "
//! metrics:
//!   - tag: connections
//!     collector: custom
//!     queries:
//!       - query: SELECT count(*) FROM pg_stat_activity
//!         columns:
//!           - type: gauge
//!             description: Open connections
//! ";
//! let set = MetricSet::from_sources(&[Source::new("custom.yaml", yaml, SourceFormat::Yaml)]).unwrap();
//! let metric = &set.definitions()[0];
//! assert_eq!(metric.tag, "connections");
//! let variant = metric.variant_for(15).unwrap();
//! assert_eq!(variant.columns[0].family_name(&metric.tag).as_deref(), Some("pgexporter_connections"));
//! ```

mod builtin;
mod error;
mod extension;
mod fixed;
mod model;
mod parse;
mod select;
mod set;
mod table;

pub use builtin::BUILTIN_SOURCES;
pub use error::{DefinitionError, Place};
pub use extension::{
    BUILTIN_EXTENSION_SOURCES, DEFAULT_TOP_STATEMENTS, ExtensionFile, ExtensionVersion,
    TOP_STATEMENTS_PLACEHOLDER, VersionError, load_extensions, parse_extension_source,
};
pub use fixed::{
    COLLECTOR_DURATION, COLLECTOR_SERIES, COLLECTOR_SUCCESS, EXTENSION_INFO_COLLECTOR,
    FIXED_FAMILIES, PRIMARY_COLLECTOR, SETTINGS_COLLECTOR, SETTINGS_PREFIX, is_fixed_family,
};
pub use model::{ColumnDefinition, ColumnKind, MetricDefinition, QueryVariant, ServerRole, Sort};
pub use parse::{MAX_SOURCE_LEN, Source, SourceFormat, parse_source};
pub(crate) use parse::{is_metric_name, read_raw};
pub use select::{CollectorFilter, ExtensionFilter};
pub use set::{MetricSet, SetAside};
pub use table::family_table;
