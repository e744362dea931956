//! The sans-IO core of pgexporter.
//!
//! Every protocol and every decision lives here; nothing here touches a socket, a file, a clock
//! or a random source. Time, randomness, file contents and environment values are passed in by
//! the caller (a runtime or a binary).
//!
//! # Driving a state machine
//!
//! Every state machine in this crate has the same shape:
//!
//! ```text
//! handle_input(now, bytes)   bytes received from the peer
//! handle_timeout(now)        the instant returned by poll_timeout has passed
//! handle_eof(now)            the peer closed its side
//! poll_transmit(&mut out)    bytes to send are appended to `out`; false when there are none
//! poll_event()               what happened, one event at a time
//! poll_timeout()             when handle_timeout wants to be called next
//! ```
//!
//! After any `handle_*` call, drain `poll_transmit` and `poll_event` until both are empty, then
//! wait for IO until the instant `poll_timeout` returns.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod exposition;
pub mod http;
pub mod management;
pub mod metrics;
pub mod pg;
pub mod scram;
pub mod scrape;
pub mod secret;
pub mod serve;
#[cfg(test)]
mod test_clock;
mod transmit;
pub mod vault;
