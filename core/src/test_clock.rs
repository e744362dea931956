//! The origin of every test's timeline.
//!
//! The core never reads the clock: time is an input of every machine. Tests still need some
//! `Instant` to start from, and an `Instant` can only be had from a clock, so they take one from
//! the runtimes' clock (`pgexporter_os::clock`, a dev-dependency) and move time forward by adding
//! durations to it.

use std::time::Instant;

/// An arbitrary instant to start a test's timeline from.
pub(crate) fn origin() -> Instant {
    pgexporter_os::clock::now()
}
