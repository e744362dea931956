//! The signals the daemon answers, and the trigger that tells every task it is stopping.

use std::io;

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};
use tokio::sync::watch;

/// What a signal asks for (SPEC §1). SIGABRT keeps its default action: abort with a core dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// SIGTERM, SIGINT, SIGALRM: graceful shutdown.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR1: reopen the log file.
    ReopenLogs,
}

/// The daemon's signal handlers, installed together.
pub(crate) struct Signals {
    terminate: Stream,
    interrupt: Stream,
    alarm: Stream,
    hangup: Stream,
    user1: Stream,
}

impl Signals {
    /// Installs the handlers; from now on these signals no longer kill the process.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub(crate) fn install() -> io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            alarm: signal(SignalKind::alarm())?,
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
        })
    }

    /// The next signal's request.
    pub(crate) async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.terminate.recv() => Request::Stop,
            _ = self.interrupt.recv() => Request::Stop,
            _ = self.alarm.recv() => Request::Stop,
            _ = self.hangup.recv() => Request::Reload,
            _ = self.user1.recv() => Request::ReopenLogs,
        }
    }
}

/// Tells every subscriber once that the exporter is stopping.
#[derive(Clone)]
pub(crate) struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub(crate) fn new() -> Self {
        Trigger(watch::channel(false).0)
    }

    /// A receiver whose `changed()` completes when [`Trigger::fire`] is called.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }
}
