//! SSLRequest answers in each TLS mode.

use super::*;

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
        assert!(harness.take_events().is_empty());
        assert!(harness.connection.poll_tls_start());
        assert!(!harness.connection.poll_tls_start(), "asked once");
        assert!(harness.take_sent().is_empty());
        harness.connection.handle_tls_established(harness.start);
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
    harness.feed(b"").unwrap();
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
fn tls_established_without_a_request_changes_nothing() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    harness.take_sent();
    harness.connection.handle_tls_established(harness.start);
    harness.drain();
    assert!(harness.events.is_empty());
    assert!(harness.take_sent().is_empty());
}
