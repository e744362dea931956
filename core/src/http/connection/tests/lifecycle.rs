//! Keep-alive and close, timeouts, end of input, limits and misuse.

use super::*;
use crate::machine::Machine;

#[test]
fn connection_close_and_http10() {
    for input in [
        "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /metrics HTTP/1.0\r\n\r\n",
    ] {
        let (mut connection, now) = start();
        connection.handle_input(now, input.as_bytes());
        let _ = drain(&mut connection);
        connection.respond(now, ok(b"x")).unwrap();
        let (out, events) = drain(&mut connection);
        assert!(text(&out).contains("Connection: close\r\n"));
        assert_eq!(events, [Event::Closed(CloseReason::Done)]);
        connection.handle_input(now, METRICS.as_bytes());
        assert_eq!(drain(&mut connection), (Vec::new(), Vec::new()));
    }
}

#[test]
fn http10_keep_alive_is_honoured() {
    let (mut connection, now) = start();
    connection.handle_input(now, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let _ = drain(&mut connection);
    connection.respond(now, ok(b"x")).unwrap();
    let (out, events) = drain(&mut connection);
    assert!(text(&out).contains("Connection: keep-alive\r\n"));
    assert!(events.is_empty());
    assert!(!connection.is_finished());
}

#[test]
fn slow_head_gets_408_then_close() {
    let (mut connection, start_time) = start();
    let deadline = start_time + Duration::from_secs(5);
    assert_eq!(connection.poll_timeout(), Some(deadline));
    connection.handle_input(start_time + Duration::from_secs(4), b"GET /met");
    // The first request's deadline counts from the connection's start.
    assert_eq!(connection.poll_timeout(), Some(deadline));
    connection.handle_timeout(deadline - Duration::from_millis(1));
    assert!(drain(&mut connection).1.is_empty());
    connection.handle_timeout(deadline);
    let (out, events) = drain(&mut connection);
    assert!(text(&out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(
        events,
        [
            Event::Rejected {
                status: Status::RequestTimeout,
                reason: RejectReason::Timeout
            },
            Event::Closed(CloseReason::RequestTimeout)
        ]
    );
    assert_eq!(connection.poll_timeout(), None);
}

#[test]
fn silent_connection_is_dropped_without_answer() {
    let (mut connection, now) = start();
    connection.handle_timeout(now + Duration::from_secs(5));
    let (out, events) = drain(&mut connection);
    assert!(out.is_empty());
    assert_eq!(events, [Event::Closed(CloseReason::RequestTimeout)]);
}

#[test]
fn idle_keep_alive_then_next_head_deadline() {
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut connection);
    let answered = now + Duration::from_secs(1);
    connection.respond(answered, ok(b"x")).unwrap();
    let _ = drain(&mut connection);
    assert_eq!(
        connection.poll_timeout(),
        Some(answered + Duration::from_secs(60))
    );
    let first_byte = answered + Duration::from_secs(30);
    connection.handle_input(first_byte, b"G");
    assert_eq!(
        connection.poll_timeout(),
        Some(first_byte + Duration::from_secs(5))
    );

    let (mut idle, now) = start();
    idle.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut idle);
    idle.respond(now, ok(b"x")).unwrap();
    let _ = drain(&mut idle);
    idle.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(
        drain(&mut idle),
        (Vec::new(), vec![Event::Closed(CloseReason::IdleTimeout)])
    );
}

#[test]
fn eof_closes_after_pending_answers() {
    let (mut connection, now) = start();
    connection.handle_eof(now);
    assert_eq!(
        drain(&mut connection).1,
        [Event::Closed(CloseReason::PeerClosed)]
    );

    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    connection.handle_eof(now);
    let _ = drain(&mut connection);
    connection.respond(now, ok(b"x")).unwrap();
    let (out, events) = drain(&mut connection);
    assert!(text(&out).contains("Connection: close\r\n"));
    assert_eq!(events, [Event::Closed(CloseReason::Done)]);
}

#[test]
fn eof_after_pipelined_requests_serves_them_all() {
    let (mut connection, now) = start();
    let input = format!("{METRICS}{METRICS}");
    connection.handle_input(now, input.as_bytes());
    connection.handle_eof(now);
    assert_eq!(drain(&mut connection).1.len(), 1);
    connection
        .respond_streaming(Status::Ok, TEXT, false)
        .unwrap();
    connection.finish_body(now).unwrap();
    assert_eq!(request_of(&drain(&mut connection).1).route, Route::Metrics);
    connection.respond(now, ok(b"x")).unwrap();
    assert_eq!(drain(&mut connection).1, [Event::Closed(CloseReason::Done)]);
}

#[test]
fn too_much_pipelined_input_closes() {
    let (mut connection, now) = start();
    connection.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut connection);
    let flood = vec![b'x'; 64 * 1024 + 1];
    connection.handle_input(now, &flood);
    assert_eq!(
        drain(&mut connection).1,
        [Event::Closed(CloseReason::InputOverflow)]
    );
    assert_eq!(connection.respond(now, ok(b"x")), Err(HttpError::Closed));
}

#[test]
fn misuse_is_reported() {
    let (mut connection, now) = start();
    assert_eq!(
        connection.respond(now, ok(b"x")),
        Err(HttpError::NoRequestPending)
    );
    assert_eq!(
        connection.respond_streaming(Status::Ok, TEXT, false),
        Err(HttpError::NoRequestPending)
    );
    assert_eq!(
        connection.send_body_chunk(b"x"),
        Err(HttpError::NotStreaming)
    );
    assert_eq!(connection.finish_body(now), Err(HttpError::NotStreaming));
    connection.handle_input(now, METRICS.as_bytes());
    let _ = drain(&mut connection);
    assert_eq!(
        connection.send_body_chunk(b"x"),
        Err(HttpError::NotStreaming)
    );
}

#[test]
fn transmit_appends_to_a_non_empty_buffer() {
    let (mut connection, now) = start();
    connection.handle_input(now, b"GET /x HTTP/1.1\r\n\r\n");
    let mut out = BytesMut::from(&b"before|"[..]);
    assert!(connection.poll_transmit(&mut out));
    assert!(out.starts_with(b"before|HTTP/1.1 403"));
    assert!(!connection.poll_transmit(&mut out));
}
