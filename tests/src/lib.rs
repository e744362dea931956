//! Support for the end-to-end tests: a throwaway PostgreSQL cluster, the built binaries and a
//! running exporter; and the entry points of the fuzz targets, shared with `fuzz/`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binaries;
pub mod browser;
pub mod client;
pub mod cluster;
pub mod exporter;
pub mod fuzz_entry;
pub mod http_client;
pub mod measure;
pub mod node_exporter;
pub mod pg_client;
pub mod processes;
pub mod prometheus;
pub mod promtool;
pub mod reference;
pub mod reference_extensions;

pub use cluster::{ClusterOptions, PgCluster};
