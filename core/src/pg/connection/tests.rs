use std::time::{Duration, Instant};

use base64::Engine;
use bytes::{Buf, BytesMut};
use md5::Digest;
use proptest::prelude::*;

use super::*;
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
        let start = Instant::now();
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

    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let result = self.connection.handle_input(self.start, bytes);
        self.drain();
        result
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

#[test]
fn trust_login_sends_startup_and_becomes_ready() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    let mut sent = harness.take_sent();
    assert_eq!(
        startup_parameters_sent(&mut sent),
        [
            ("user".to_owned(), "exporter".to_owned()),
            ("database".into(), "postgres".into()),
            ("application_name".into(), "pgexporter".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("statement_timeout".into(), "5000".into()),
        ]
    );
    assert!(sent.is_empty());
    assert!(!harness.connection.is_ready());
    harness.login();
    assert!(harness.connection.is_ready());
    assert_eq!(harness.connection.server_version_num(), Some(150_018));
    assert_eq!(
        harness.connection.parameter("server_encoding"),
        Some("UTF8")
    );
    assert_eq!(harness.connection.parameter("TimeZone"), None);
    assert_eq!(harness.connection.backend_pid(), Some(4242));
    assert_eq!(harness.connection.poll_timeout(), None);
}

#[test]
fn client_encoding_option_overrides_the_default() {
    let mut connect = params(TlsMode::Off, None);
    connect.options = vec![("client_encoding".into(), "LATIN1".into())];
    let mut harness = Harness::new(connect);
    let sent = startup_parameters_sent(&mut harness.take_sent());
    assert_eq!(
        sent.iter()
            .filter(|(name, _)| name == "client_encoding")
            .count(),
        1
    );
    assert!(sent.contains(&("client_encoding".into(), "LATIN1".into())));
}

#[test]
fn cleartext_password_login() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("s3cret")));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::CleartextPassword)])
        .unwrap();
    assert_eq!(
        frontend_messages(harness.take_sent()),
        [(b'p', b"s3cret\0".to_vec())]
    );
    harness.login();
}

#[test]
fn md5_password_login() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("s3cret")));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::Md5Password { salt: [1, 2, 3, 4] })])
        .unwrap();
    let sent = frontend_messages(harness.take_sent());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, b'p');
    // md5(md5hex("s3cret" + "exporter") + salt), computed independently of the client code.
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let inner = hex(&md5::Md5::digest(b"s3cretexporter"));
    let mut outer_input = inner.into_bytes();
    outer_input.extend_from_slice(&[1, 2, 3, 4]);
    let expected = format!("md5{}\0", hex(&md5::Md5::digest(&outer_input)));
    assert_eq!(sent[0].1, expected.as_bytes());
    harness.login();
}

/// Runs the SASL exchange against an in-memory SCRAM server that knows `server_password`.
/// Returns the final server message the client accepted or the error it reported.
fn scram_login(client_password: &str, server_password: &str) -> Harness {
    let mut harness = Harness::new(params(TlsMode::Off, Some(client_password)));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
        })])
        .unwrap();
    let initial = frontend_messages(harness.take_sent());
    let mut body = BytesMut::from(&initial[0].1[..]);
    let mechanism = body.split_to(14);
    assert_eq!(&mechanism[..], b"SCRAM-SHA-256\0");
    let len = body.get_i32() as usize;
    assert_eq!(body.len(), len);
    let expected_first = format!(
        "n,,n=,r={}",
        base64::engine::general_purpose::STANDARD.encode(NONCE)
    );
    assert_eq!(&body[..], expected_first.as_bytes());

    let verifier =
        ScramVerifier::derive(&Secret::from(server_password), b"salt-of-16-bytes", 4096).unwrap();
    let server = ScramServer::new(verifier, "servernonce")
        .unwrap()
        .handle_client_first(&body)
        .unwrap();
    harness
        .server(&[auth(Authentication::SaslContinue(
            server.message().to_vec().into(),
        ))])
        .unwrap();
    let response = frontend_messages(harness.take_sent());
    assert_eq!(response[0].0, b'p');
    match server.handle_client_final(&response[0].1) {
        Ok(server_final) => {
            let _ = harness.server(&[auth(Authentication::SaslFinal(server_final.into()))]);
        }
        Err(error) => {
            assert_eq!(error, crate::scram::ScramError::WrongProof);
            let _ = harness.server(&[Message::ErrorResponse(server_error(
                "FATAL",
                "28P01",
                "password authentication failed for user \"exporter\"",
            ))]);
        }
    }
    harness
}

#[test]
fn scram_login_with_the_right_password() {
    let mut harness = scram_login("correct", "correct");
    assert!(harness.take_events().is_empty());
    harness.login();
}

#[test]
fn scram_login_with_a_wrong_password_reports_the_server_error() {
    let harness = scram_login("wrong", "right");
    let Some(Some(Error::Server(error))) = closed_with(&harness.events) else {
        panic!("expected a server error, got {:?}", harness.events);
    };
    assert_eq!(error.code(), "28P01");
}

#[test]
fn scram_server_with_a_wrong_signature_is_refused() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        })])
        .unwrap();
    let nonce = base64::engine::general_purpose::STANDARD.encode(NONCE);
    let server_first = format!("r={nonce}xyz,s=c2FsdA==,i=4096");
    harness
        .server(&[auth(Authentication::SaslContinue(
            server_first.into_bytes().into(),
        ))])
        .unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    let result = harness.server(&[auth(Authentication::SaslFinal(
        format!("v={signature}").into_bytes().into(),
    ))]);
    let expected = Error::Scram(crate::scram::ScramError::WrongServerSignature);
    assert_eq!(result, Err(expected.clone()));
    assert_eq!(closed_with(&harness.events), Some(&Some(expected)));
}

#[test]
fn authentication_ok_before_scram_completes_is_refused() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        })])
        .unwrap();
    assert_eq!(
        harness.server(&[auth(Authentication::Ok)]),
        Err(Error::Protocol(ProtocolError::Unexpected(
            "AuthenticationOk"
        )))
    );
}

#[test]
fn wrong_password_error_during_authentication() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("bad")));
    harness
        .server(&[auth(Authentication::CleartextPassword)])
        .unwrap();
    let error = server_error("FATAL", "28P01", "password authentication failed");
    assert_eq!(
        harness.server(&[Message::ErrorResponse(error.clone())]),
        Err(Error::Server(error.clone()))
    );
    assert_eq!(
        closed_with(&harness.events),
        Some(&Some(Error::Server(error)))
    );
    assert!(!harness.connection.is_ready());
}

#[test]
fn missing_password_is_a_clear_error() {
    for request in [
        Authentication::CleartextPassword,
        Authentication::Md5Password { salt: [0; 4] },
        Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        },
    ] {
        let mut harness = Harness::new(params(TlsMode::Off, None));
        assert_eq!(
            harness.server(&[auth(request)]),
            Err(Error::PasswordRequired)
        );
        assert_eq!(
            closed_with(&harness.events),
            Some(&Some(Error::PasswordRequired))
        );
    }
}

#[test]
fn unsupported_methods_are_reported() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    assert_eq!(
        harness.server(&[auth(Authentication::Unsupported { code: 7 })]),
        Err(Error::UnsupportedAuth(UnsupportedAuth::Method { code: 7 }))
    );
}

#[test]
fn tls_off_sends_no_ssl_request() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    let sent = harness.take_sent();
    assert_ne!(&sent[..8], [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
}

#[test]
fn tls_accepted_in_try_and_on_modes() {
    for mode in [TlsMode::Try, TlsMode::On] {
        let mut harness = Harness::new(params(mode, None));
        assert_eq!(
            &harness.take_sent()[..],
            [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]
        );
        assert!(harness.connection.poll_timeout().is_some());
        harness.feed(b"S").unwrap();
        assert_eq!(harness.take_events(), [Event::StartTls]);
        assert!(harness.take_sent().is_empty());
        harness.connection.tls_established(harness.start);
        harness.drain();
        let mut sent = harness.take_sent();
        assert_eq!(startup_parameters_sent(&mut sent)[0].1, "exporter");
        harness.login();
    }
}

#[test]
fn tls_refused_in_try_mode_continues_in_clear() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    harness.take_sent();
    let mut bytes = b"N".to_vec();
    bytes.extend(session_start().iter().flat_map(to_bytes));
    // The startup message goes out on 'N', before the server answers it; here the whole
    // answer happens to arrive together.
    harness.feed(&bytes).unwrap();
    let mut sent = harness.take_sent();
    assert_eq!(startup_parameters_sent(&mut sent)[1].1, "postgres");
    assert_eq!(harness.take_events(), [Event::Ready]);
}

#[test]
fn tls_refused_in_on_mode_fails() {
    let mut harness = Harness::new(params(TlsMode::On, None));
    harness.take_sent();
    assert_eq!(harness.feed(b"N"), Err(Error::TlsRefused));
    assert_eq!(closed_with(&harness.events), Some(&Some(Error::TlsRefused)));
    assert!(harness.take_sent().is_empty());
}

#[test]
fn bytes_after_tls_acceptance_are_refused() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    let expected = Err(Error::Protocol(ProtocolError::DataAfterSslAccept));
    assert_eq!(harness.feed(b"SR"), expected);
    let mut harness = Harness::new(params(TlsMode::Try, None));
    harness.feed(b"S").unwrap();
    assert_eq!(harness.feed(b"R"), expected);
}

#[test]
fn invalid_ssl_answer_is_refused() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    assert_eq!(
        harness.feed(b"X"),
        Err(Error::Protocol(ProtocolError::InvalidSslResponse(b'X')))
    );
}

#[test]
fn error_answer_to_ssl_request_is_a_server_error() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    let error = server_error("FATAL", "08P01", "unsupported frontend protocol");
    assert_eq!(
        harness.server(&[Message::ErrorResponse(error.clone())]),
        Err(Error::Server(error))
    );
}

#[test]
fn tls_established_without_start_tls_is_a_caller_error() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.connection.tls_established(harness.start);
    harness.drain();
    assert_eq!(
        closed_with(&harness.events),
        Some(&Some(Error::TlsNotRequested))
    );
}

#[test]
fn pipelined_queries_with_failures_nulls_and_many_rows() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.take_sent();
    let ids: Vec<QueryId> = [
        "SELECT 1",
        "SELECT nope",
        "SELECT NULL, 'x'",
        "SELECT many",
        "",
    ]
    .iter()
    .map(|sql| harness.connection.query(sql))
    .collect();
    harness.drain();
    assert!(harness.take_sent().is_empty(), "queries wait for Ready");
    harness.server(&session_start()).unwrap();
    assert_eq!(harness.take_events(), [Event::Ready]);
    let sent = frontend_messages(harness.take_sent());
    assert_eq!(sent.len(), 5, "all queries are written at once");
    assert_eq!(sent[1], (b'Q', b"SELECT nope\0".to_vec()));

    let failure = server_error("ERROR", "42703", "column \"nope\" does not exist");
    let mut answers = vec![
        columns(&["?column?"]),
        data(&[Some("1")]),
        complete("SELECT 1"),
        ready(),
        Message::ErrorResponse(failure.clone()),
        ready(),
        columns(&["a", "b"]),
        data(&[None, Some("x")]),
        complete("SELECT 1"),
        ready(),
        columns(&["n"]),
    ];
    for i in 0..100 {
        answers.push(data(&[Some(&i.to_string())]));
    }
    answers.extend([
        complete("SELECT 100"),
        ready(),
        Message::EmptyQueryResponse,
        ready(),
    ]);
    harness.server(&answers).unwrap();
    let events = harness.take_events();
    assert_eq!(events.len(), 5);
    let results: Vec<(QueryId, Result<QueryResult, QueryError>)> = events
        .into_iter()
        .map(|event| match event {
            Event::QueryDone { id, result } => (id, result),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(results.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);

    let first = results[0].1.as_ref().unwrap();
    assert_eq!(first.rows[0].get(0), Some("1"));
    assert_eq!(first.command_tag, "SELECT 1");
    assert_eq!(results[1].1, Err(QueryError::Server(failure)));
    let nulls = results[2].1.as_ref().unwrap();
    assert_eq!(nulls.columns.len(), 2);
    assert!(nulls.rows[0].is_null(0));
    assert_eq!(nulls.rows[0].get(0), None);
    assert_eq!(nulls.rows[0].get(1), Some("x"));
    let many = results[3].1.as_ref().unwrap();
    assert_eq!(many.rows.len(), 100);
    assert_eq!(many.rows[99].get(0), Some("99"));
    assert_eq!(results[4].1, Ok(QueryResult::default()));
    assert!(harness.connection.is_ready());
}

#[test]
fn queries_after_ready_are_sent_at_once() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query("SELECT 1");
    harness.drain();
    assert_eq!(
        frontend_messages(harness.take_sent()),
        [(b'Q', b"SELECT 1\0".to_vec())]
    );
    harness.server(&[complete("SELECT 0"), ready()]).unwrap();
    assert!(matches!(
        &harness.take_events()[..],
        [Event::QueryDone { id: done, result: Ok(_) }] if *done == id
    ));
}

#[test]
fn notices_are_events_and_notifications_are_ignored() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let notice = server_error("WARNING", "01000", "careful");
    harness
        .server(&[
            Message::NoticeResponse(notice.clone()),
            Message::NotificationResponse {
                process_id: 1,
                channel: "c".into(),
                payload: "p".into(),
            },
            Message::ParameterStatus {
                name: "TimeZone".into(),
                value: "UTC".into(),
            },
        ])
        .unwrap();
    assert_eq!(harness.take_events(), [Event::Notice(notice)]);
    assert_eq!(harness.connection.parameter("TimeZone"), Some("UTC"));
}

#[test]
fn eof_mid_result_fails_pending_queries_then_closes() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let first = harness.connection.query("SELECT a");
    let second = harness.connection.query("SELECT b");
    harness.drain();
    harness
        .server(&[columns(&["a"]), data(&[Some("1")])])
        .unwrap();
    harness.feed(&to_bytes(&data(&[Some("2")]))[..7]).unwrap();
    harness.connection.handle_eof(harness.start);
    harness.drain();
    assert_eq!(
        harness.take_events(),
        [
            Event::QueryDone {
                id: first,
                result: Err(QueryError::ConnectionClosed)
            },
            Event::QueryDone {
                id: second,
                result: Err(QueryError::ConnectionClosed)
            },
            Event::Closed {
                error: Some(Error::UnexpectedEof)
            },
        ]
    );
    let late = harness.connection.query("SELECT c");
    harness.drain();
    assert_eq!(
        harness.take_events(),
        [Event::QueryDone {
            id: late,
            result: Err(QueryError::ConnectionClosed)
        }]
    );
}

#[test]
fn fatal_error_during_a_query_closes_the_connection() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query("SELECT pg_sleep(10)");
    harness.drain();
    let fatal = server_error(
        "FATAL",
        "57P01",
        "terminating connection due to administrator command",
    );
    assert_eq!(
        harness.server(&[Message::ErrorResponse(fatal.clone())]),
        Err(Error::Server(fatal.clone()))
    );
    assert_eq!(
        harness.take_events(),
        [
            Event::QueryDone {
                id,
                result: Err(QueryError::Server(fatal.clone()))
            },
            Event::Closed {
                error: Some(Error::Server(fatal))
            },
        ]
    );
}

#[test]
fn error_while_idle_closes_the_connection() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let fatal = server_error("FATAL", "57P01", "terminating connection");
    assert!(harness.server(&[Message::ErrorResponse(fatal)]).is_err());
    assert!(matches!(
        closed_with(&harness.events),
        Some(Some(Error::Server(_)))
    ));
}

#[test]
fn unexpected_messages_are_protocol_errors() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    assert_eq!(
        harness.server(&[data(&[Some("1")])]),
        Err(Error::Protocol(ProtocolError::Unexpected("DataRow")))
    );
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    assert_eq!(
        harness.server(&[ready()]),
        Err(Error::Protocol(ProtocolError::Unexpected("ReadyForQuery")))
    );
}

#[test]
fn connect_timeout() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    let deadline = harness.start + TIMEOUT;
    assert_eq!(harness.connection.poll_timeout(), Some(deadline));
    harness
        .connection
        .handle_timeout(deadline - Duration::from_millis(1));
    harness.drain();
    assert!(harness.events.is_empty());
    let id = harness.connection.query("SELECT 1");
    harness.connection.handle_timeout(deadline);
    harness.drain();
    assert_eq!(
        harness.take_events(),
        [
            Event::QueryDone {
                id,
                result: Err(QueryError::ConnectionClosed)
            },
            Event::Closed {
                error: Some(Error::Timeout)
            }
        ]
    );
    assert_eq!(harness.connection.poll_timeout(), None);
}

#[test]
fn terminate_closes_after_transmitting() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    harness.connection.terminate();
    let mut out = BytesMut::new();
    assert!(harness.connection.poll_transmit(&mut out));
    assert_eq!(&out[..], b"X\0\0\0\x04");
    assert_eq!(
        harness.connection.poll_event(),
        Some(Event::Closed { error: None })
    );
    assert!(!harness.connection.poll_transmit(&mut out));
}

#[test]
fn terminate_before_startup_closes_at_once() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    harness.connection.terminate();
    harness.drain();
    assert_eq!(harness.take_events(), [Event::Closed { error: None }]);
}

#[test]
fn nul_bytes_are_caller_errors() {
    let mut connect = params(TlsMode::Off, None);
    connect.database = "a\0b".into();
    let mut harness = Harness::new(connect);
    assert!(harness.take_sent().is_empty());
    assert!(matches!(
        closed_with(&harness.events),
        Some(Some(Error::InvalidParameter(_)))
    ));

    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query("SELECT 1\0");
    harness.drain();
    assert!(harness.take_sent().is_empty());
    assert!(matches!(
        &harness.take_events()[..],
        [Event::QueryDone { id: done, result: Err(QueryError::InvalidQuery(_)) }] if *done == id
    ));
}

/// A whole session as one byte string: startup answers and two query results.
fn scripted_session() -> Vec<u8> {
    let mut messages = session_start();
    messages.extend([
        Message::NoticeResponse(server_error("NOTICE", "00000", "hi")),
        columns(&["a", "b"]),
        data(&[Some("1"), None]),
        data(&[Some("2"), Some("two")]),
        complete("SELECT 2"),
        ready(),
        Message::ErrorResponse(server_error("ERROR", "42P01", "no such table")),
        ready(),
    ]);
    messages.iter().flat_map(to_bytes).collect()
}

fn run_scripted(chunks: &[&[u8]]) -> Vec<Event> {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.connection.query("SELECT a, b FROM t");
    harness.connection.query("SELECT * FROM missing");
    for chunk in chunks {
        harness.feed(chunk).unwrap();
    }
    harness.events
}

#[test]
fn input_split_at_every_offset_gives_the_same_events() {
    let session = scripted_session();
    let expected = run_scripted(&[&session]);
    assert_eq!(expected.len(), 4);
    for split in 0..=session.len() {
        let (head, tail) = session.split_at(split);
        assert_eq!(run_scripted(&[head, tail]), expected, "split at {split}");
    }
    let bytewise: Vec<&[u8]> = session.chunks(1).collect();
    assert_eq!(run_scripted(&bytewise), expected);
}

proptest! {
    #[test]
    fn arbitrary_server_bytes_after_startup_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        logged_in in any::<bool>(),
    ) {
        let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
        if logged_in {
            harness.login();
        }
        harness.connection.query("SELECT 1");
        for chunk in &chunks {
            if harness.feed(chunk).is_err() {
                prop_assert!(closed_with(&harness.events).is_some());
                break;
            }
        }
        harness.connection.handle_eof(harness.start);
        harness.drain();
        prop_assert_eq!(
            harness.events.iter().filter(|e| matches!(e, Event::Closed { .. })).count(),
            1
        );
    }
}
