//! TLS without IO: a pump over a rustls connection, and the client configuration that PostgreSQL
//! connections use.
//!
//! The pump ([`TlsPump`]) moves bytes between a transport and the plaintext side; whoever owns
//! the socket (a runtime, the blocking driver) does the reading and writing. The configuration
//! ([`client_config`]) follows libpq: without a CA file the connection is encrypted but the
//! server is not verified (`sslmode=require`); with one, the server's chain is verified against
//! it but its host name is not checked (`sslmode=verify-ca`).

mod config;
mod pump;
#[cfg(test)]
mod test_support;
mod verify;

pub use config::{TlsClientFiles, TlsConfigError, TlsServerFiles, client_config, server_config};
pub use pump::{TlsError, TlsPump};
