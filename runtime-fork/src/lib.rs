//! The fork-per-connection runtime of pgexporter: the reference's process model around the
//! core's machines.
//!
//! - **Parent.** One process, one thread, one `poll` loop ([`parent`]) over the metrics,
//!   remote management and local management listeners, a `signalfd` for SIGTERM, SIGINT,
//!   SIGALRM (stop), SIGHUP (reload through [`Control::reload`](pgexporter_net::control::Control::reload)),
//!   SIGUSR1 (reopen the log file) and SIGCHLD (reap), the children's channels, and the
//!   PostgreSQL sockets.
//! - **Children.** One forked child per accepted connection ([`child`]), serving it with
//!   blocking IO and the core's `HttpConnection` or management `Session`, then exiting. At
//!   most [`MAX_CHILDREN`](children::MAX_CHILDREN) live at once; at the cap the parent stops
//!   accepting and connections wait in the listen backlog. Each child has a time limit: an
//!   alarm whose default action ends it. A shutdown closes the listeners, gives children
//!   `shutdown_grace` to finish, then kills the rest.
//! - **PostgreSQL connections stay in the parent.** The parent owns the core's
//!   [`Collector`](pgexporter_core::scrape::Collector) and its sockets ([`collector`]), driven
//!   in the same poll loop, so the connections are persistent and shared by every request
//!   (single flight, cache): PostgreSQL sees the same connections, within the same budget
//!   (servers × databases used), as with the other runtimes, however many children scrape.
//! - **Scrapes.** A child with a `/metrics` request sends the parent a scrape request over its
//!   channel (a `SOCK_SEQPACKET` pair made before the fork). When the collector has the
//!   result, the parent renders it in the format the child asked for (text or OpenMetrics;
//!   rendered again only when the result or the log counts changed) into the shared state
//!   ([`shared`]) and tells the child, which copies the body and answers, gzip'd when asked.
//!   The log counts in a body are those of its rendering.
//! - **Management.** A management child answers with its copy of
//!   [`Control`](pgexporter_net::control::Control); what a command changes goes to the parent
//!   over the channel: a configuration made running by `conf set` or `conf reload` (as INI
//!   text, which the parent loads and applies with
//!   [`Control::apply`](pgexporter_net::control::Control::apply)), shutdown, clear. Server
//!   activity for `status` is read from the shared state. Children forked after a reload see
//!   the new configuration.
//! - **Log counts.** Each process counts its own log lines; a child adds the lines it wrote to
//!   the shared state before it exits, and the parent's count is its own plus those.
//! - **Shared state.** One `mmap(MAP_SHARED | MAP_ANONYMOUS)` region of atomics, made before the
//!   first fork; all `unsafe` of this crate is in [`shared`]. No threads, no async runtime;
//!   random bytes come from `getrandom`, which is safe after `fork`.

mod channel;
mod child;
mod children;
mod collector;
mod http;
mod listeners;
mod management;
mod parent;
mod postgres;
mod shared;
mod signals;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use nix::poll::PollTimeout;
use pgexporter_core::serve::Site;
use pgexporter_net::notify;
use pgexporter_net::serve::{LogSource, ServePlan};
use pgexporter_net::unix_socket::SocketFile;

use crate::children::Children;
use crate::collector::CollectorDriver;
use crate::parent::{Listeners, Parent};
use crate::shared::SharedState;
use crate::signals::Signals;

/// Serves `plan` until SIGTERM, SIGINT, SIGALRM or a `shutdown` command, then stops
/// gracefully: listeners close, children serving requests get up to `plan.shutdown_grace` to
/// finish, and every PostgreSQL connection is terminated. SIGHUP reloads the configuration,
/// SIGUSR1 reopens the log file. Call it from a process with one thread.
///
/// # Errors
/// When a listener cannot be bound or the shared state, signals or poll loop fail.
pub fn run(plan: ServePlan) -> io::Result<()> {
    let signals = Signals::install()?;
    let shared = SharedState::map()?;
    let metrics = listeners::bind(&plan.metrics_listeners, plan.backlog)?;
    let remote = listeners::bind(&plan.management_listeners, plan.backlog)?;
    let mut socket_file = SocketFile::bind(&plan.unix_socket)?;
    let local = socket_file
        .take_listener()
        .ok_or_else(|| io::Error::other("the management socket has no listener"))?;
    local.set_nonblocking(true)?;
    let scheme = if plan.metrics_tls.is_some() {
        "https"
    } else {
        "http"
    };
    for listener in &metrics {
        let address = listener.local_addr()?;
        tracing::info!("serving metrics on {scheme}://{address}/metrics");
    }
    for listener in &remote {
        tracing::info!("remote management on {}", listener.local_addr()?);
    }
    tracing::info!("management socket {}", socket_file.path().display());

    let own_logs = Arc::clone(&plan.logs);
    let counted = Arc::clone(&plan.logs);
    let all_logs: LogSource = Arc::new(move || shared.total_logs(counted()));
    let mut parent = Parent {
        shared,
        signals: Some(signals),
        listeners: Listeners {
            metrics,
            remote,
            local: Some(local),
        },
        children: Children::default(),
        collector: CollectorDriver::new(&plan.live, shared, all_logs),
        control: plan.control,
        site: Site::new(&plan.live.metrics),
        plan: plan.live,
        admins: plan.admins,
        metrics_tls: plan.metrics_tls,
        own_logs,
        grace: plan.shutdown_grace,
        stop_deadline: None,
    };
    notify::ready();
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
