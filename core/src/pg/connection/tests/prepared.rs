//! Executions of named prepared statements: parse once, pipelined, failures, fallback.

use super::*;

/// The type bytes of the frontend messages in `bytes`.
fn message_types(bytes: BytesMut) -> Vec<u8> {
    frontend_messages(bytes)
        .into_iter()
        .map(|(tag, _)| tag)
        .collect()
}

/// The QueryDone events of `events`, in order.
fn done(events: Vec<Event>) -> Vec<(QueryId, Result<QueryResult, QueryError>)> {
    events
        .into_iter()
        .map(|event| match event {
            Event::QueryDone { id, result } => (id, result),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// What a server answers to Bind, Describe portal, Execute and Sync of a one-value query.
fn execution_answer(value: &str) -> Vec<Message> {
    vec![
        Message::BindComplete,
        columns(&["v"]),
        data(&[Some(value)]),
        complete("SELECT 1"),
        ready(),
    ]
}

#[test]
fn the_first_use_parses_and_later_uses_only_execute() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    let first = harness.connection.query_prepared("m0", "SELECT 1 AS v");
    let other = harness.connection.query_prepared("m1", "SELECT 2 AS v");
    harness.login_keeping_sent();
    assert_eq!(
        message_types(harness.take_sent()),
        b"PBDESPBDES",
        "two executions pipelined, each with its own Sync"
    );
    let mut answers = vec![Message::ParseComplete];
    answers.extend(execution_answer("1"));
    answers.push(Message::ParseComplete);
    answers.extend(execution_answer("2"));
    harness.server(&answers).unwrap();
    let results = done(harness.take_events());
    assert_eq!(results[0].0, first);
    assert_eq!(results[1].0, other);
    let result = results[0].1.as_ref().unwrap();
    assert_eq!(result.columns[0].name, "v");
    assert_eq!(result.rows[0].get(0), Some("1"));
    assert_eq!(result.command_tag, "SELECT 1");
    assert_eq!(results[1].1.as_ref().unwrap().rows[0].get(0), Some("2"));

    let again = harness.connection.query_prepared("m0", "SELECT 1 AS v");
    harness.drain();
    let sent = frontend_messages(harness.take_sent());
    assert_eq!(sent[0], (b'B', b"\0m0\0\0\0\0\0\0\0".to_vec()));
    assert_eq!(
        sent.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
        b"BDES",
        "no second Parse"
    );
    harness.server(&execution_answer("1")).unwrap();
    assert_eq!(done(harness.take_events())[0].0, again);
}

#[test]
fn a_statement_without_rows_answers_no_data() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query_prepared("s", "SET x = 1");
    harness.drain();
    harness
        .server(&[
            Message::ParseComplete,
            Message::BindComplete,
            Message::NoData,
            complete("SET"),
            ready(),
        ])
        .unwrap();
    let results = done(harness.take_events());
    assert_eq!(results[0].0, id);
    let result = results[0].1.as_ref().unwrap();
    assert!(result.columns.is_empty() && result.rows.is_empty());
    assert_eq!(result.command_tag, "SET");
}

#[test]
fn a_failed_execution_affects_only_its_query_and_the_next_use_parses_again() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let missing = harness
        .connection
        .query_prepared("m0", "SELECT v FROM gone");
    let fine = harness.connection.query_prepared("m1", "SELECT 1 AS v");
    harness.drain();
    harness.take_sent();
    let failure = server_error("ERROR", "42P01", "relation \"gone\" does not exist");
    let mut answers = vec![Message::ErrorResponse(failure.clone()), ready()];
    answers.push(Message::ParseComplete);
    answers.extend(execution_answer("1"));
    harness.server(&answers).unwrap();
    let results = done(harness.take_events());
    assert_eq!(results[0], (missing, Err(QueryError::Server(failure))));
    assert_eq!(results[1].0, fine);
    assert!(results[1].1.is_ok());

    harness
        .connection
        .query_prepared("m0", "SELECT v FROM gone");
    harness.connection.query_prepared("m1", "SELECT 1 AS v");
    harness.drain();
    let sent = frontend_messages(harness.take_sent());
    assert_eq!(
        sent[0],
        (b'C', b"Sm0\0".to_vec()),
        "the old statement is closed"
    );
    assert_eq!(sent[1].0, b'P', "and parsed again");
    assert_eq!(
        sent.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
        b"CPBDESBDES"
    );
}

#[test]
fn several_statements_fall_back_to_the_simple_protocol() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let sql = "SET LOCAL work_mem = '1MB'; SELECT 1 AS v";
    let id = harness.connection.query_prepared("m0", sql);
    let next = harness.connection.query_prepared("m1", "SELECT 2 AS v");
    harness.drain();
    harness.take_sent();
    let refusal = server_error(
        "ERROR",
        "42601",
        "cannot insert multiple commands into a prepared statement",
    );
    let mut answers = vec![Message::ErrorResponse(refusal), ready()];
    answers.push(Message::ParseComplete);
    answers.extend(execution_answer("2"));
    harness.server(&answers).unwrap();
    let results = done(harness.take_events());
    assert_eq!(results.len(), 1, "the refused query is not done yet");
    assert_eq!(results[0].0, next);
    let mut query = b"Q".to_vec();
    query.extend_from_slice(&(sql.len() as i32 + 5).to_be_bytes());
    query.extend_from_slice(sql.as_bytes());
    query.push(0);
    assert_eq!(
        &harness.take_sent()[..],
        query,
        "it runs again as a simple query"
    );
    harness
        .server(&[
            complete("SET"),
            columns(&["v"]),
            data(&[Some("1")]),
            complete("SELECT 1"),
            ready(),
        ])
        .unwrap();
    let results = done(harness.take_events());
    assert_eq!(results[0].0, id);
    assert_eq!(results[0].1.as_ref().unwrap().rows[0].get(0), Some("1"));

    harness.connection.query_prepared("m0", sql);
    harness.drain();
    assert_eq!(
        message_types(harness.take_sent()),
        b"Q",
        "later uses stay simple"
    );
}

#[test]
fn a_name_or_sql_with_nul_fails_at_once_and_prepares_nothing() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query_prepared("m0", "SELECT\0");
    harness.drain();
    assert!(harness.take_sent().is_empty());
    assert!(matches!(
        &done(harness.take_events())[..],
        [(done, Err(QueryError::InvalidQuery(_)))] if *done == id
    ));
    harness.connection.query_prepared("m0", "SELECT 1");
    harness.drain();
    assert_eq!(message_types(harness.take_sent())[0], b'P');
}

#[test]
fn the_connection_closing_fails_pending_executions() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query_prepared("m0", "SELECT 1");
    harness.drain();
    harness.server(&[Message::ParseComplete]).unwrap();
    harness.connection.handle_eof(harness.start);
    harness.drain();
    let events = harness.take_events();
    assert_eq!(
        events[0],
        Event::QueryDone {
            id,
            result: Err(QueryError::ConnectionClosed)
        }
    );
    assert!(matches!(
        closed_with(&events),
        Some(Some(Error::UnexpectedEof))
    ));
}
