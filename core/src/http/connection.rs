//! The connection state machine.

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::gzip::GzipStream;
use super::request::{BROKEN, Exchange, Head, Paths, Version, read_head};
use super::response::{BodyLength, write_chunk, write_head, write_last_chunk, write_refusal};
use super::{CloseReason, Event, HttpError, RejectReason, Status};
use crate::machine::{Machine, Outbox};

/// Limits and timeouts of an [`HttpConnection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// How long a request head may take to arrive, counted from the connection's start for the
    /// first request and from its first byte for later ones (`authentication_timeout`).
    pub request_timeout: Duration,
    /// How long a kept-alive connection may wait for the next request to begin.
    pub idle_timeout: Duration,
    /// The longest request head, request line included; a longer one gets 431.
    pub max_head_bytes: usize,
    /// The most header lines (capped at [`MAX_HEADERS_LIMIT`](super::MAX_HEADERS_LIMIT)); more
    /// get 431.
    pub max_headers: usize,
    /// The most unread input kept while a response is pending (pipelined requests); more
    /// closes the connection. Never below `max_head_bytes` in effect.
    pub max_buffered_input: usize,
    /// gzip level, 0 (store) to 9 (smallest).
    pub gzip_level: u32,
    /// The paths served; others are refused.
    pub paths: Paths,
    /// `metrics_openmetrics`: whether a request may get OpenMetrics when its `Accept` header
    /// prefers it. Off by default: Prometheus asks for OpenMetrics first, and OpenMetrics
    /// stores every counter as `<name>_total`, which empties the panels of dashboards written
    /// for the reference's names.
    pub openmetrics: bool,
    /// Whether a connection stays open for another request after a response. Off where an
    /// open connection costs a process: every response then says `Connection: close`.
    pub keep_alive: bool,
}

impl HttpConfig {
    /// Defaults around `request_timeout`: 60 s idle, 8 KiB heads with at most 32 lines,
    /// 64 KiB of pipelined input, gzip level 1 (fast; metrics text compresses well anyway),
    /// the metrics port's paths, always the text format, keep-alive offered.
    pub fn new(request_timeout: Duration) -> Self {
        HttpConfig {
            request_timeout,
            idle_timeout: Duration::from_secs(60),
            max_head_bytes: 8 * 1024,
            max_headers: 32,
            max_buffered_input: 64 * 1024,
            gzip_level: 1,
            paths: Paths::Metrics,
            openmetrics: false,
            keep_alive: true,
        }
    }
}

/// A complete response for [`HttpConnection::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status.
    pub status: Status,
    /// The `Content-Type` value, for example
    /// [`Format::content_type`](crate::exposition::Format::content_type). Written as given: it
    /// must not contain CR or LF.
    pub content_type: &'a str,
    /// The whole body, uncompressed.
    pub body: &'a [u8],
    /// Compress with gzip if the request accepts it.
    pub allow_gzip: bool,
}

/// A body rendered once and sent by many connections: each takes the encoding its request
/// accepts, as shared [`Bytes`] that go out without a copy.
pub trait SharedBody: std::fmt::Debug {
    /// The body as it is.
    fn plain(&self) -> Bytes;
    /// The body gzip'd at `level` (see [`gzip_body`](super::gzip_body)).
    fn gzipped(&self, level: u32) -> Bytes;
}

/// A body handed over whole: shared as it is, gzip'd by each connection that asks for gzip.
impl SharedBody for Bytes {
    fn plain(&self) -> Bytes {
        self.clone()
    }

    fn gzipped(&self, level: u32) -> Bytes {
        Bytes::from(super::gzip_body(self, level))
    }
}

/// A complete response whose body is shared with other connections, for
/// [`HttpConnection::respond_shared`]; gzip'd when the request accepts it.
#[derive(Debug, Clone, Copy)]
pub struct SharedResponse<'a> {
    /// The status.
    pub status: Status,
    /// The `Content-Type` value, written as given: it must not contain CR or LF.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a dyn SharedBody,
}

/// The body of a complete response, as it goes to the outbox.
enum Whole<'a> {
    /// Copied into the outbox's buffer.
    Copied(&'a [u8]),
    /// Queued as it is.
    Shared(Bytes),
}

impl Whole<'_> {
    fn len(&self) -> usize {
        match self {
            Whole::Copied(body) => body.len(),
            Whole::Shared(body) => body.len(),
        }
    }
}

/// Whether a new request has begun arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Kept alive, no byte of the next request yet: the deadline is the idle one.
    Idle,
    /// The deadline is the one for the whole head.
    Head,
}

#[derive(Debug)]
enum State {
    /// Waiting for a request head until `deadline`.
    Reading { deadline: Instant, phase: Phase },
    /// An [`Event::Request`] waits for its response.
    Answering(Exchange),
    /// A streaming response is open.
    Streaming {
        exchange: Exchange,
        length: BodyLength,
        gzip: bool,
    },
    /// Finished; [`Event::Closed`] was queued.
    Closed,
}

/// The server side of one HTTP/1.0 or HTTP/1.1 connection (keep-alive, pipelining), sans IO.
///
/// # Driving it
/// Create it when the socket is accepted. Then, as for every machine in this crate: after
/// each `handle_*` call and each response call (`respond`, `respond_streaming`,
/// `send_body_chunk`, `finish_body`), drain [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event) until both are empty, write the bytes to the socket, and
/// wait for input until [`poll_timeout`](Self::poll_timeout). After [`Event::Closed`], write
/// what was transmitted and close the socket.
///
/// # Requests
/// Each [`Event::Request`] must be answered, in order, by [`respond`](Self::respond) or by
/// [`respond_streaming`](Self::respond_streaming) + [`send_body_chunk`](Self::send_body_chunk)
/// … + [`finish_body`](Self::finish_body). Pipelined requests wait in the input buffer until
/// then. Everything else is answered by the connection itself and reported as
/// [`Event::Rejected`]: 400 for a malformed head or a GET/HEAD with a body (the body is not
/// read, so the connection closes after the answer), 403 for other paths, 405 for other
/// methods (with `Allow: GET, HEAD`), 431 for a head over the limits, 408 for a head that was
/// not complete in time. Responses to `HEAD` carry the headers of the GET response only.
/// Targets may be in origin form (`/metrics?x`) or absolute form (`http://host/metrics`); a
/// missing `Host` header is tolerated.
///
/// # Bodies
/// A complete body gets `Content-Length`. A streaming body is chunked for HTTP/1.1 and
/// delimited by closing the connection for HTTP/1.0. gzip (`Content-Encoding: gzip`) is used
/// when the caller allows it and the request accepts it; it works with both. There is no
/// `Date` header: the machine has no wall clock.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bytes::BytesMut;
/// use pgexporter_core::http::{Event, HttpConfig, HttpConnection, Response, Route, Status};
/// use pgexporter_core::machine::Machine;
///
/// let now = Instant::now();
/// let mut connection = HttpConnection::new(HttpConfig::new(Duration::from_secs(5)), now);
/// connection.handle_input(now, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
/// let Some(Event::Request(request)) = connection.poll_event() else { panic!() };
/// assert_eq!(request.route, Route::Metrics);
/// let response = Response { status: Status::Ok, content_type: "text/plain", body: b"up 1\n", allow_gzip: true };
/// connection.respond(now, response).unwrap();
/// let mut out = BytesMut::new();
/// assert!(connection.poll_transmit(&mut out));
/// assert_eq!(&out[..], b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nup 1\n");
/// assert_eq!(connection.poll_timeout(), Some(now + Duration::from_secs(60)));
/// ```
#[derive(Debug)]
pub struct HttpConnection {
    config: HttpConfig,
    state: State,
    input: BytesMut,
    outbox: Outbox<Event>,
    peer_closed: bool,
    gzip: Option<GzipStream>,
    compressed: Vec<u8>,
}

impl HttpConnection {
    /// A connection accepted at `now`; its first request head is due by
    /// `now + config.request_timeout`.
    pub fn new(config: HttpConfig, now: Instant) -> Self {
        let deadline = now + config.request_timeout;
        HttpConnection {
            config,
            state: State::Reading {
                deadline,
                phase: Phase::Head,
            },
            input: BytesMut::new(),
            outbox: Outbox::default(),
            peer_closed: false,
            gzip: None,
            compressed: Vec::new(),
        }
    }

    /// Answers the pending [`Event::Request`] with a complete body (dropped for HEAD, which
    /// still gets its `Content-Length`). The next pipelined request, if any, is read at once.
    ///
    /// # Errors
    /// [`HttpError::NoRequestPending`] when no request waits for a response,
    /// [`HttpError::Closed`] after [`Event::Closed`].
    pub fn respond(&mut self, now: Instant, response: Response<'_>) -> Result<(), HttpError> {
        let exchange = self.pending_exchange()?;
        let gzip = response.allow_gzip && exchange.accepts_gzip;
        let mut compressed = std::mem::take(&mut self.compressed);
        let body = if gzip {
            compressed.clear();
            let stream = gzip_stream(&mut self.gzip, self.config.gzip_level);
            stream.begin(&mut compressed);
            stream.write(response.body, &mut compressed);
            stream.finish(&mut compressed);
            &compressed[..]
        } else {
            response.body
        };
        let head = (response.status, response.content_type);
        self.respond_whole(now, exchange, head, Whole::Copied(body), gzip);
        self.compressed = compressed;
        Ok(())
    }

    /// Answers the pending [`Event::Request`] with a body shared with other connections: its
    /// gzip'd bytes when the request accepts gzip (at this connection's level), else its
    /// plain ones, queued after the head without a copy. HEAD gets the head alone, with the
    /// `Content-Length` of that body.
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    pub fn respond_shared(
        &mut self,
        now: Instant,
        response: SharedResponse<'_>,
    ) -> Result<(), HttpError> {
        let exchange = self.pending_exchange()?;
        let gzip = exchange.accepts_gzip;
        let body = if gzip {
            response.body.gzipped(self.config.gzip_level)
        } else {
            response.body.plain()
        };
        let head = (response.status, response.content_type);
        self.respond_whole(now, exchange, head, Whole::Shared(body), gzip);
        Ok(())
    }

    /// Queues a complete response: its head (`status` and content type), then `body` unless
    /// the request is HEAD.
    fn respond_whole(
        &mut self,
        now: Instant,
        exchange: Exchange,
        (status, content_type): (Status, &str),
        body: Whole<'_>,
        gzip: bool,
    ) {
        let length = BodyLength::Known(body.len());
        write_head(
            self.outbox.bytes(),
            status,
            content_type,
            length,
            gzip,
            &exchange,
        );
        if !exchange.head_only {
            match body {
                Whole::Copied(body) => self.outbox.bytes().put_slice(body),
                Whole::Shared(body) => self.outbox.push_shared(body),
            }
        }
        self.complete(now, exchange);
    }

    /// Answers the pending [`Event::Request`] with a body that follows in pieces through
    /// [`send_body_chunk`](Self::send_body_chunk) and ends with
    /// [`finish_body`](Self::finish_body). The headers are queued now; `content_type` is
    /// written as given and must not contain CR or LF.
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    pub fn respond_streaming(
        &mut self,
        status: Status,
        content_type: &str,
        allow_gzip: bool,
    ) -> Result<(), HttpError> {
        let mut exchange = self.pending_exchange()?;
        let length = match exchange.version {
            Version::Http11 => BodyLength::Chunked,
            Version::Http10 => {
                exchange.keep_alive = false;
                BodyLength::CloseDelimited
            }
        };
        let gzip = allow_gzip && exchange.accepts_gzip;
        write_head(
            self.outbox.bytes(),
            status,
            content_type,
            length,
            gzip,
            &exchange,
        );
        if gzip && !exchange.head_only {
            self.compressed.clear();
            gzip_stream(&mut self.gzip, self.config.gzip_level).begin(&mut self.compressed);
        }
        self.state = State::Streaming {
            exchange,
            length,
            gzip,
        };
        Ok(())
    }

    /// Queues the next piece of a streaming body (compressed and framed as needed; nothing for
    /// HEAD). Pieces of any size are fine; an empty one queues nothing.
    ///
    /// # Errors
    /// [`HttpError::NotStreaming`] outside a streaming response, [`HttpError::Closed`] after
    /// [`Event::Closed`].
    pub fn send_body_chunk(&mut self, data: &[u8]) -> Result<(), HttpError> {
        let (exchange, length, gzip) = self.open_stream()?;
        if exchange.head_only {
            return Ok(());
        }
        if gzip {
            gzip_stream(&mut self.gzip, self.config.gzip_level).write(data, &mut self.compressed);
            write_body(self.outbox.bytes(), length, &self.compressed);
            self.compressed.clear();
        } else {
            write_body(self.outbox.bytes(), length, data);
        }
        Ok(())
    }

    /// Ends a streaming body. The next pipelined request, if any, is read at once; an HTTP/1.0
    /// response closes the connection.
    ///
    /// # Errors
    /// As [`send_body_chunk`](Self::send_body_chunk).
    pub fn finish_body(&mut self, now: Instant) -> Result<(), HttpError> {
        let (exchange, length, gzip) = self.open_stream()?;
        if !exchange.head_only {
            if gzip {
                gzip_stream(&mut self.gzip, self.config.gzip_level).finish(&mut self.compressed);
                write_body(self.outbox.bytes(), length, &self.compressed);
                self.compressed.clear();
            }
            if length == BodyLength::Chunked {
                write_last_chunk(self.outbox.bytes());
            }
        }
        self.complete(now, exchange);
        Ok(())
    }

    /// Ends the connection now, in the middle of a streaming response that cannot be
    /// completed: the client sees the body cut short instead of a complete wrong one. What was
    /// queued is still transmitted.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Closed) {
            self.close(CloseReason::Aborted);
        }
    }

    /// The exchange waiting for a response, or the misuse error.
    fn pending_exchange(&self) -> Result<Exchange, HttpError> {
        match self.state {
            State::Answering(exchange) => Ok(exchange),
            State::Closed => Err(HttpError::Closed),
            _ => Err(HttpError::NoRequestPending),
        }
    }

    /// The open streaming response, or the misuse error.
    fn open_stream(&self) -> Result<(Exchange, BodyLength, bool), HttpError> {
        match self.state {
            State::Streaming {
                exchange,
                length,
                gzip,
            } => Ok((exchange, length, gzip)),
            State::Closed => Err(HttpError::Closed),
            _ => Err(HttpError::NotStreaming),
        }
    }

    /// After a response: wait for the next request, or close.
    fn complete(&mut self, now: Instant, exchange: Exchange) {
        if !exchange.keep_alive {
            self.close(CloseReason::Done);
            return;
        }
        self.state = if self.input.is_empty() {
            State::Reading {
                deadline: now + self.config.idle_timeout,
                phase: Phase::Idle,
            }
        } else {
            State::Reading {
                deadline: now + self.config.request_timeout,
                phase: Phase::Head,
            }
        };
        self.read_requests();
    }

    /// Reads buffered request heads while no response is pending: refusals are answered on
    /// the spot, the first acceptable request becomes an event.
    fn read_requests(&mut self) {
        while matches!(self.state, State::Reading { .. }) && !self.input.is_empty() {
            let max_headers = self.config.max_headers;
            let paths = self.config.paths;
            match read_head(&self.input, max_headers, self.config.max_head_bytes, paths) {
                Head::Partial => break,
                Head::Accepted {
                    mut request,
                    mut exchange,
                    length,
                } => {
                    request.accepts_openmetrics &= self.config.openmetrics;
                    self.input.advance(length);
                    exchange.keep_alive &=
                        self.config.keep_alive && !(self.peer_closed && self.input.is_empty());
                    self.state = State::Answering(exchange);
                    self.outbox.push(Event::Request(request));
                }
                Head::Refused {
                    status,
                    reason,
                    mut exchange,
                    length,
                } => {
                    exchange.keep_alive &= self.config.keep_alive;
                    write_refusal(self.outbox.bytes(), status, &exchange);
                    self.outbox.push(Event::Rejected { status, reason });
                    self.input.advance(length);
                    if !exchange.keep_alive {
                        self.close(CloseReason::Refused);
                    }
                }
            }
        }
        if self.peer_closed && matches!(self.state, State::Reading { .. }) {
            self.close(CloseReason::PeerClosed);
        }
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.input.clear();
        self.outbox.push(Event::Closed(reason));
    }
}

/// The connection as the driver sees it: see the type's documentation.
impl Machine for HttpConnection {
    type Event = Event;

    /// Bytes from the peer. Input after [`Event::Closed`] is dropped.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.input.extend_from_slice(bytes);
        if let State::Reading { deadline, phase } = &mut self.state
            && *phase == Phase::Idle
            && !self.input.is_empty()
        {
            *phase = Phase::Head;
            *deadline = now + self.config.request_timeout;
        }
        self.read_requests();
        let limit = self
            .config
            .max_buffered_input
            .max(self.config.max_head_bytes);
        if !matches!(self.state, State::Closed) && self.input.len() > limit {
            self.close(CloseReason::InputOverflow);
        }
    }

    /// A head that is late gets 408 when some of it arrived, then the connection closes; an
    /// idle connection closes silently.
    fn handle_timeout(&mut self, now: Instant) {
        let State::Reading { deadline, phase } = self.state else {
            return;
        };
        if now < deadline {
            return;
        }
        if phase == Phase::Idle {
            self.close(CloseReason::IdleTimeout);
            return;
        }
        if !self.input.is_empty() {
            write_refusal(self.outbox.bytes(), Status::RequestTimeout, &BROKEN);
            self.outbox.push(Event::Rejected {
                status: Status::RequestTimeout,
                reason: RejectReason::Timeout,
            });
        }
        self.close(CloseReason::RequestTimeout);
    }

    /// Requests already received are still answered (the last response says
    /// `Connection: close`); then the connection closes.
    fn handle_eof(&mut self, _now: Instant) {
        self.peer_closed = true;
        match &mut self.state {
            State::Reading { .. } => self.read_requests(),
            // The last request gets `Connection: close`; pipelined ones are still answered.
            State::Answering(exchange) if self.input.is_empty() => exchange.keep_alive = false,
            State::Answering(_) => {}
            State::Streaming { .. } | State::Closed => {}
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_send(&mut self) -> Option<Bytes> {
        self.outbox.poll_send()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.outbox.poll_event()
    }

    /// The deadline of the request head or of the idle wait. `None` while a response is
    /// pending (its timing is the caller's) and after closing.
    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Reading { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}

/// The connection's compressor, created on first use.
fn gzip_stream(slot: &mut Option<GzipStream>, level: u32) -> &mut GzipStream {
    slot.get_or_insert_with(|| GzipStream::new(level))
}

/// Appends body bytes framed for `length`.
fn write_body(out: &mut BytesMut, length: BodyLength, data: &[u8]) {
    match length {
        BodyLength::Chunked => write_chunk(out, data),
        BodyLength::CloseDelimited | BodyLength::Known(_) => out.put_slice(data),
    }
}

#[cfg(test)]
mod tests;
