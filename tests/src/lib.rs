//! Support for the end-to-end tests: a throwaway PostgreSQL cluster and the built binaries.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binaries;
pub mod client;
pub mod cluster;

pub use cluster::{ClusterOptions, PgCluster};
