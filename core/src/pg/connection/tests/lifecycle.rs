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
