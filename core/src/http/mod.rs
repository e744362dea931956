//! The HTTP/1.x server side of one connection, sans IO.
//!
//! [`HttpConnection`] reads request heads, routes them (SPEC §5), answers what it must refuse
//! by itself, and hands the caller a [`Request`] for `/metrics` and the overview page. The
//! caller answers with [`HttpConnection::respond`] (a complete body),
//! [`HttpConnection::respond_shared`] (a complete body shared with other connections) or
//! [`HttpConnection::respond_streaming`] (a body written piece by piece, chunked or
//! close-delimited), with gzip when both sides allow it.
//!
//! [`negotiate`] holds the `Accept` and `Accept-Encoding` rules on their own; [`client`] is the
//! other side, the HTTP/1.1 client that fetches other exporters' `/metrics`.

pub mod client;
mod connection;
mod gzip;
pub mod negotiate;
mod request;
mod response;

pub use connection::{HttpConfig, HttpConnection, Response, SharedBody, SharedResponse};
#[cfg(test)]
pub(crate) use gzip::gunzip;
pub use gzip::gzip_body;
pub use negotiate::{accepts_gzip, prefers_openmetrics};
pub use request::{MAX_HEADERS_LIMIT, Paths, Request, Route};

/// The response statuses this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200.
    Ok,
    /// 400: the request head is malformed or carries a body.
    BadRequest,
    /// 403: a path the port does not serve (metrics, bridge and console ports).
    Forbidden,
    /// 404: a path the history port does not serve, or `/probe` of a target that is not
    /// configured.
    NotFound,
    /// 405: a method other than GET and HEAD.
    MethodNotAllowed,
    /// 408: the request head did not arrive in time.
    RequestTimeout,
    /// 431: the request head is too large or has too many header lines.
    RequestHeaderFieldsTooLarge,
    /// 500: the caller failed to produce a response.
    InternalServerError,
    /// 503: the caller cannot produce a response now.
    ServiceUnavailable,
}

impl Status {
    /// The numeric status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase written after the code.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// Why the connection refused a request by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not an HTTP/1.x request head, or an unreadable `Content-Length` (400).
    Malformed,
    /// A GET or HEAD with a body (`Content-Length` above 0 or `Transfer-Encoding`) (400).
    BodyNotAllowed,
    /// The head is longer than [`HttpConfig::max_head_bytes`] (431).
    HeadTooLarge,
    /// More header lines than [`HttpConfig::max_headers`] (431).
    TooManyHeaders,
    /// A method other than GET and HEAD (405).
    MethodNotAllowed,
    /// A path that is not served on the metrics port (403).
    ForbiddenPath,
    /// A path that is not served on the history port (404).
    NotFound,
    /// The head was not complete within [`HttpConfig::request_timeout`] (408).
    Timeout,
}

/// Why the connection ended. After this event, write out what `poll_transmit` returns and
/// close the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// A response was complete and the exchange did not keep the connection alive.
    Done,
    /// A request was refused in a way that leaves the input unreadable, or without keep-alive.
    Refused,
    /// The peer closed its side while no response was pending.
    PeerClosed,
    /// No new request began within [`HttpConfig::idle_timeout`].
    IdleTimeout,
    /// A request head was not complete within [`HttpConfig::request_timeout`].
    RequestTimeout,
    /// The peer sent more than [`HttpConfig::max_buffered_input`] bytes while a response was
    /// pending.
    InputOverflow,
    /// The caller ended a streaming response it could not complete
    /// ([`HttpConnection::abort`]).
    Aborted,
}

/// What happened on the connection. Exhaustive on purpose: a runtime must handle every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request to answer with [`HttpConnection::respond`] or
    /// [`HttpConnection::respond_streaming`]. No further request is read until it is answered.
    Request(Request),
    /// A request the connection answered itself with `status`; worth a log line.
    Rejected {
        /// The status sent.
        status: Status,
        /// Why.
        reason: RejectReason,
    },
    /// The connection is finished; see [`CloseReason`].
    Closed(CloseReason),
}

/// A call that does not fit the connection's state: a bug in the caller, never the peer's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The connection already reported [`Event::Closed`].
    #[error("the HTTP connection is closed")]
    Closed,
    /// A response was given while no [`Event::Request`] was waiting for one.
    #[error("no request is waiting for a response")]
    NoRequestPending,
    /// A body piece or body end was given outside a streaming response.
    #[error("no streaming response is open")]
    NotStreaming,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_agree() {
        assert_eq!(Status::RequestHeaderFieldsTooLarge.code(), 431);
        assert_eq!(Status::MethodNotAllowed.reason(), "Method Not Allowed");
        assert_eq!(Status::ServiceUnavailable.code(), 503);
    }
}
