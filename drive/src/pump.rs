//! One connection: any core machine over any stream of the executor.

use std::time::Duration;

use async_channel::Receiver;
use futures_lite::future;
use pgexporter_core::machine::Peer;
use pgexporter_os::clock;

use crate::executor::{Executor, Stream};

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;

/// How long a finished server-side connection keeps reading what the client still sends,
/// after closing its sending side, so that unread request bytes do not make the kernel reset
/// the connection before the client has read the answer (a refused oversized head, say).
const LINGER: Duration = Duration::from_secs(1);

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Close at once (an outbound connection).
    Close,
    /// Half close, then drain the client for [`LINGER`] (an accepted connection).
    Linger,
}

/// What woke the pump.
enum Wake<M> {
    Read(std::io::Result<usize>),
    Message(Option<M>),
    Timeout,
}

/// Drives `peer` over `stream` until it finishes, the stream fails, or its mailbox closes:
/// writes what it transmits, hands each of its events to `report`, feeds it what the stream
/// delivers, the messages of `mailbox` and its timeouts.
pub(crate) async fn pump<E, S, P>(
    executor: E,
    mut stream: S,
    mut peer: P,
    mailbox: Receiver<P::Message>,
    ending: Ending,
    mut report: impl FnMut(P::Event),
) where
    E: Executor,
    S: Stream,
    P: Peer,
{
    let mut buffer = vec![0u8; READ_SIZE];
    let mut reading = true;
    loop {
        // Each piece is written as it was queued (a body shared with other connections
        // included) and dropped once written.
        while let Some(out) = peer.poll_send() {
            if stream.write_all(&out).await.is_err() {
                peer.handle_eof(clock::now());
                while let Some(event) = peer.poll_event() {
                    report(event);
                }
                return;
            }
        }
        while let Some(event) = peer.poll_event() {
            report(event);
        }
        if peer.is_finished() {
            if ending == Ending::Linger {
                linger(&executor, &mut stream, &mut buffer).await;
            }
            return;
        }
        let wake = peer.poll_timeout();
        let read = async {
            if reading {
                Wake::Read(stream.read(&mut buffer).await)
            } else {
                future::pending().await
            }
        };
        let message = async { Wake::Message(mailbox.recv().await.ok()) };
        let timer = async {
            match wake {
                Some(at) => executor.sleep_until(at).await,
                None => future::pending().await,
            }
            Wake::Timeout
        };
        let woken = future::or(read, future::or(message, timer)).await;
        let now = clock::now();
        match woken {
            Wake::Read(Ok(0) | Err(_)) => {
                reading = false;
                peer.handle_eof(now);
            }
            Wake::Read(Ok(count)) => peer.handle_input(now, &buffer[..count]),
            Wake::Message(Some(message)) => peer.handle_message(now, message),
            // Nobody can answer any more: the daemon is stopping.
            Wake::Message(None) => return,
            Wake::Timeout => peer.handle_timeout(now),
        }
    }
}

/// Stops sending, then reads and drops what the client still sends for [`LINGER`].
async fn linger<E: Executor, S: Stream>(executor: &E, stream: &mut S, buffer: &mut [u8]) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async { while matches!(stream.read(buffer).await, Ok(count) if count > 0) {} };
    future::or(drain, executor.sleep_until(clock::now() + LINGER)).await;
}
