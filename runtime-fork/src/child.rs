//! A forked child: serves one accepted connection with blocking IO, then exits.
//!
//! A child has a time limit: an alarm (SIGALRM, whose default action ends the process) armed
//! when it starts and re-armed for each HTTP request, so a stuck child cannot outlive its
//! connection's timeouts by more than [`CHILD_GRACE`]. Before it exits, the child adds the log
//! lines it wrote to the shared state, where the parent reads them.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nix::poll::{PollFd, PollFlags, poll};
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::scrape::LogCounters;
use pgexporter_core::serve::Site;
use pgexporter_net::control::{Control, LivePlan};
use pgexporter_net::serve::LogSource;
use pgexporter_net::transport::Transport;
use rustls::{ServerConfig, ServerConnection};

use crate::channel::Channel;
use crate::shared::SharedState;
use crate::{http, management, poll_timeout, signals};

/// What a child may take beyond its connection's own timeouts before its alarm ends it.
pub(crate) const CHILD_GRACE: Duration = Duration::from_secs(5);

/// A connection the parent accepted.
#[derive(Debug)]
pub(crate) enum Connection {
    /// On the metrics port.
    Metrics(TcpStream),
    /// On the remote management port.
    Remote(TcpStream),
    /// On the management socket.
    Local(UnixStream),
}

/// What a child has to serve its connection.
pub(crate) struct ChildContext<'a> {
    /// The state shared with the parent.
    pub(crate) shared: &'static SharedState,
    /// The child's end of its channel to the parent.
    pub(crate) channel: Channel,
    /// The live plan in force when the child was forked.
    pub(crate) plan: &'a LivePlan,
    /// The HTTP answers of that plan.
    pub(crate) site: &'a Site,
    /// HTTPS on the metrics port.
    pub(crate) metrics_tls: Option<Arc<ServerConfig>>,
    /// The admins of remote management.
    pub(crate) admins: &'a AdminVerifiers,
    /// The child's copy of the running configuration and the means to change it.
    pub(crate) control: &'a mut Control,
}

/// Serves `connection` and exits the process. `logs` are the process's own log counts.
pub(crate) fn run(connection: Connection, mut context: ChildContext<'_>, logs: &LogSource) -> ! {
    let at_fork = logs();
    if let Err(error) = signals::restore_in_child() {
        tracing::error!("child: cannot restore signals: {error}");
        std::process::exit(1);
    }
    match connection {
        Connection::Metrics(stream) => {
            arm_alarm(context.plan.http.request_timeout + context.plan.http.idle_timeout);
            http::serve(stream, &mut context);
        }
        Connection::Remote(stream) => {
            arm_alarm(context.plan.management_timeout);
            management::serve_remote(stream, &mut context);
        }
        Connection::Local(stream) => {
            arm_alarm(context.plan.management_timeout);
            management::serve_local(stream, &mut context);
        }
    }
    context.shared.add_child_logs(lines_since(at_fork, logs()));
    std::process::exit(0)
}

/// (Re-)arms the child's alarm for `limit` plus [`CHILD_GRACE`].
pub(crate) fn arm_alarm(limit: Duration) {
    let seconds = (limit + CHILD_GRACE)
        .as_secs()
        .clamp(1, u64::from(u32::MAX));
    nix::unistd::alarm::set(u32::try_from(seconds).unwrap_or(u32::MAX));
}

fn lines_since(before: LogCounters, now: LogCounters) -> LogCounters {
    LogCounters {
        info: now.info.saturating_sub(before.info),
        warn: now.warn.saturating_sub(before.warn),
        error: now.error.saturating_sub(before.error),
        fatal: now.fatal.saturating_sub(before.fatal),
    }
}

/// A blocking stream a child serves.
pub(crate) trait ChildStream: Read + Write + AsFd {
    /// Stops sending (half close).
    fn shutdown_write(&self) -> io::Result<()>;
}

impl ChildStream for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl ChildStream for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// Waits until `stream` has input or `wake` passes (forever when `None`); `true` when there is
/// input (or end of file) to read.
///
/// # Errors
/// When `poll` fails.
pub(crate) fn wait_readable(stream: &impl AsFd, wake: Option<Instant>) -> io::Result<bool> {
    loop {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, poll_timeout(wake)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Writes everything the transport has to send.
///
/// # Errors
/// When the peer is gone.
pub(crate) fn write_out(
    stream: &mut impl Write,
    transport: &mut Transport<ServerConnection>,
    wire: &mut BytesMut,
) -> io::Result<()> {
    while transport.poll_transmit(wire) {
        stream.write_all(wire)?;
        wire.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_the_fork() {
        let before = LogCounters {
            info: 3,
            warn: 1,
            error: 0,
            fatal: 0,
        };
        let now = LogCounters {
            info: 5,
            warn: 1,
            error: 2,
            fatal: 0,
        };
        assert_eq!(
            lines_since(before, now),
            LogCounters {
                info: 2,
                warn: 0,
                error: 2,
                fatal: 0
            }
        );
    }

    #[test]
    fn waiting_ends_at_input_or_at_the_wake_time() {
        let (mut one, two) = UnixStream::pair().unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!wait_readable(&two, Some(soon)).unwrap());
        one.write_all(b"x").unwrap();
        assert!(wait_readable(&two, None).unwrap());
    }
}
