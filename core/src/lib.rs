//! The sans-IO core of pgexporter.
//!
//! Every protocol and every decision lives here; nothing here touches a socket, a file, a clock
//! or a random source. Time, randomness, file contents and environment values are passed in by
//! the caller (a runtime or a binary).
//!
//! # Driving a state machine
//!
//! Every byte-level state machine of this crate (a PostgreSQL connection, an HTTP connection,
//! a management session) implements one contract, [`machine::Machine`]: `handle_input`,
//! `handle_timeout`, `handle_eof`, then drain `poll_transmit` and `poll_event` until both are
//! empty, and wait for IO until `poll_timeout`. What the peer did wrong is an event; a
//! `Result` only reports the caller misusing an API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alerts;
pub mod bridge;
pub mod config;
pub mod console;
pub mod daemon;
pub mod exposition;
pub mod fetch;
mod flight;
pub mod history;
pub mod http;
pub mod link;
pub mod machine;
pub mod management;
pub mod metrics;
pub mod pg;
pub mod plan;
pub mod scram;
pub mod scrape;
pub mod secret;
pub mod serve;
pub mod source;
#[cfg(test)]
mod test_clock;
pub mod vault;
