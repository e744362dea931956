//! Response bodies: Content-Length, HEAD, chunked and close-delimited framing, gzip.

use bytes::Bytes;

use super::*;
use crate::http::{SharedBody, gunzip};
use crate::machine::Machine;

/// Decodes a chunked body, checking the framing strictly; returns the body and what follows.
fn dechunk(mut bytes: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut body = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap(), 16).unwrap();
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            assert_eq!(&bytes[..2], b"\r\n");
            return (body, &bytes[2..]);
        }
        body.extend_from_slice(&bytes[..size]);
        assert_eq!(&bytes[size..size + 2], b"\r\n");
        bytes = &bytes[size + 2..];
    }
}

/// Splits a response at the end of its head.
fn split_head(bytes: &[u8]) -> (String, &[u8]) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (text(&bytes[..end]), &bytes[end..])
}

#[test]
fn head_gets_headers_only() {
    let (mut connection, now) = start();
    connection.handle_input(now, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    let (_, events) = drain(&mut connection);
    assert!(request_of(&events).head_only);
    connection.respond(now, ok(b"body!")).unwrap();
    let (out, _) = drain(&mut connection);
    assert!(text(&out).ends_with("Content-Length: 5\r\n\r\n"));
}

#[test]
fn chunked_framing_exact_bytes() {
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut connection);
    connection
        .respond_streaming(Status::Ok, TEXT, false)
        .unwrap();
    connection.send_body_chunk(b"# TYPE a gauge\n").unwrap();
    connection.send_body_chunk(b"").unwrap();
    connection.send_body_chunk(b"a 1\n").unwrap();
    connection.finish_body(now).unwrap();
    let (out, events) = drain(&mut connection);
    assert_eq!(
        text(&out),
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {TEXT}\r\nTransfer-Encoding: chunked\r\n\r\n\
             f\r\n# TYPE a gauge\n\r\n4\r\na 1\n\r\n0\r\n\r\n"
        )
    );
    assert!(events.is_empty());
}

#[test]
fn http10_streaming_is_close_delimited() {
    let (mut connection, now) = start();
    connection.handle_input(
        now,
        b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let _ = drain(&mut connection);
    connection
        .respond_streaming(Status::Ok, TEXT, false)
        .unwrap();
    connection.send_body_chunk(b"a 1\n").unwrap();
    connection.finish_body(now).unwrap();
    let (out, events) = drain(&mut connection);
    assert_eq!(
        text(&out),
        format!("HTTP/1.1 200 OK\r\nContent-Type: {TEXT}\r\nConnection: close\r\n\r\na 1\n")
    );
    assert_eq!(events, [Event::Closed(CloseReason::Done)]);
}

fn gzip_request(connection: &mut HttpConnection, now: Instant) {
    connection.handle_input(
        now,
        b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert!(request_of(&drain(connection).1).accepts_gzip);
}

#[test]
fn gzip_complete_body_decompresses() {
    let body: Vec<u8> = (0..5000)
        .flat_map(|i| format!("m{{i=\"{i}\"}} {i}\n").into_bytes())
        .collect();
    let (mut connection, now) = start();
    gzip_request(&mut connection, now);
    connection.respond(now, ok(&body)).unwrap();
    let (out, _) = drain(&mut connection);
    let (head, rest) = split_head(&out);
    assert!(head.contains("Content-Encoding: gzip\r\n"));
    assert!(head.contains(&format!("Content-Length: {}\r\n", rest.len())));
    assert!(rest.len() < body.len() / 3);
    assert_eq!(gunzip(rest), body);
}

/// A shared body that counts how often each encoding is asked for.
#[derive(Debug, Default)]
struct CountedBody {
    plain: std::cell::Cell<u32>,
    gzipped: std::cell::Cell<u32>,
}

impl SharedBody for CountedBody {
    fn plain(&self) -> Bytes {
        self.plain.set(self.plain.get() + 1);
        Bytes::from_static(b"a 1\n")
    }

    fn gzipped(&self, level: u32) -> Bytes {
        self.gzipped.set(self.gzipped.get() + 1);
        Bytes::from(crate::http::gzip_body(b"a 1\n", level))
    }
}

#[test]
fn a_shared_body_is_queued_as_it_is_in_the_encoding_the_request_accepts() {
    let body = CountedBody::default();
    let shared = SharedResponse {
        status: Status::Ok,
        content_type: TEXT,
        body: &body,
    };
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    drain(&mut connection);
    connection.respond_shared(now, shared).unwrap();
    let head = connection.poll_send().unwrap();
    assert!(
        text(&head).ends_with("Content-Length: 4\r\n\r\n"),
        "{head:?}"
    );
    let sent = connection.poll_send().unwrap();
    assert_eq!(
        sent.as_ptr(),
        b"a 1\n".as_ptr(),
        "the body itself, not a copy"
    );
    assert_eq!(connection.poll_send(), None);
    assert_eq!((body.plain.get(), body.gzipped.get()), (1, 0));

    gzip_request(&mut connection, now);
    connection.respond_shared(now, shared).unwrap();
    let (out, _) = drain(&mut connection);
    let (head, rest) = split_head(&out);
    assert!(head.contains("Content-Encoding: gzip\r\n"), "{head}");
    assert_eq!(gunzip(rest), b"a 1\n");
    assert_eq!((body.plain.get(), body.gzipped.get()), (1, 1));

    connection.handle_input(now, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    drain(&mut connection);
    connection.respond_shared(now, shared).unwrap();
    let (out, _) = drain(&mut connection);
    assert!(
        text(&out).ends_with("Content-Length: 4\r\n\r\n"),
        "head only"
    );
}

#[test]
fn gzip_streaming_body_decompresses_and_stream_is_reused() {
    let (mut connection, now) = start();
    for round in 0..2 {
        gzip_request(&mut connection, now);
        connection
            .respond_streaming(Status::Ok, TEXT, true)
            .unwrap();
        let mut body = Vec::new();
        for i in 0..3000 {
            let piece = format!("pg_x{{round=\"{round}\",n=\"{i}\"}} {i}\n");
            connection.send_body_chunk(piece.as_bytes()).unwrap();
            body.extend_from_slice(piece.as_bytes());
        }
        connection.finish_body(now).unwrap();
        let (out, _) = drain(&mut connection);
        let (head, rest) = split_head(&out);
        assert!(head.contains("Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"));
        let (compressed, after) = dechunk(rest);
        assert!(after.is_empty());
        assert_eq!(gunzip(&compressed), body);
    }
}

#[test]
fn gzip_needs_both_sides() {
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut connection);
    connection.respond(now, ok(b"plain")).unwrap();
    assert!(text(&drain(&mut connection).0).ends_with("\r\n\r\nplain"));
    gzip_request(&mut connection, now);
    let refuse = Response {
        allow_gzip: false,
        ..ok(b"plain")
    };
    connection.respond(now, refuse).unwrap();
    assert!(text(&drain(&mut connection).0).ends_with("\r\n\r\nplain"));
}

/// How a generated response is asked for and written.
#[derive(Debug, Clone, Copy)]
struct Setup {
    gzip: bool,
    http10: bool,
    head: bool,
    streaming: bool,
}

/// Answers one request made as `setup` says with `pieces` as the body; returns the bytes
/// written.
fn respond_with(setup: Setup, pieces: &[Vec<u8>]) -> Vec<u8> {
    let (mut connection, now) = start();
    let request = format!(
        "{} /metrics HTTP/1.{}\r\nHost: x\r\n{}\r\n",
        if setup.head { "HEAD" } else { "GET" },
        if setup.http10 { 0 } else { 1 },
        if setup.gzip {
            "Accept-Encoding: gzip\r\n"
        } else {
            ""
        },
    );
    connection.handle_input(now, request.as_bytes());
    let _ = request_of(&drain(&mut connection).1);
    if setup.streaming {
        connection
            .respond_streaming(Status::Ok, TEXT, true)
            .unwrap();
        for piece in pieces {
            connection.send_body_chunk(piece).unwrap();
        }
        connection.finish_body(now).unwrap();
    } else {
        connection.respond(now, ok(&pieces.concat())).unwrap();
    }
    drain(&mut connection).0
}

proptest! {
    #[test]
    fn responses_read_back_with_httparse(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
        (gzip, http10, head, streaming) in any::<(bool, bool, bool, bool)>(),
    ) {
        let out = respond_with(Setup { gzip, http10, head, streaming }, &pieces);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&out) {
            Ok(httparse::Status::Complete(len)) => len,
            other => return Err(TestCaseError::fail(format!("head does not parse: {other:?}"))),
        };
        prop_assert_eq!(response.version, Some(1));
        prop_assert_eq!(response.code, Some(200));
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case(name))
                .map(|header| std::str::from_utf8(header.value).unwrap())
        };
        prop_assert_eq!(header("Content-Type"), Some(TEXT));
        prop_assert_eq!(header("Content-Encoding").is_some(), gzip);
        let chunked = header("Transfer-Encoding") == Some("chunked");
        prop_assert_eq!(chunked, streaming && !http10);
        let length: Option<usize> = header("Content-Length").map(|text| text.parse().unwrap());
        prop_assert_eq!(length.is_some(), !streaming);
        prop_assert_eq!(header("Connection") == Some("close"), http10);
        let rest = &out[head_len..];
        if head {
            prop_assert!(rest.is_empty(), "a HEAD response has no body");
            return Ok(());
        }
        let body = match length {
            Some(length) => {
                prop_assert_eq!(rest.len(), length);
                rest.to_vec()
            }
            None if chunked => {
                let (body, after) = dechunk(rest);
                prop_assert!(after.is_empty());
                body
            }
            None => rest.to_vec(),
        };
        let body = if gzip { gunzip(&body) } else { body };
        prop_assert_eq!(body, pieces.concat());
    }
}
