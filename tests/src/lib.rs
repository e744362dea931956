//! Support for the end-to-end tests: a throwaway PostgreSQL cluster and the built binaries; and
//! the entry points of the fuzz targets, shared with `fuzz/`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binaries;
pub mod client;
pub mod cluster;
pub mod fuzz_entry;

pub use cluster::{ClusterOptions, PgCluster};
