//! The Prometheus HTTP listener and its connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::http::{Event, HttpConfig, HttpConnection};
use pgexporter_core::serve::Site;
use pgexporter_net::serve::{LogSource, bind_candidates};
use pgexporter_net::transport::Transport;
use rustls::{ServerConfig, ServerConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::collector::ScrapeHandle;
use crate::sleep_until;

/// Size of one socket read.
const READ_SIZE: usize = 8 * 1024;

/// How long a closing connection keeps reading what the client still sends; see [`linger`].
const LINGER: Duration = Duration::from_secs(1);

/// What every HTTP connection shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) site: Arc<Site>,
    pub(crate) config: HttpConfig,
    pub(crate) scrapes: ScrapeHandle,
    pub(crate) logs: LogSource,
}

/// Binds every address; see [`pgexporter_net::serve::bind_candidates`] for the wildcard.
///
/// # Errors
/// When an address cannot be bound; the error names it.
pub(crate) async fn bind(addresses: &[SocketAddr], backlog: u32) -> io::Result<Vec<TcpListener>> {
    addresses
        .iter()
        .map(|address| {
            let mut last_error = None;
            for candidate in bind_candidates(*address) {
                match listen(candidate, backlog) {
                    Ok(listener) => return Ok(listener),
                    Err(error) => last_error = Some(error),
                }
            }
            let error = last_error.expect("every address has a candidate");
            Err(io::Error::new(error.kind(), format!("{address}: {error}")))
        })
        .collect()
}

fn listen(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if address.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Accepts connections until `stop` fires, then gives those in flight `grace` to finish.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Shared,
    tls: Option<Arc<ServerConfig>>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, shared.clone(), tls.clone()));
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

/// Closes gracefully: stops sending, then reads and drops what the client still sends for a
/// moment, so that unread request bytes do not make the kernel reset the connection before the
/// client has read the response (a refused oversized head, for example).
async fn linger(stream: &mut TcpStream, buffer: &mut [u8]) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(stream.read(buffer).await, Ok(count) if count > 0) {}
    })
    .await;
}

/// Serves one HTTP (or, with `tls`, HTTPS) connection until it closes.
async fn serve_connection(mut stream: TcpStream, shared: Shared, tls: Option<Arc<ServerConfig>>) {
    let mut transport = match tls {
        Some(config) => match Transport::server(config) {
            Ok(transport) => transport,
            Err(error) => {
                tracing::error!("cannot start TLS: {error}");
                return;
            }
        },
        None => Transport::default(),
    };
    let mut http = HttpConnection::new(shared.config.clone(), Instant::now());
    let mut buffer = vec![0u8; READ_SIZE];
    let mut plaintext = BytesMut::new();
    let mut outgoing = BytesMut::new();
    let mut body = BytesMut::new();
    loop {
        while http.poll_transmit(&mut outgoing) {
            // Plaintext goes through the transport; only a TLS failure refuses it.
            if transport.send(&outgoing).is_err() {
                return;
            }
            outgoing.clear();
        }
        if write_out(&mut stream, &mut transport, &mut outgoing)
            .await
            .is_err()
        {
            return;
        }
        if let Some(event) = http.poll_event() {
            match event {
                Event::Request(request) => {
                    let result = if Site::needs_scrape(&request) {
                        shared.scrapes.get(request.scrape_timeout).await
                    } else {
                        None
                    };
                    let logs = (shared.logs)();
                    let answered = shared.site.answer(
                        &mut http,
                        Instant::now(),
                        &request,
                        result.as_deref(),
                        &logs,
                        &mut body,
                    );
                    if let Err(error) = answered {
                        tracing::error!("cannot answer an HTTP request: {error}");
                        return;
                    }
                }
                Event::Rejected { status, reason } => {
                    tracing::debug!("HTTP request refused with {}: {reason:?}", status.code());
                }
                Event::Closed(_) => {
                    linger(&mut stream, &mut buffer).await;
                    return;
                }
            }
            continue;
        }
        let wake = http.poll_timeout();
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => http.handle_eof(Instant::now()),
                Ok(count) => match transport.receive(&buffer[..count], &mut plaintext) {
                    Ok(_) => {
                        // A refusal is answered and reported as events; nothing else to do here.
                        let _ = http.handle_input(Instant::now(), &plaintext);
                        plaintext.clear();
                    }
                    Err(error) => {
                        tracing::debug!("TLS: {error}");
                        // Send the alert rustls queued, then close.
                        let _ = write_out(&mut stream, &mut transport, &mut outgoing).await;
                        return;
                    }
                },
            },
            () = sleep_until(wake) => http.handle_timeout(Instant::now()),
        }
    }
}

/// Writes everything the transport has to send.
async fn write_out(
    stream: &mut TcpStream,
    transport: &mut Transport<ServerConnection>,
    wire: &mut BytesMut,
) -> io::Result<()> {
    while transport.poll_transmit(wire) {
        stream.write_all(wire).await?;
        wire.clear();
    }
    Ok(())
}
