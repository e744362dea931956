//! Scripted-server tests of the connection: a harness and one file per concern.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::{Buf, BytesMut};
use md5::Digest;
use proptest::prelude::*;

use super::*;
use crate::machine::Machine;
use crate::pg::backend::encode::{row, to_bytes};
use crate::pg::backend::{Authentication, Column, TransactionStatus};
use crate::scram::{ScramServer, ScramVerifier};

const TIMEOUT: Duration = Duration::from_secs(5);
const NONCE: [u8; 18] = [7; 18];

fn params(tls: TlsMode, password: Option<&str>) -> ConnectParams {
    ConnectParams {
        user: "exporter".into(),
        database: "postgres".into(),
        password: password.map(Secret::from),
        application_name: "pgexporter".into(),
        tls,
        options: vec![("statement_timeout".into(), "5000".into())],
        connect_timeout: TIMEOUT,
    }
}

/// A connection under test, with everything it sent and every event it emitted.
struct Harness {
    connection: Connection,
    start: Instant,
    sent: BytesMut,
    events: Vec<Event>,
}

impl Harness {
    fn new(params: ConnectParams) -> Self {
        let start = crate::test_clock::origin();
        let mut harness = Harness {
            connection: Connection::new(params, start, NONCE),
            start,
            sent: BytesMut::new(),
            events: Vec::new(),
        };
        harness.drain();
        harness
    }

    /// Follows the driving contract: transmit and events until both are empty.
    fn drain(&mut self) {
        loop {
            let sent = self.connection.poll_transmit(&mut self.sent);
            let event = self.connection.poll_event();
            let got_event = event.is_some();
            self.events.extend(event);
            if !sent && !got_event {
                break;
            }
        }
    }

    /// Feeds `bytes`; the error of the `Closed` event they caused, if any.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let before = self.events.len();
        self.connection.handle_input(self.start, bytes);
        self.drain();
        match self.events[before..].iter().find_map(|event| match event {
            Event::Closed { error } => error.clone(),
            _ => None,
        }) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn server(&mut self, messages: &[Message]) -> Result<(), Error> {
        let bytes: Vec<u8> = messages.iter().flat_map(to_bytes).collect();
        self.feed(&bytes)
    }

    fn take_sent(&mut self) -> BytesMut {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Completes a trust login and checks that the connection is ready.
    fn login(&mut self) {
        self.server(&session_start()).unwrap();
        assert_eq!(self.take_events(), [Event::Ready]);
        self.take_sent();
    }

    /// Completes a trust login, checks that the connection is ready and drops the startup
    /// message, keeping what was sent after it (the queries queued before Ready).
    fn login_keeping_sent(&mut self) {
        self.server(&session_start()).unwrap();
        assert_eq!(self.take_events(), [Event::Ready]);
        let mut sent = self.take_sent();
        startup_parameters_sent(&mut sent);
        self.sent = sent;
    }
}

fn auth(request: Authentication) -> Message {
    Message::Authentication(request)
}

fn ready() -> Message {
    Message::ReadyForQuery(TransactionStatus::Idle)
}

/// What a server sends from AuthenticationOk to the first ReadyForQuery.
fn session_start() -> Vec<Message> {
    vec![
        auth(Authentication::Ok),
        Message::ParameterStatus {
            name: "server_version".into(),
            value: "15.18 (Debian 15.18-1.pgdg120+1)".into(),
        },
        Message::ParameterStatus {
            name: "server_encoding".into(),
            value: "UTF8".into(),
        },
        Message::BackendKeyData {
            process_id: 4242,
            secret_key: 99,
        },
        ready(),
    ]
}

fn server_error(severity: &str, code: &str, message: &str) -> ServerError {
    ServerError::from_fields(vec![
        (b'S', severity.into()),
        (b'V', severity.into()),
        (b'C', code.into()),
        (b'M', message.into()),
    ])
}

fn columns(names: &[&str]) -> Message {
    Message::RowDescription(
        names
            .iter()
            .map(|name| Column {
                name: (*name).into(),
                type_oid: 25,
            })
            .collect(),
    )
}

fn data(values: &[Option<&str>]) -> Message {
    Message::DataRow(row(values))
}

fn complete(tag: &str) -> Message {
    Message::CommandComplete { tag: tag.into() }
}

fn closed_with(events: &[Event]) -> Option<&Option<Error>> {
    match events.last() {
        Some(Event::Closed { error }) => Some(error),
        _ => None,
    }
}

/// Splits a frontend message stream into (type byte, body) pairs; the startup message, which
/// has no type byte, must be taken off first.
fn frontend_messages(mut bytes: BytesMut) -> Vec<(u8, Vec<u8>)> {
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        let tag = bytes.get_u8();
        let len = bytes.get_i32() as usize - 4;
        messages.push((tag, bytes.split_to(len).to_vec()));
    }
    messages
}

/// The startup message's parameters, checking its framing.
fn startup_parameters_sent(bytes: &mut BytesMut) -> Vec<(String, String)> {
    let len = bytes.get_i32() as usize - 4;
    let mut body = bytes.split_to(len);
    assert_eq!(body.get_i32(), 196_608, "protocol 3.0");
    let strings: Vec<String> = body[..]
        .split(|&b| b == 0)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    assert_eq!(&strings[strings.len() - 2..], ["", ""], "terminator");
    strings[..strings.len() - 2]
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

mod auth;
mod lifecycle;
mod prepared;
mod queries;
mod tls;
