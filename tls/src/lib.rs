//! TLS for every connection of pgexporter, without IO: rustls behind the core's machine
//! contract, and the configurations built from the PEM files a plan names.
//!
//! - [`Tls`]: the adapter around any core [`Machine`](pgexporter_core::machine::Machine):
//!   TLS from the first byte, or when the machine asks for it; a runtime only moves bytes.
//! - [`TlsConfigs`]: configurations by file set, and the adapter for a listener or a target.
//! - [`TlsPump`]: a rustls connection with the IO taken out, under the adapter.
//! - [`client_config`] / [`server_config`]: building configurations from PEM files. Clients
//!   follow libpq: without a CA file the connection is encrypted but the server is not
//!   verified (`sslmode=require`); with one, the server's chain is verified against it but its
//!   host name is not checked (`sslmode=verify-ca`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
mod config;
mod configs;
mod pump;
#[cfg(test)]
mod test_support;
mod verify;

pub use adapter::Tls;
pub use config::{TlsConfigError, client_config, server_config};
pub use configs::{SetupError, TlsConfigs};
pub use pump::{TlsError, TlsPump};
