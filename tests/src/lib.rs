//! Support for the end-to-end tests: a throwaway PostgreSQL cluster and the built binaries.

pub mod binaries;
pub mod client;
pub mod cluster;

pub use cluster::{ClusterOptions, PgCluster};
