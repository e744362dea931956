//! Drives pgexporter's core on any single-threaded async executor.
//!
//! An executor (tokio, smol) implements [`Executor`]: sockets, timers, spawning, blocking work
//! and signals. Everything else is written once, here:
//!
//! - [`pump`](crate::pump): one connection, any core machine over any stream: bytes in and
//!   out, its events to the daemon, the daemon's messages to it, its timeouts.
//! - the accept loops: every listener of the plan, each accepted socket becoming the
//!   [`Service`](pgexporter_core::serve::Service) its listener asks for, behind its TLS.
//! - the daemon's loop ([`serve`]): the core's [`Daemon`](pgexporter_core::daemon::Daemon)
//!   fed with jobs, link events, host results, signals and timeouts, and its actions carried
//!   out without a decision of its own.
//!
//! Shared state lives in one task's `Rc`; nothing here needs to be `Send`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod daemon_loop;
mod executor;
mod pump;

pub use daemon_loop::serve;
pub use executor::{Accept, Connected, Executor, Stream};
