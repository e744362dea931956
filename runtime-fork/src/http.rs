//! A child's HTTP (or HTTPS) connection: the core's [`HttpConnection`] over a blocking socket,
//! with `/metrics` bodies from the parent through the shared state.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::http::{Event, HttpConnection};
use pgexporter_core::serve::Site;
use pgexporter_net::transport::Transport;
use rustls::ServerConnection;

use crate::channel::Request;
use crate::child::{ChildContext, ChildStream, arm_alarm, wait_readable, write_out};

/// Size of one socket read.
const READ_SIZE: usize = 8 * 1024;

/// How long a closing connection keeps reading what the client still sends; see [`linger`].
const LINGER: Duration = Duration::from_secs(1);

/// Closes gracefully: stops sending, then reads and drops what the client still sends for a
/// moment, so that unread request bytes do not make the kernel reset the connection before the
/// client has read the response.
fn linger(stream: &mut TcpStream, buffer: &mut [u8]) {
    if stream.shutdown_write().is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    while matches!(wait_readable(stream, Some(until)), Ok(true))
        && matches!(stream.read(buffer), Ok(count) if count > 0)
    {}
}

/// Asks the parent for the `/metrics` body of `request`'s format; `None` when there is none.
fn fetch_body(
    context: &mut ChildContext<'_>,
    request: &pgexporter_core::http::Request,
    body: &mut Vec<u8>,
) -> bool {
    let format = Site::format_for(request);
    let asked = context.channel.send_request(&Request::Scrape {
        format,
        timeout: request.scrape_timeout,
    });
    let published = asked.and_then(|()| context.channel.receive_ready());
    match published {
        Ok(published) => published && context.shared.read_body(format, body),
        Err(error) => {
            tracing::error!("cannot get a scrape result from the parent: {error}");
            false
        }
    }
}

/// Serves one HTTP (or, with the context's TLS, HTTPS) connection until it closes.
pub(crate) fn serve(mut stream: TcpStream, context: &mut ChildContext<'_>) {
    let mut transport = match context.metrics_tls.clone() {
        Some(config) => match Transport::server(config) {
            Ok(transport) => transport,
            Err(error) => {
                tracing::error!("cannot start TLS: {error}");
                return;
            }
        },
        None => Transport::<ServerConnection>::default(),
    };
    let plan = context.plan;
    let mut http = HttpConnection::new(plan.http.clone(), Instant::now());
    let mut buffer = vec![0u8; READ_SIZE];
    let mut plaintext = BytesMut::new();
    let mut outgoing = BytesMut::new();
    let mut body = Vec::new();
    loop {
        while http.poll_transmit(&mut outgoing) {
            // Plaintext goes through the transport; only a TLS failure refuses it.
            if transport.send(&outgoing).is_err() {
                return;
            }
            outgoing.clear();
        }
        if write_out(&mut stream, &mut transport, &mut outgoing).is_err() {
            return;
        }
        if let Some(event) = http.poll_event() {
            match event {
                Event::Request(request) => {
                    let scrape = request
                        .scrape_timeout
                        .unwrap_or(plan.collector.default_scrape_timeout);
                    arm_alarm(plan.http.request_timeout + plan.http.idle_timeout + scrape);
                    let rendered = (Site::needs_scrape(&request)
                        && fetch_body(context, &request, &mut body))
                    .then_some(&body[..]);
                    let answered =
                        context
                            .site
                            .answer_rendered(&mut http, Instant::now(), &request, rendered);
                    if let Err(error) = answered {
                        tracing::error!("cannot answer an HTTP request: {error}");
                        return;
                    }
                }
                Event::Rejected { status, reason } => {
                    tracing::debug!("HTTP request refused with {}: {reason:?}", status.code());
                }
                Event::Closed(_) => {
                    linger(&mut stream, &mut buffer);
                    return;
                }
            }
            continue;
        }
        match wait_readable(&stream, http.poll_timeout()) {
            Ok(true) => {}
            Ok(false) => {
                http.handle_timeout(Instant::now());
                continue;
            }
            Err(_) => return,
        }
        match stream.read(&mut buffer) {
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
                    let _ = write_out(&mut stream, &mut transport, &mut outgoing);
                    return;
                }
            },
        }
    }
}
