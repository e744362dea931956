//! Listening sockets and the accept loop every listener shares.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use pgexporter_net::serve;
use pgexporter_net::transport::Transport;
use rustls::ServerConnection;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Binds every address; see [`pgexporter_net::serve::bind_listeners`].
///
/// # Errors
/// When an address cannot be bound; the error names it.
pub(crate) fn bind(addresses: &[SocketAddr], backlog: u32) -> io::Result<Vec<TcpListener>> {
    serve::bind_listeners(addresses, backlog)?
        .into_iter()
        .map(|listener| {
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)
        })
        .collect()
}

/// A listener the accept loop can take connections from.
pub(crate) trait Listener: Send + 'static {
    /// An accepted connection.
    type Stream: Send + 'static;
    /// The next connection.
    fn next(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
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
pub(crate) async fn accept_loop<L, F, Fut>(
    listener: L,
    serve: F,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) where
    L: Listener,
    F: Fn(L::Stream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.next() => match accepted {
                Ok(stream) => {
                    connections.spawn(serve(stream));
                }
                Err(error) => tracing::warn!("accept failed: {error}"),
            },
            Some(_) = connections.join_next() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

/// Moves what a machine queued (its `poll_transmit`) through the transport onto the stream.
///
/// # Errors
/// A TLS failure or a failed write: close the connection.
pub(crate) async fn transmit<S: AsyncWrite + Unpin>(
    stream: &mut S,
    transport: &mut Transport<ServerConnection>,
    wire: &mut BytesMut,
    mut poll_transmit: impl FnMut(&mut BytesMut) -> bool,
) -> io::Result<()> {
    while poll_transmit(wire) {
        transport.send(wire).map_err(io::Error::other)?;
        wire.clear();
    }
    write_out(stream, transport, wire).await
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
