//! The Prometheus HTTP listener and its connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::http::{Event, HttpConnection};
use pgexporter_core::serve::Site;
use pgexporter_net::serve::LogSource;
use pgexporter_net::transport::Transport;
use rustls::ServerConfig;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{Timer, future};

use crate::collector::ScrapeHandle;
use crate::daemon::LiveWatch;
use crate::listeners::write_out;
use crate::read_until;

/// Size of one socket read.
const READ_SIZE: usize = 8 * 1024;

/// How long a closing connection keeps reading what the client still sends; see [`linger`].
const LINGER: Duration = Duration::from_secs(1);

/// What every HTTP connection shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The running plan: HTTP limits and the site follow reloads.
    pub(crate) live: LiveWatch,
    pub(crate) scrapes: ScrapeHandle,
    pub(crate) logs: LogSource,
}

/// Closes gracefully: stops sending, then reads and drops what the client still sends for a
/// moment, so that unread request bytes do not make the kernel reset the connection before the
/// client has read the response (a refused oversized head, for example).
async fn linger(stream: &mut TcpStream, buffer: &mut [u8]) {
    if stream.close().await.is_err() {
        return;
    }
    future::or(
        async { while matches!(stream.read(buffer).await, Ok(count) if count > 0) {} },
        async {
            Timer::after(LINGER).await;
        },
    )
    .await;
}

/// Serves one HTTP (or, with `tls`, HTTPS) connection until it closes.
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    shared: Shared,
    tls: Option<Arc<ServerConfig>>,
) {
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
    let config = shared.live.borrow().plan.http.clone();
    let mut http = HttpConnection::new(config, Instant::now());
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
                    let site = Arc::clone(&shared.live.borrow().site);
                    let answered = site.answer(
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
        match read_until(&mut stream, &mut buffer, wake).await {
            Some(read) => match read {
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
            None => http.handle_timeout(Instant::now()),
        }
    }
}
