//! Tests of the connection: routing and refusals, pipelining and splits, generated input.

mod bodies;
mod lifecycle;

use proptest::prelude::*;

use super::*;
use crate::http::{Request, Route};
use crate::machine::Machine;

const METRICS: &str = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn start() -> (HttpConnection, Instant) {
    let now = crate::test_clock::origin();
    (HttpConnection::new(config(), now), now)
}

fn config() -> HttpConfig {
    HttpConfig::new(Duration::from_secs(5))
}

/// Drains the connection: everything transmitted (as lossy text) and every event.
fn drain(connection: &mut HttpConnection) -> (Vec<u8>, Vec<Event>) {
    let mut out = BytesMut::new();
    while connection.poll_transmit(&mut out) {}
    let mut events = Vec::new();
    while let Some(event) = connection.poll_event() {
        events.push(event);
    }
    (out.to_vec(), events)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn request_of(events: &[Event]) -> Request {
    match events {
        [Event::Request(request)] => request.clone(),
        other => panic!("expected one request, got {other:?}"),
    }
}

fn ok(body: &[u8]) -> Response<'_> {
    Response {
        status: Status::Ok,
        content_type: TEXT,
        body,
        allow_gzip: true,
    }
}

fn rejected(input: &str) -> (String, Vec<Event>) {
    let (mut connection, now) = start();
    connection.handle_input(now, input.as_bytes());
    let (out, events) = drain(&mut connection);
    (text(&out), events)
}

#[test]
fn get_metrics_then_keep_alive() {
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    let (out, events) = drain(&mut connection);
    assert!(out.is_empty());
    let request = request_of(&events);
    assert_eq!(request.route, Route::Metrics);
    assert!(!request.head_only);
    assert_eq!(connection.poll_timeout(), None);
    connection.respond(now, ok(b"a 1\n")).unwrap();
    let (out, events) = drain(&mut connection);
    assert_eq!(
        text(&out),
        format!("HTTP/1.1 200 OK\r\nContent-Type: {TEXT}\r\nContent-Length: 4\r\n\r\na 1\n")
    );
    assert!(events.is_empty());
    assert_eq!(
        connection.poll_timeout(),
        Some(now + Duration::from_secs(60))
    );
}

#[test]
fn index_routes() {
    for input in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET /index.html?a HTTP/1.1\r\n\r\n",
    ] {
        let (_, events) = rejected(input);
        assert_eq!(request_of(&events).route, Route::Index);
    }
}

#[test]
fn forbidden_path_keeps_the_connection() {
    let (out, events) = rejected("GET /admin HTTP/1.1\r\n\r\n");
    assert_eq!(
        out,
        concat!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n",
            "Content-Length: 14\r\n\r\n403 Forbidden\n"
        )
    );
    assert_eq!(
        events,
        [Event::Rejected {
            status: Status::Forbidden,
            reason: RejectReason::ForbiddenPath
        }]
    );
}

#[test]
fn other_methods_get_405_with_allow() {
    let (out, events) = rejected("DELETE /metrics HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(out.contains("\r\nAllow: GET, HEAD\r\n"));
    assert_eq!(events.len(), 1);
    let (out, events) = rejected("POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(events.last(), Some(&Event::Closed(CloseReason::Refused)));
}

#[test]
fn malformed_gets_400_and_close() {
    let (out, events) = rejected("GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(
        events,
        [
            Event::Rejected {
                status: Status::BadRequest,
                reason: RejectReason::Malformed
            },
            Event::Closed(CloseReason::Refused)
        ]
    );
}

#[test]
fn get_with_body_gets_400() {
    let (out, events) = rejected("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert_eq!(
        events[0],
        Event::Rejected {
            status: Status::BadRequest,
            reason: RejectReason::BodyNotAllowed
        }
    );
    assert_eq!(events[1], Event::Closed(CloseReason::Refused));
}

#[test]
fn oversized_heads_get_431() {
    let (mut connection, now) = start();
    let big = format!("GET /metrics HTTP/1.1\r\nX-Big: {}", "y".repeat(9000));
    connection.handle_input(now, big.as_bytes());
    let (out, events) = drain(&mut connection);
    assert!(text(&out).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_eq!(
        events[0],
        Event::Rejected {
            status: Status::RequestHeaderFieldsTooLarge,
            reason: RejectReason::HeadTooLarge
        }
    );
    assert!(connection.is_finished());

    let lines: String = (0..33).map(|i| format!("X-{i}: 1\r\n")).collect();
    let (out, events) = rejected(&format!("GET / HTTP/1.1\r\n{lines}\r\n"));
    assert!(out.starts_with("HTTP/1.1 431 "));
    assert_eq!(
        events[0],
        Event::Rejected {
            status: Status::RequestHeaderFieldsTooLarge,
            reason: RejectReason::TooManyHeaders
        }
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (mut connection, now) = start();
    let input = format!("{METRICS}GET /nope HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    connection.handle_input(now, input.as_bytes());
    let (out, events) = drain(&mut connection);
    assert!(out.is_empty());
    assert_eq!(request_of(&events).route, Route::Metrics);
    connection.respond(now, ok(b"first")).unwrap();
    let (out, events) = drain(&mut connection);
    let out = text(&out);
    let first = out.find("first").unwrap();
    let forbidden = out.find("403 Forbidden").unwrap();
    assert!(first < forbidden);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1], Event::Request(request_of(&events[1..])));
    assert_eq!(request_of(&events[1..]).route, Route::Index);
}

/// Feeds `parts` and answers every request with its ordinal; returns all output and events.
fn converse(parts: &[&[u8]]) -> (Vec<u8>, Vec<Event>) {
    let (mut connection, now) = start();
    let mut all_out = Vec::new();
    let mut all_events = Vec::new();
    for part in parts {
        connection.handle_input(now, part);
        loop {
            let (out, events) = drain(&mut connection);
            all_out.extend(out);
            let requests = events
                .iter()
                .filter(|e| matches!(e, Event::Request(_)))
                .count();
            all_events.extend(events);
            if requests == 0 {
                break;
            }
            let body = format!("response {}", all_events.len());
            connection.respond(now, ok(body.as_bytes())).unwrap();
        }
    }
    (all_out, all_events)
}

#[test]
fn any_split_gives_the_same_conversation() {
    let input = format!(
        "{METRICS}HEAD / HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\n\r\nGET /metrics?q HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    let input = input.as_bytes();
    let whole = converse(&[input]);
    assert_eq!(whole.1.len(), 5, "{:?}", whole.1);
    assert_eq!(whole.1.last(), Some(&Event::Closed(CloseReason::Done)));
    for split in 1..input.len() {
        assert_eq!(converse(&[&input[..split], &input[split..]]), whole);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(converse(&bytes), whole);
}

fn valid_request() -> impl Strategy<Value = (String, bool, Route)> {
    let method = prop_oneof![Just(("GET", false)), Just(("HEAD", true))];
    let path = prop_oneof![
        Just(("/metrics", Route::Metrics)),
        Just(("/", Route::Index)),
        Just(("/index.html", Route::Index)),
    ];
    let query = proptest::option::of("[a-z0-9=&%]{0,20}");
    let headers = proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}"), 0..10);
    let version = prop_oneof![Just("1.0"), Just("1.1")];
    (method, path, query, headers, version).prop_filter_map(
        "no body framing headers",
        |((method, head_only), (path, route), query, headers, version)| {
            let mut text = format!("{method} {path}");
            if let Some(query) = query {
                text.push('?');
                text.push_str(&query);
            }
            text.push_str(&format!(" HTTP/{version}\r\n"));
            for (name, value) in headers {
                let lower = name.to_ascii_lowercase();
                if lower == "content-length" || lower == "transfer-encoding" {
                    return None;
                }
                text.push_str(&format!("{name}: {}\r\n", value.trim()));
            }
            text.push_str("\r\n");
            Some((text, head_only, route))
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        eof in any::<bool>(),
    ) {
        let (mut connection, now) = start();
        for (index, part) in parts.iter().enumerate() {
            let later = now + Duration::from_millis(index as u64 * 1500);
            if connection.is_finished() {
                break;
            }
            connection.handle_input(later, part);
            while let Some(event) = connection.poll_event() {
                if let Event::Request(_) = event {
                    connection.respond(later, ok(b"x")).unwrap();
                }
            }
            let mut out = BytesMut::new();
            while connection.poll_transmit(&mut out) {}
            if let Some(deadline) = connection.poll_timeout() {
                connection.handle_timeout(deadline);
            }
        }
        if eof {
            connection.handle_eof(now);
        }
        let _ = drain(&mut connection);
    }

    #[test]
    fn valid_requests_route_correctly((input, head_only, route) in valid_request()) {
        let (mut connection, now) = start();
        connection.handle_input(now, input.as_bytes());
        let (out, events) = drain(&mut connection);
        prop_assert!(out.is_empty(), "{}", text(&out));
        let request = request_of(&events);
        prop_assert_eq!(request.route, route);
        prop_assert_eq!(request.head_only, head_only);
    }
}
