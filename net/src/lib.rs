//! Blocking network plumbing and the TLS pump shared by every runtime and binary.
//!
//! - [`tls`]: the sans-IO TLS pump and the libpq-style client configuration.
//! - [`pg`]: [`pg::PgClient`], a blocking PostgreSQL client driving the core's connection.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod pg;
pub mod tls;
