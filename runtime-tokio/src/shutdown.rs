//! The signals that stop the exporter, and the trigger that tells every task.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Waits for SIGTERM, SIGINT or SIGALRM.
///
/// # Errors
/// When a signal handler cannot be installed.
pub(crate) async fn wait_for_signal() -> io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut alarm = signal(SignalKind::alarm())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        _ = alarm.recv() => {}
    }
    Ok(())
}

/// Tells every subscriber once that the exporter is stopping.
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
