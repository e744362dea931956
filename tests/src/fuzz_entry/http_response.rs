//! The `http_response_stream` target: the response writer, checked by a decoder of its own.
//!
//! The exporter never accepts a request body (a request with `Content-Length` or
//! `Transfer-Encoding` is refused with 400 before any body byte is read, see `http_request`), so
//! the chunked bodies it handles are the ones it writes. This target streams arbitrary pieces
//! through [`HttpConnection::respond_streaming`] and reads the response back with `httparse`
//! for the head, the small chunked decoder below and `flate2` for gzip.

use std::io::Read;
use std::time::Instant;

use bytes::BytesMut;
use flate2::read::GzDecoder;
use pgexporter_core::http::{self, HttpConfig, HttpConnection, Status};
use pgexporter_core::machine::Machine;

use super::{MACHINE_TIMEOUT, pieces};

/// Option bit of the first byte: the request sends `Accept-Encoding: gzip`.
const OPTION_GZIP: u8 = 1;
/// Option bit: the request is HTTP/1.0 (a close-delimited body instead of a chunked one).
const OPTION_HTTP10: u8 = 2;
/// Option bit: the request is HEAD (headers only).
const OPTION_HEAD: u8 = 4;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4";
/// The most header lines a response of this server has.
const MAX_RESPONSE_HEADERS: usize = 16;

/// `http_response_stream`: a GET or HEAD for `/metrics` answered with a streaming body made of
/// the input's pieces. The first byte holds options ([`OPTION_GZIP`], [`OPTION_HTTP10`],
/// [`OPTION_HEAD`]); the rest is cut by [`pieces`] (its first byte: split seed) into the pieces
/// given to [`HttpConnection::send_body_chunk`]. The response must decode to exactly the
/// bytes sent (nothing for HEAD), with the framing and encoding the request allows.
pub fn http_response_stream(data: &[u8]) {
    let Some((&options, data)) = data.split_first() else {
        return;
    };
    let gzip = options & OPTION_GZIP != 0;
    let http10 = options & OPTION_HTTP10 != 0;
    let head_only = options & OPTION_HEAD != 0;
    let now = Instant::now();
    let mut connection = HttpConnection::new(HttpConfig::new(MACHINE_TIMEOUT), now);
    let request = format!(
        "{} /metrics HTTP/1.{}\r\nHost: exporter\r\n{}\r\n",
        if head_only { "HEAD" } else { "GET" },
        if http10 { 0 } else { 1 },
        if gzip {
            "Accept-Encoding: gzip\r\n"
        } else {
            ""
        },
    );
    connection.handle_input(now, request.as_bytes());
    assert!(
        matches!(connection.poll_event(), Some(http::Event::Request(_))),
        "a valid request is handed to the caller"
    );
    connection
        .respond_streaming(Status::Ok, CONTENT_TYPE, true)
        .expect("a pending request accepts a response");
    let mut sent = Vec::new();
    for piece in pieces(data) {
        connection
            .send_body_chunk(piece)
            .expect("a streaming response takes pieces");
        sent.extend_from_slice(piece);
    }
    connection
        .finish_body(now)
        .expect("a streaming response can end");
    let mut response = BytesMut::new();
    while connection.poll_transmit(&mut response) {}

    let (head, body) = read_head(&response);
    assert_eq!(
        head.chunked, !http10,
        "chunked framing exactly for HTTP/1.1"
    );
    assert_eq!(head.gzip, gzip, "gzip exactly when the client accepts it");
    if head_only {
        assert!(body.is_empty(), "a HEAD response has no body");
        return;
    }
    let body = if head.chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    let body = if head.gzip {
        gunzip(&body, sent.len())
    } else {
        body
    };
    assert!(body == sent, "the response body differs from what was sent");
}

/// What the head of a response says about its body.
struct Head {
    chunked: bool,
    gzip: bool,
}

/// Parses the response head (it must be a complete 200 with the streaming content type) and
/// returns what it says and the bytes after it.
fn read_head(response: &[u8]) -> (Head, &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(response) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("the response head does not parse: {other:?}"),
    };
    assert_eq!(parsed.code, Some(200), "status");
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    };
    assert_eq!(
        header("Content-Type"),
        Some(CONTENT_TYPE.as_bytes()),
        "content type"
    );
    assert_eq!(
        header("Content-Length"),
        None,
        "a streaming body has no length"
    );
    let head = Head {
        chunked: header("Transfer-Encoding") == Some(b"chunked"),
        gzip: header("Content-Encoding") == Some(b"gzip"),
    };
    (head, &response[head_len..])
}

/// Decodes a chunked body strictly: hexadecimal sizes without extensions, CRLF after each size
/// and each chunk, the last chunk `0` without trailers, and nothing after it.
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = bytes
            .windows(2)
            .position(|pair| pair == b"\r\n")
            .expect("a chunk size line ends with CRLF");
        let size = std::str::from_utf8(&bytes[..line_end])
            .ok()
            .and_then(|text| usize::from_str_radix(text, 16).ok())
            .expect("a chunk size is hexadecimal");
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            assert_eq!(bytes, b"\r\n", "the last chunk ends the body");
            return body;
        }
        assert!(size <= bytes.len(), "a chunk is shorter than its size");
        let (chunk, rest) = bytes.split_at(size);
        body.extend_from_slice(chunk);
        bytes = rest
            .strip_prefix(b"\r\n")
            .expect("a chunk is followed by CRLF");
    }
}

/// Decompresses a gzip stream that must expand to `expected_len` bytes; reads one byte more to
/// catch a longer output without reading an unbounded one.
fn gunzip(compressed: &[u8], expected_len: usize) -> Vec<u8> {
    let mut plain = Vec::new();
    let limit = u64::try_from(expected_len).expect("a body length fits in u64") + 1;
    GzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut plain)
        .expect("the body is a valid gzip stream");
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_joins_chunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n"),
            b"abc0123456789"
        );
        assert_eq!(dechunk(b"0\r\n\r\n"), b"");
    }

    #[test]
    #[should_panic(expected = "the last chunk ends the body")]
    fn dechunk_refuses_bytes_after_the_last_chunk() {
        dechunk(b"0\r\n\r\nextra");
    }

    #[test]
    #[should_panic(expected = "a chunk is shorter than its size")]
    fn dechunk_refuses_a_short_chunk() {
        dechunk(b"5\r\nabc");
    }

    #[test]
    fn every_option_combination_round_trips() {
        let body = b"# TYPE up gauge\nup 1\n".repeat(40);
        for options in 0..8u8 {
            for split_seed in [0u8, 1, 77] {
                let mut input = vec![options, split_seed];
                input.extend_from_slice(&body);
                http_response_stream(&input);
            }
        }
    }
}
