//! Writing response heads and body framing.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use super::Status;
use super::request::{Exchange, Version};

/// How the end of a body is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyLength {
    /// `Content-Length`.
    Known(usize),
    /// `Transfer-Encoding: chunked` (HTTP/1.1).
    Chunked,
    /// The connection closes after the body (HTTP/1.0).
    CloseDelimited,
}

/// The content type of the responses the connection writes itself.
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// Appends a status line and headers. `Date` is not written: the machine has no wall clock,
/// and RFC 9110 lets a server without one leave it out.
pub(super) fn write_head(
    out: &mut BytesMut,
    status: Status,
    content_type: &str,
    length: BodyLength,
    gzip: bool,
    exchange: &Exchange,
) {
    // Writing into a BytesMut cannot fail: it grows as needed.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\n",
        status.code(),
        status.reason()
    );
    match length {
        BodyLength::Known(length) => {
            let _ = write!(out, "Content-Length: {length}\r\n");
        }
        BodyLength::Chunked => out.put_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyLength::CloseDelimited => {}
    }
    if gzip {
        out.put_slice(b"Content-Encoding: gzip\r\n");
    }
    if status == Status::MethodNotAllowed {
        out.put_slice(b"Allow: GET, HEAD\r\n");
    }
    if !exchange.keep_alive {
        out.put_slice(b"Connection: close\r\n");
    } else if exchange.version == Version::Http10 {
        out.put_slice(b"Connection: keep-alive\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Appends the complete response to a refused request: a one-line plain text body
/// `"<code> <reason>\n"` (headers only for `HEAD`).
pub(super) fn write_refusal(out: &mut BytesMut, status: Status, exchange: &Exchange) {
    // Three digits, a space, the reason phrase, a newline.
    let length = status.reason().len() + 5;
    write_head(
        out,
        status,
        PLAIN_TEXT,
        BodyLength::Known(length),
        false,
        exchange,
    );
    if !exchange.head_only {
        let _ = writeln!(out, "{} {}", status.code(), status.reason());
    }
}

/// Appends one chunk of a chunked body; an empty `data` writes nothing, since an empty chunk
/// would end the body.
pub(super) fn write_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends the last chunk that ends a chunked body (no trailers).
pub(super) fn write_last_chunk(out: &mut BytesMut) {
    out.put_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Exchange = Exchange {
        version: Version::Http11,
        head_only: false,
        keep_alive: true,
        accepts_gzip: false,
    };

    fn text(out: &BytesMut) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn chunk_framing_is_exact() {
        let mut out = BytesMut::new();
        write_chunk(&mut out, b"hello world, 26 bytes long");
        write_chunk(&mut out, b"");
        write_last_chunk(&mut out);
        assert_eq!(text(&out), "1a\r\nhello world, 26 bytes long\r\n0\r\n\r\n");
    }

    #[test]
    fn refusal_of_method() {
        let mut out = BytesMut::new();
        let close = Exchange {
            keep_alive: false,
            ..KEEP
        };
        write_refusal(&mut out, Status::MethodNotAllowed, &close);
        assert_eq!(
            text(&out),
            concat!(
                "HTTP/1.1 405 Method Not Allowed\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Length: 23\r\n",
                "Allow: GET, HEAD\r\n",
                "Connection: close\r\n\r\n",
                "405 Method Not Allowed\n"
            )
        );
    }

    #[test]
    fn refusal_of_head_request_has_no_body() {
        let mut out = BytesMut::new();
        let head = Exchange {
            head_only: true,
            ..KEEP
        };
        write_refusal(&mut out, Status::Forbidden, &head);
        assert!(text(&out).ends_with("Content-Length: 14\r\n\r\n"));
    }

    #[test]
    fn http10_keep_alive_is_announced() {
        let mut out = BytesMut::new();
        let old = Exchange {
            version: Version::Http10,
            ..KEEP
        };
        write_head(
            &mut out,
            Status::Ok,
            "x/y",
            BodyLength::Known(0),
            true,
            &old,
        );
        assert_eq!(
            text(&out),
            concat!(
                "HTTP/1.1 200 OK\r\nContent-Type: x/y\r\nContent-Length: 0\r\n",
                "Content-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n"
            )
        );
    }
}
