//! Targets for the byte protocols: PostgreSQL backend messages and connection, HTTP requests.

use std::time::Instant;

use bytes::BytesMut;
use pgexporter_core::http::{self, HttpConfig, HttpConnection, Response, Status};
use pgexporter_core::machine::Machine;
use pgexporter_core::pg::{self, ConnectParams, Connection, Message, TlsMode};

use super::{MACHINE_TIMEOUT, pieces};

/// `pg_backend`: [`Message::parse`] on the bytes, message after message, until it wants more
/// bytes or reports an error.
pub fn pg_backend(data: &[u8]) {
    let mut buffer = BytesMut::from(data);
    loop {
        let before = buffer.len();
        match Message::parse(&mut buffer) {
            Ok(Some(_)) => assert!(buffer.len() < before, "a parsed message consumed no bytes"),
            Ok(None) | Err(_) => break,
        }
    }
}

/// `pg_connection`: a client [`Connection`] (no TLS, no password: trust) with two queries
/// queued, fed the payload as server bytes in the pieces [`pieces`] cuts (first byte: split
/// seed), then end of file and a timeout; everything it produces is drained after each call.
pub fn pg_connection(data: &[u8]) {
    let now = Instant::now();
    let params = ConnectParams {
        user: "postgres".into(),
        database: "postgres".into(),
        password: None,
        application_name: "pgexporter".into(),
        tls: TlsMode::Off,
        options: Vec::new(),
        connect_timeout: MACHINE_TIMEOUT,
    };
    let mut connection = Connection::new(params, now, [b'n'; 18]);
    connection.query("SELECT 1");
    connection.query("SELECT 2");
    let mut out = BytesMut::new();
    drain_pg(&mut connection, &mut out);
    for piece in pieces(data) {
        // An error closes the connection, which then ignores further input.
        connection.handle_input(now, piece);
        drain_pg(&mut connection, &mut out);
    }
    connection.handle_eof(now);
    drain_pg(&mut connection, &mut out);
    connection.handle_timeout(now + MACHINE_TIMEOUT * 2);
    drain_pg(&mut connection, &mut out);
}

fn drain_pg(connection: &mut Connection, out: &mut BytesMut) {
    loop {
        out.clear();
        let sent = connection.poll_transmit(out);
        let event = connection.poll_event();
        if let Some(pg::Event::Ready) = event {
            connection.query("SELECT 3");
        }
        if !sent && event.is_none() {
            break;
        }
    }
}

/// `http_request`: an [`HttpConnection`] fed the payload as request bytes in the pieces
/// [`pieces`] cuts (first byte: split seed). Every request is answered, alternately with a
/// complete body and with a streaming one; then end of file and a timeout.
pub fn http_request(data: &[u8]) {
    let now = Instant::now();
    let mut connection = HttpConnection::new(HttpConfig::new(MACHINE_TIMEOUT), now);
    let mut answered = 0usize;
    let mut out = BytesMut::new();
    for piece in pieces(data) {
        if connection.is_finished() {
            break;
        }
        connection.handle_input(now, piece);
        drain_http(&mut connection, now, &mut answered, &mut out);
    }
    connection.handle_eof(now);
    drain_http(&mut connection, now, &mut answered, &mut out);
    connection.handle_timeout(now + MACHINE_TIMEOUT * 20);
    drain_http(&mut connection, now, &mut answered, &mut out);
}

fn drain_http(
    connection: &mut HttpConnection,
    now: Instant,
    answered: &mut usize,
    out: &mut BytesMut,
) {
    loop {
        out.clear();
        let sent = connection.poll_transmit(out);
        let event = connection.poll_event();
        if let Some(http::Event::Request(_)) = event {
            answer(connection, now, *answered);
            *answered += 1;
        }
        if !sent && event.is_none() {
            break;
        }
    }
}

fn answer(connection: &mut HttpConnection, now: Instant, index: usize) {
    const BODY: &[u8] = b"# HELP up Whether the server answers.\n# TYPE up gauge\nup 1\n";
    let result = if index.is_multiple_of(2) {
        connection.respond(
            now,
            Response {
                status: Status::Ok,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: BODY,
                allow_gzip: true,
            },
        )
    } else {
        connection
            .respond_streaming(Status::Ok, "text/plain; version=0.0.4", true)
            .and_then(|()| connection.send_body_chunk(BODY))
            .and_then(|()| connection.send_body_chunk(BODY))
            .and_then(|()| connection.finish_body(now))
    };
    result.expect("a pending request accepts a response");
}
