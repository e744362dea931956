//! Listening sockets and the accept loop every listener shares.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use pgexporter_net::serve;
use pgexporter_net::transport::Transport;
use rustls::ServerConnection;
use smol::io::{AsyncWrite, AsyncWriteExt};
use smol::net::unix::{UnixListener, UnixStream};
use smol::net::{TcpListener, TcpStream};
use smol::{Timer, future};

use crate::signals::Stopping;
use crate::spawn;

/// Binds every address; see [`pgexporter_net::serve::bind_listeners`].
///
/// # Errors
/// When an address cannot be bound; the error names it.
pub(crate) fn bind(addresses: &[SocketAddr], backlog: u32) -> io::Result<Vec<TcpListener>> {
    serve::bind_listeners(addresses, backlog)?
        .into_iter()
        .map(TcpListener::try_from)
        .collect()
}

/// A listener the accept loop can take connections from.
pub(crate) trait Listener: 'static {
    /// An accepted connection.
    type Stream: 'static;
    /// The next connection.
    fn next(&self) -> impl Future<Output = io::Result<Self::Stream>>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn next(&self) -> io::Result<TcpStream> {
        let (stream, _) = self.accept().await?;
        // Answers are written whole; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;

    async fn next(&self) -> io::Result<UnixStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Accepts connections and serves each with `serve` until `stop` fires, then gives those in
/// flight `grace` to finish.
pub(crate) async fn accept_loop<L, F, Fut>(listener: L, serve: F, stop: Stopping, grace: Duration)
where
    L: Listener,
    F: Fn(L::Stream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut connections = Vec::new();
    loop {
        let accepted = future::or(async { Some(listener.next().await) }, async {
            stop.fired().await;
            None
        })
        .await;
        match accepted {
            Some(Ok(stream)) => {
                connections.retain(|connection: &smol::Task<()>| !connection.is_finished());
                connections.push(spawn(serve(stream)));
            }
            Some(Err(error)) => tracing::warn!("accept failed: {error}"),
            None => break,
        }
    }
    drop(listener);
    let in_flight = &mut connections;
    let drained = future::or(
        async {
            for connection in in_flight.iter_mut() {
                connection.await;
            }
            true
        },
        async {
            Timer::after(grace).await;
            false
        },
    )
    .await;
    if !drained {
        for connection in connections {
            connection.cancel().await;
        }
    }
}

/// Writes everything the transport has to send.
pub(crate) async fn write_out<S: AsyncWrite + Unpin>(
    stream: &mut S,
    transport: &mut Transport<ServerConnection>,
    wire: &mut BytesMut,
) -> io::Result<()> {
    while transport.poll_transmit(wire) {
        stream.write_all(wire).await?;
        wire.clear();
    }
    Ok(())
}
