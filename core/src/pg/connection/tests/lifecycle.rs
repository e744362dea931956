//! Timeout, Terminate, caller errors, split input and arbitrary input.

use super::*;

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
fn terminate_closes_once_the_server_has_closed() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    harness.connection.terminate(harness.start);
    harness.drain();
    assert_eq!(&harness.take_sent()[..], b"X\0\0\0\x04");
    assert!(
        harness.take_events().is_empty(),
        "open until the server closes"
    );
    assert!(!harness.connection.is_finished());
    harness.connection.handle_eof(harness.start);
    harness.drain();
    assert_eq!(harness.take_events(), [Event::Closed { error: None }]);
    assert!(harness.connection.is_finished());
    assert!(harness.take_sent().is_empty());
}

#[test]
fn input_while_terminating_is_ignored() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let id = harness.connection.query("SELECT 1");
    harness.connection.terminate(harness.start);
    harness.drain();
    harness.take_sent();
    // A result, then bytes that are no message at all: neither is read any more.
    let mut answer: Vec<u8> = [complete("SELECT 0"), ready()]
        .iter()
        .flat_map(to_bytes)
        .collect();
    answer.extend_from_slice(b"\xff\xff\xff\xff");
    assert_eq!(harness.feed(&answer), Ok(()));
    assert!(harness.take_events().is_empty());
    assert!(harness.take_sent().is_empty());
    harness.connection.handle_eof(harness.start);
    harness.drain();
    assert_eq!(
        harness.take_events(),
        [
            Event::QueryDone {
                id,
                result: Err(QueryError::ConnectionClosed)
            },
            Event::Closed { error: None }
        ]
    );
}

#[test]
fn terminate_closes_at_its_deadline_when_the_server_never_closes() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.login();
    let terminated = harness.start + Duration::from_secs(1);
    harness.connection.terminate(terminated);
    harness.drain();
    let deadline = terminated + TERMINATE_TIMEOUT;
    assert_eq!(harness.connection.poll_timeout(), Some(deadline));
    harness
        .connection
        .handle_timeout(deadline - Duration::from_millis(1));
    harness.drain();
    assert!(harness.take_events().is_empty());
    harness.connection.handle_timeout(deadline);
    harness.drain();
    assert_eq!(harness.take_events(), [Event::Closed { error: None }]);
    assert_eq!(harness.connection.poll_timeout(), None);
}

#[test]
fn terminate_before_startup_closes_at_once() {
    let mut harness = Harness::new(params(TlsMode::Try, None));
    harness.connection.terminate(harness.start);
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
