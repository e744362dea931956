//! Pipelined queries, results, errors and notices.

use super::*;

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
fn oversized_messages_close_the_connection() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query("SELECT huge");
    harness.drain();
    assert_eq!(
        harness.feed(b"D\x7f\xff\xff\xff"),
        Err(Error::Protocol(ProtocolError::InvalidLength(i32::MAX)))
    );
    assert_eq!(
        harness.take_events()[0],
        Event::QueryDone {
            id,
            result: Err(QueryError::ConnectionClosed)
        }
    );
}
