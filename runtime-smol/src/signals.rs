//! The signals the daemon answers, and the trigger that tells every task it is stopping.

use std::io;

use async_signal::{Signal, Signals as Stream};
use smol::channel::{self, Receiver, Sender};
use smol::stream::StreamExt;

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
    stream: Stream,
}

impl Signals {
    /// Installs the handlers; from now on these signals no longer kill the process.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub(crate) fn install() -> io::Result<Signals> {
        Ok(Signals {
            stream: Stream::new([
                Signal::Term,
                Signal::Int,
                Signal::Alarm,
                Signal::Hup,
                Signal::Usr1,
            ])?,
        })
    }

    /// The next signal's request.
    pub(crate) async fn next(&mut self) -> Request {
        loop {
            match self.stream.next().await {
                Some(Ok(signal)) => {
                    if let Some(request) = request_of(signal) {
                        return request;
                    }
                }
                Some(Err(error)) => tracing::warn!("reading signals failed: {error}"),
                // The stream never ends while the handlers are installed.
                None => return Request::Stop,
            }
        }
    }
}

/// The request a signal makes, for the signals [`Signals::install`] handles.
fn request_of(signal: Signal) -> Option<Request> {
    match signal {
        Signal::Term | Signal::Int | Signal::Alarm => Some(Request::Stop),
        Signal::Hup => Some(Request::Reload),
        Signal::Usr1 => Some(Request::ReopenLogs),
        _ => None,
    }
}

/// Tells every subscriber once that the exporter is stopping: firing closes a channel on which
/// nothing is ever sent, which wakes every receiver.
#[derive(Clone)]
pub(crate) struct Trigger(Sender<()>, Receiver<()>);

impl Trigger {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = channel::bounded(1);
        Trigger(sender, receiver)
    }

    /// A receiver whose [`Stopping::fired`] completes when [`Trigger::fire`] is called.
    pub(crate) fn subscribe(&self) -> Stopping {
        Stopping(self.1.clone())
    }

    pub(crate) fn fire(&self) {
        self.0.close();
    }
}

/// One subscription to a [`Trigger`].
pub(crate) struct Stopping(Receiver<()>);

impl Stopping {
    /// Completes once the trigger has fired (at once when it already has).
    pub(crate) async fn fired(&self) {
        // Nothing is ever sent: `recv` only ends when the channel closes.
        let _ = self.0.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_their_requests() {
        assert_eq!(request_of(Signal::Term), Some(Request::Stop));
        assert_eq!(request_of(Signal::Int), Some(Request::Stop));
        assert_eq!(request_of(Signal::Alarm), Some(Request::Stop));
        assert_eq!(request_of(Signal::Hup), Some(Request::Reload));
        assert_eq!(request_of(Signal::Usr1), Some(Request::ReopenLogs));
        assert_eq!(request_of(Signal::Abort), None);
    }

    #[test]
    fn firing_wakes_every_subscriber_even_late_ones() {
        let trigger = Trigger::new();
        let early = trigger.subscribe();
        let waiting = smol::future::block_on(smol::future::or(
            async {
                early.fired().await;
                true
            },
            async { false },
        ));
        assert!(!waiting, "a trigger that has not fired must not wake");
        trigger.clone().fire();
        smol::future::block_on(early.fired());
        smol::future::block_on(trigger.subscribe().fired());
    }
}
