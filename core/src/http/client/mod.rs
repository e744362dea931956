//! The client side of HTTP/1.1, sans IO: GET requests on one connection, one after another
//! (keep-alive), responses framed by `Content-Length`, chunked or by the end of the stream,
//! gzip'd or not, every size bounded, every exchange within a deadline.
//!
//! [`HttpClient`] is a [`Machine`]: the owner of the connection hands it what the server sends
//! and sends what it transmits, as for every machine of this crate. [`HttpClient::get`] queues
//! a request; the exchange ends with one [`ClientEvent`]: the [`Response`], or why there is
//! none. Once [`Machine::is_finished`], the connection cannot carry another request (the server
//! closes it, or it failed): close it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::BytesMut;
//! use pgexporter_core::http::client::{ClientEvent, ClientLimits, Get, HttpClient};
//! use pgexporter_core::machine::Machine;
//!
//! let now = Instant::now();
//! let mut client = HttpClient::new(ClientLimits::default());
//! let get = Get { host: "db1:9187", path: "/metrics", accept: "text/plain" };
//! client.get(now, &get, now + Duration::from_secs(10)).unwrap();
//! let mut out = BytesMut::new();
//! assert!(client.poll_transmit(&mut out));
//! assert!(out.starts_with(b"GET /metrics HTTP/1.1\r\nHost: db1:9187\r\n"));
//! client.handle_input(now, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nup 1\n");
//! let Some(ClientEvent::Response(response)) = client.poll_event() else { panic!() };
//! assert_eq!((response.status, &response.body[..]), (200, &b"up 1\n"[..]));
//! assert!(client.is_idle(), "kept alive for the next request");
//! ```

mod body;
mod head;

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

pub use head::Get;

use crate::machine::{Machine, Outbox};
use body::Body;
use head::{Head, Parsed, read_head, write_get};

/// Size limits of an [`HttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// The longest response head (status line and headers); header lines beyond
    /// [`MAX_HEADERS_LIMIT`](crate::http::MAX_HEADERS_LIMIT) count as too large as well.
    pub max_head_bytes: usize,
    /// The longest body, as sent and once gunzipped.
    pub max_body_bytes: usize,
}

impl Default for ClientLimits {
    /// 16 KiB heads, 32 MiB bodies.
    fn default() -> Self {
        ClientLimits {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 32 << 20,
        }
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, when sent.
    pub content_type: Option<String>,
    /// The body, gunzipped.
    pub body: Bytes,
}

/// Why an exchange ended without a response. Each is the server's doing (or the network's),
/// except where said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The deadline passed before the response was complete.
    #[error("no complete answer before the deadline")]
    Timeout,
    /// The connection ended before the response was complete; `received` says whether any
    /// byte of it had arrived (a kept-alive connection the server closed in the meantime
    /// receives none, and the request may be repeated on a new one).
    #[error("the connection closed before the answer was complete")]
    Closed {
        /// Whether any byte of the response had arrived.
        received: bool,
    },
    /// Not HTTP/1.x, or a framing that cannot be read.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A transfer or content coding the client does not know.
    #[error("unsupported {0}")]
    Unsupported(String),
    /// The head is longer than [`ClientLimits::max_head_bytes`].
    #[error("response head too large")]
    HeadTooLarge,
    /// The body is longer than the limit, as sent or gunzipped.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The gzip stream is corrupt.
    #[error("corrupt gzip body: {0}")]
    Gzip(String),
}

/// What an exchange came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The response.
    Response(Response),
    /// Why there is none.
    Failed(ClientError),
}

/// A call that does not fit the client's state: a bug in the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientMisuse {
    /// A request is in progress, or the connection is finished.
    #[error("the HTTP connection cannot take a request now")]
    Busy,
}

/// Where the exchange on the connection stands.
#[derive(Debug)]
enum State {
    /// No request in progress; another may be sent.
    Idle,
    /// Waiting for the response head.
    Head,
    /// Reading the body of the response with this head.
    Body(Head, Body),
    /// The connection can carry nothing more.
    Finished,
}

/// One HTTP/1.1 client connection; see the module documentation.
#[derive(Debug)]
pub struct HttpClient {
    limits: ClientLimits,
    state: State,
    input: BytesMut,
    deadline: Option<Instant>,
    /// Whether any byte of the current response has arrived.
    received: bool,
    outbox: Outbox<ClientEvent>,
}

impl HttpClient {
    /// A client for a connection that is (or is about to be) open.
    pub fn new(limits: ClientLimits) -> Self {
        HttpClient {
            limits,
            state: State::Idle,
            input: BytesMut::new(),
            deadline: None,
            received: false,
            outbox: Outbox::default(),
        }
    }

    /// Whether a request can be sent now.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Queues `get`; its exchange must end by `deadline`, and the server is told how long it
    /// has (`X-Prometheus-Scrape-Timeout-Seconds`).
    ///
    /// # Errors
    /// [`ClientMisuse::Busy`] unless [`HttpClient::is_idle`].
    pub fn get(
        &mut self,
        now: Instant,
        get: &Get<'_>,
        deadline: Instant,
    ) -> Result<(), ClientMisuse> {
        if !self.is_idle() {
            return Err(ClientMisuse::Busy);
        }
        let left = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        write_get(self.outbox.bytes(), get, left);
        self.deadline = Some(deadline);
        self.received = false;
        self.state = State::Head;
        Ok(())
    }

    /// Reads what the input holds; an error fails the exchange and the connection.
    fn advance(&mut self) {
        if let Err(error) = self.read_response() {
            self.fail(error);
        }
    }

    fn read_response(&mut self) -> Result<(), ClientError> {
        loop {
            match &mut self.state {
                State::Idle if !self.input.is_empty() => {
                    // Bytes nobody asked for: the connection is out of step.
                    self.finish();
                    return Ok(());
                }
                State::Idle | State::Finished => return Ok(()),
                State::Head => match read_head(&self.input, self.limits.max_head_bytes)? {
                    Parsed::Partial => return Ok(()),
                    Parsed::Informational(length) => self.input.advance(length),
                    Parsed::Complete(head, length) => {
                        self.input.advance(length);
                        let body = Body::new(head.framing, self.limits.max_body_bytes)?;
                        self.state = State::Body(head, body);
                    }
                },
                State::Body(_, body) => {
                    if !body.read(&mut self.input)? {
                        return Ok(());
                    }
                    self.complete();
                }
            }
        }
    }

    /// The body is complete: the response (or why its body cannot be read) is reported.
    fn complete(&mut self) {
        let State::Body(head, body) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        self.deadline = None;
        match body.finish(head.gzip) {
            Ok(body) => {
                self.outbox.push(ClientEvent::Response(Response {
                    status: head.status,
                    content_type: head.content_type,
                    body,
                }));
                if !head.keep_alive {
                    self.finish();
                }
            }
            Err(error) => {
                self.outbox.push(ClientEvent::Failed(error));
                self.finish();
            }
        }
    }

    fn fail(&mut self, error: ClientError) {
        if matches!(self.state, State::Head | State::Body(..)) {
            self.outbox.push(ClientEvent::Failed(error));
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Finished;
        self.deadline = None;
        self.input.clear();
    }
}

impl Machine for HttpClient {
    type Event = ClientEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        if matches!(self.state, State::Finished) || bytes.is_empty() {
            return;
        }
        self.received |= matches!(self.state, State::Head | State::Body(..));
        self.input.extend_from_slice(bytes);
        self.advance();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|deadline| deadline <= now) {
            self.fail(ClientError::Timeout);
        }
    }

    /// A body delimited by the end of the stream is complete; anything else in progress fails.
    fn handle_eof(&mut self, _now: Instant) {
        let ended = match &self.state {
            State::Body(_, body) => body.end_of_stream(),
            State::Head => Err(ClientError::Closed {
                received: self.received,
            }),
            State::Idle | State::Finished => Ok(()),
        };
        match ended {
            Ok(()) => {
                self.complete();
                self.finish();
            }
            Err(error) => self.fail(error),
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.outbox.poll_event()
    }

    /// The deadline of the exchange in progress.
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }
}

#[cfg(test)]
mod tests;
