//! Blocking network plumbing and the TLS pump shared by every runtime and binary.
//!
//! - [`tls`]: the sans-IO TLS pump and the libpq-style client configuration.
//! - [`pg`]: [`pg::PgClient`], a blocking PostgreSQL client driving the core's connection.
//! - [`transport`]: a connection's byte stream, plain or TLS, for every runtime.
//! - [`serve`]: the plan a runtime serves and the plumbing the runtimes share.
//! - [`collect`]: what every runtime's collector task does besides IO.
//! - [`control`]: the running configuration and what management commands and signals do.
//! - [`notify`]: service manager notifications.
//! - [`unix_socket`]: the management socket file.
//! - [`clock`]: the monotonic clock.
//! - [`random`]: random bytes from the operating system.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod collect;
pub mod control;
pub mod notify;
pub mod pg;
pub mod random;
pub mod serve;
pub mod tls;
pub mod transport;
pub mod unix_socket;
