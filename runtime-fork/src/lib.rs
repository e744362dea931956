//! The fork-per-connection runtime of pgexporter: the reference's process model around the
//! core's machines.
//!
//! - **Parent.** One process, one thread, one `poll` loop ([`parent`]) around the core's
//!   [`Daemon`]: over the listeners, a `signalfd` (SIGTERM, SIGINT, SIGALRM, SIGHUP, SIGUSR1,
//!   and SIGCHLD to reap), the children's channels, and the PostgreSQL connections
//!   ([`links`]). Host work (reading files on a reload) runs in the parent, between polls.
//! - **Admission.** The parent accepts every connection and holds it, costing a descriptor,
//!   until it is readable; then it forks a child for it if the listener's kind has a free slot
//!   (the core's [`Admission`](pgexporter_core::serve::Admission) decides: slots per kind,
//!   how many may wait, when a waiting connection is closed).
//! - **Children.** One forked child per admitted connection ([`child`]), serving it with
//!   blocking IO and the core's service for its listener, then exiting. A child's wait is
//!   bounded by an alarm whose default action ends it. A shutdown closes the listeners and the
//!   waiting connections, gives children the shutdown grace to finish, then kills the rest.
//! - **One daemon.** Every job of a child (a scrape, a management request) goes to the
//!   parent over the child's channel (a `SOCK_SEQPACKET` pair made before the fork) and is
//!   answered by the one daemon there: PostgreSQL sees the same connections as with the other
//!   runtimes, scrapes are shared, and management commands change the one running state. A
//!   scrape's body is rendered by the parent, in the format the child asked for, into the
//!   shared state ([`shared`]); the child copies it out.
//! - **Log counts.** Each process counts its own log lines; a child adds the lines it wrote to
//!   the shared state before it exits, and the parent's count is its own plus those.
//! - **Shared state.** One `mmap(MAP_SHARED | MAP_ANONYMOUS)` region of atomics, made before the
//!   first fork; all `unsafe` of this crate is in [`shared`]. No threads, no async runtime;
//!   random bytes come from `getrandom`, which is safe after `fork`.

#![deny(unsafe_code)]

mod channel;
mod child;
mod children;
mod links;
mod listeners;
mod parent;
#[allow(unsafe_code)]
mod shared;
mod signals;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use nix::poll::PollTimeout;
use pgexporter_core::daemon::{Daemon, DaemonSetup, Host};
use pgexporter_core::plan::Listeners;
use pgexporter_os::listen;
use pgexporter_os::unix_socket::SocketFile;

use crate::listeners::Listener;
use crate::parent::Parent;
use crate::shared::SharedState;
use crate::signals::Signals;

/// Serves until SIGTERM, SIGINT, SIGALRM or a `shutdown` command, then stops gracefully:
/// listeners close, children serving requests get the shutdown grace to finish, and every
/// PostgreSQL connection is terminated. Call it from a process with one thread.
///
/// # Errors
/// When a listener cannot be bound or the shared state, signals or poll loop fail.
pub fn run(listeners: Listeners, mut setup: DaemonSetup, host: Arc<dyn Host>) -> io::Result<()> {
    let signals = Signals::install()?;
    let shared = SharedState::map()?;
    let mut polled = Vec::new();
    for bound in listen::bind_all(&listeners)? {
        bound.listener.set_nonblocking(true)?;
        polled.push(Listener::Tcp(bound.kind, bound.listener));
    }
    let mut socket_file = SocketFile::bind(&listeners.unix_socket)?;
    let local = socket_file
        .take_listener()
        .ok_or_else(|| io::Error::other("the management socket has no listener"))?;
    local.set_nonblocking(true)?;
    polled.push(Listener::Unix(local));
    tracing::info!("management socket {}", socket_file.path().display());

    let own_logs = Arc::clone(&setup.logs);
    let counted = Arc::clone(&setup.logs);
    setup.logs = Arc::new(move || shared.total_logs(counted()));
    let daemon = Daemon::new(setup);
    let mut parent = Parent::new(daemon, host, shared, signals, polled, own_logs);
    let served = parent.serve();
    drop(socket_file);
    served
}

/// The `poll` timeout that ends at `wake` (rounded up to whole milliseconds, so the time has
/// passed when `poll` returns), or none.
pub(crate) fn poll_timeout(wake: Option<Instant>) -> PollTimeout {
    let Some(at) = wake else {
        return PollTimeout::NONE;
    };
    let left = at.saturating_duration_since(Instant::now());
    let millis = left.as_micros().div_ceil(1000);
    i32::try_from(millis)
        .ok()
        .and_then(|millis| PollTimeout::try_from(millis).ok())
        .unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn poll_timeouts_round_up_and_saturate() {
        assert_eq!(poll_timeout(None), PollTimeout::NONE);
        let past = Instant::now().checked_sub(Duration::from_secs(1));
        assert_eq!(poll_timeout(past), PollTimeout::ZERO);
        let far = Instant::now() + Duration::from_secs(100 * 24 * 3600);
        assert_eq!(poll_timeout(Some(far)), PollTimeout::MAX);
        let soon = poll_timeout(Some(Instant::now() + Duration::from_micros(1500)));
        assert!(soon == PollTimeout::from(2u8) || soon == PollTimeout::from(1u8));
    }
}
