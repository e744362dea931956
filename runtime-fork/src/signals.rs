//! The parent's signals, read from a `signalfd` in its poll loop: the signals are blocked and
//! queue on a file descriptor instead of interrupting the process. Children unblock them, so a
//! child keeps the default actions (SIGALRM ends it: that is its time limit).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What a signal asks of the parent (SPEC §1). SIGABRT keeps its default action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// One of the daemon's signals.
    Daemon(pgexporter_core::daemon::Signal),
    /// SIGCHLD: a child exited; reap it.
    Reap,
}

/// The handled signals, blocked, and the descriptor they are read from.
#[derive(Debug)]
pub(crate) struct Signals {
    descriptor: SignalFd,
}

fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGALRM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGCHLD,
    ] {
        set.add(signal);
    }
    set
}

impl Signals {
    /// Blocks the handled signals and opens their descriptor; from now on they no longer
    /// interrupt or kill the process.
    ///
    /// # Errors
    /// When the mask cannot be set or the descriptor cannot be made.
    pub(crate) fn install() -> io::Result<Signals> {
        let set = handled();
        set.thread_block()?;
        let descriptor =
            SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { descriptor })
    }

    /// The descriptor, for `poll`.
    pub(crate) fn descriptor(&self) -> BorrowedFd<'_> {
        self.descriptor.as_fd()
    }

    /// The next pending signal's request; `None` when none is pending.
    ///
    /// # Errors
    /// When the descriptor cannot be read.
    pub(crate) fn next(&self) -> io::Result<Option<Request>> {
        loop {
            let Some(info) = self.descriptor.read_signal()? else {
                return Ok(None);
            };
            use pgexporter_core::daemon::Signal as Daemon;
            let request = match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGALRM) => {
                    Request::Daemon(Daemon::Stop)
                }
                Ok(Signal::SIGHUP) => Request::Daemon(Daemon::Reload),
                Ok(Signal::SIGUSR1) => Request::Daemon(Daemon::ReopenLogs),
                Ok(Signal::SIGCHLD) => Request::Reap,
                _ => continue,
            };
            return Ok(Some(request));
        }
    }
}

/// In a child: gives the signals their default actions back, so that the child's alarm and
/// the parent's SIGTERM end it.
///
/// # Errors
/// When the mask cannot be set.
pub(crate) fn restore_in_child() -> io::Result<()> {
    handled().thread_unblock()?;
    Ok(())
}
