use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde_json::json;

use super::*;
use crate::management::codes::{Command, Output};
use crate::management::document::Header;
use crate::management::fake_daemon::FakeDaemon;
use crate::management::handshake::{ClientEvent, ClientHandshake};
use crate::pg::TlsMode;
use crate::secret::Secret;
use crate::test_clock::origin;

const TIMEOUT: Duration = Duration::from_secs(5);
const TIMESTAMP: &str = "20261125010203";
const RANDOM: SealRandom = SealRandom {
    salt: [7; 16],
    iv: [9; 12],
};

fn master_key() -> MasterKey {
    MasterKey::from_bytes([5; 64])
}

fn settings(master_key: Option<MasterKey>) -> SessionSettings {
    SessionSettings {
        timeout: TIMEOUT,
        master_key: master_key.map(Arc::new),
        timestamp: TIMESTAMP.to_owned(),
        seal: RANDOM,
        source: Some(SOURCE),
    }
}

/// The remote clients' address.
const SOURCE: core::net::IpAddr = core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST);

fn local(now: Instant) -> Session {
    Session::local(now, settings(None))
}

fn request_frame(command: Command, compression: Compression, encryption: Encryption) -> Vec<u8> {
    let mut header = Header::new(command, Output::Json, "20261125000000");
    header.compression = compression;
    header.encryption = encryption;
    let document = Document::request(header, serde_json::Map::new());
    let key = master_key();
    let sealing = Sealing {
        master_key: &key,
        salt: [1; 16],
        iv: [2; 12],
    };
    let mut out = BytesMut::new();
    frame::encode(
        &mut out,
        &document.to_json(),
        compression,
        encryption,
        Some(sealing),
    )
    .unwrap();
    out.to_vec()
}

/// Everything a session produced since the last call.
fn drain(session: &mut Session) -> (Vec<u8>, Vec<SessionEvent>) {
    let mut out = BytesMut::new();
    while session.poll_transmit(&mut out) {}
    let mut events = Vec::new();
    while let Some(event) = session.poll_event() {
        events.push(event);
    }
    (out.to_vec(), events)
}

/// Takes the one request the session handed on and answers it as the daemon does, at `now`.
fn answer(session: &mut Session, daemon: &mut FakeDaemon, now: Instant) -> Vec<u8> {
    let (bytes, requests) = drain(session);
    assert!(bytes.is_empty(), "nothing is sent before the answer");
    let [SessionEvent::Request(request)] = requests.as_slice() else {
        panic!("one request: {requests:?}");
    };
    let document = daemon.answer(&request.document, request.transport);
    session.handle_message(now, document);
    assert!(session.is_finished());
    assert_eq!(session.close_reason(), Some(&CloseReason::Answered));
    drain(session).0
}

/// The document of the one frame in `bytes`.
fn answer_document(bytes: &[u8], key: Option<&MasterKey>) -> Document {
    let mut buf = BytesMut::from(bytes);
    let frame = frame::decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "one frame only");
    Document::parse(&frame::open(&frame, key).unwrap()).unwrap()
}

#[test]
fn local_ping_is_answered_and_closed() {
    let now = origin();
    let mut session = local(now);
    session.handle_input(
        now,
        &request_frame(Command::Ping, Compression::None, Encryption::None),
    );
    assert_eq!(session.poll_timeout(), None);
    let later = now + Duration::from_secs(2);
    let bytes = answer(&mut session, &mut FakeDaemon::new(), later);
    let answer = answer_document(&bytes, None);
    assert_eq!(answer.header.timestamp, TIMESTAMP);
    assert_eq!(answer.response.unwrap()["ServerVersion"], json!("0.9.0"));
    assert_eq!(
        answer.outcome,
        Some(Outcome::success(Duration::from_secs(2)))
    );
}

#[test]
fn a_request_split_at_every_byte_arrives_whole() {
    let now = origin();
    let frame = request_frame(Command::Status, Compression::Gzip, Encryption::None);
    let mut session = local(now);
    for (index, byte) in frame.iter().enumerate() {
        session.handle_input(now, std::slice::from_ref(byte));
        let complete = index + 1 == frame.len();
        if !complete {
            assert!(drain(&mut session).1.is_empty(), "byte {index}");
        }
    }
    let bytes = answer(&mut session, &mut FakeDaemon::new(), now);
    session.handle_input(now, b"ignored after the request");
    let answer = answer_document(&bytes, None);
    assert_eq!(answer.header.compression, Compression::Gzip);
    assert_eq!(answer.response.unwrap()["NumberOfServers"], json!(1));
}

#[test]
fn encrypted_requests_are_answered_encrypted() {
    for encryption in [Encryption::Aes256, Encryption::Aes192, Encryption::Aes128] {
        let now = origin();
        let key = master_key();
        let mut session = Session::local(now, settings(Some(master_key())));
        session.handle_input(
            now,
            &request_frame(Command::Ping, Compression::Zstd, encryption),
        );
        let bytes = answer(&mut session, &mut FakeDaemon::new(), now);
        assert_eq!(bytes[0..2], [Compression::Zstd.code(), encryption.code()]);
        let answer = answer_document(&bytes, Some(&key));
        assert!(answer.outcome.unwrap().is_success());
    }
}

#[test]
fn an_unreadable_payload_gets_error_1_without_a_request() {
    let now = origin();
    let mut cases = vec![b"\x00\x00\x00\x00\x00\x05{oops".to_vec()];
    // Encrypted, but the daemon has no master key.
    cases.push(request_frame(
        Command::Ping,
        Compression::None,
        Encryption::Aes256,
    ));
    for case in cases {
        let mut session = local(now);
        session.handle_input(now, &case);
        let (bytes, requests) = drain(&mut session);
        assert!(requests.is_empty());
        assert!(session.is_finished());
        let answer = answer_document(&bytes, None);
        assert_eq!(answer.header.timestamp, TIMESTAMP);
        assert_eq!(
            answer.outcome,
            Some(Outcome::failure(ErrorCode::BadPayload))
        );
    }
}

#[test]
fn a_frame_declaring_4_gib_closes_at_once() {
    let now = origin();
    let mut session = local(now);
    session.handle_input(now, &[0, 0, 0xff, 0xff, 0xff, 0xff]);
    let (bytes, requests) = drain(&mut session);
    assert!(bytes.is_empty() && requests.is_empty());
    assert!(matches!(
        session.close_reason(),
        Some(CloseReason::BadFrame(FrameError::TooLong {
            len: u32::MAX,
            ..
        }))
    ));
}

#[test]
fn a_silent_client_is_dropped_after_the_timeout() {
    let now = origin();
    let mut session = local(now);
    session.handle_input(now, &[0, 0, 0]);
    assert_eq!(session.poll_timeout(), Some(now + TIMEOUT));
    session.handle_timeout(now + TIMEOUT - Duration::from_millis(1));
    assert!(!session.is_finished());
    session.handle_timeout(now + TIMEOUT);
    assert_eq!(session.close_reason(), Some(&CloseReason::TimedOut));
}

#[test]
fn a_client_that_leaves_early_is_closed() {
    let now = origin();
    let mut session = local(now);
    session.handle_input(now, &[0, 0]);
    session.handle_eof(now);
    assert_eq!(session.close_reason(), Some(&CloseReason::PeerClosed));
}

fn remote(now: Instant) -> Session {
    let mut admins = AdminVerifiers::new();
    admins
        .insert("admin", &Secret::new(b"secret".to_vec()), [3; 16])
        .unwrap();
    Session::remote(Arc::new(admins), false, now, settings(None), [2; 18])
}

/// Runs a client handshake against `session` until neither side sends; returns whether the
/// client authenticated, and the session's events.
fn log_in(
    session: &mut Session,
    user: &str,
    password: &str,
    now: Instant,
) -> (bool, Vec<SessionEvent>) {
    let password = Secret::new(password.as_bytes().to_vec());
    let mut client = ClientHandshake::new(user, password, TlsMode::Off, now, TIMEOUT, [4; 18])
        .expect("a valid user name");
    let mut authenticated = false;
    let mut events = Vec::new();
    loop {
        let mut to_server = BytesMut::new();
        while client.poll_transmit(&mut to_server) {}
        if !to_server.is_empty() {
            session.handle_input(now, &to_server);
        }
        let (to_client, more) = drain(session);
        events.extend(more);
        if to_client.is_empty() && to_server.is_empty() {
            return (authenticated, events);
        }
        if !to_client.is_empty() {
            client.handle_input(now, &to_client);
        }
        while let Some(event) = client.poll_event() {
            authenticated |= event == ClientEvent::Authenticated;
        }
    }
}

#[test]
fn a_remote_admin_logs_in_and_is_answered() {
    let now = origin();
    let mut session = remote(now);
    assert_eq!(
        log_in(&mut session, "admin", "secret", now),
        (true, Vec::new())
    );
    assert_eq!(session.admin(), Some("admin"));
    session.handle_input(
        now,
        &request_frame(Command::ConfReload, Compression::None, Encryption::None),
    );
    let answer = answer_document(&answer(&mut session, &mut FakeDaemon::new(), now), None);
    // Over the remote port, reload is refused.
    assert_eq!(
        answer.outcome,
        Some(Outcome::failure(ErrorCode::ConfSetError))
    );
}

#[test]
fn refusals_wait_the_same_delay_whatever_was_wrong() {
    let cases = [
        (
            "admin",
            "wrong",
            Refusal::WrongPassword("admin".to_owned()),
            "28P01",
        ),
        (
            "nobody",
            "secret",
            Refusal::UnknownAdmin("nobody".to_owned()),
            "53300",
        ),
    ];
    for (user, password, refusal, code) in cases {
        let now = origin();
        let mut session = remote(now);
        let refused = vec![SessionEvent::LoginRefused {
            source: Some(SOURCE),
        }];
        assert_eq!(log_in(&mut session, user, password, now), (false, refused));
        assert!(!session.is_finished(), "{user}: refusal not yet told");
        assert_eq!(session.poll_timeout(), Some(now + REFUSAL_DELAY));
        session.handle_timeout(now + REFUSAL_DELAY - Duration::from_millis(1));
        assert_eq!(drain(&mut session), (Vec::new(), Vec::new()));
        session.handle_timeout(now + REFUSAL_DELAY);
        let (bytes, _) = drain(&mut session);
        assert_eq!(session.close_reason(), Some(&CloseReason::Refused(refusal)));
        assert_eq!(bytes[0], b'E', "an ErrorResponse");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains(code), "{user}: {text}");
    }
}

#[test]
fn a_refusal_waits_as_long_as_the_daemon_says() {
    let now = origin();
    let mut session = remote(now);
    let (authenticated, _) = log_in(&mut session, "admin", "wrong", now);
    assert!(!authenticated);
    session.delay_refusal(REFUSAL_DELAY * 3);
    assert_eq!(session.poll_timeout(), Some(now + REFUSAL_DELAY * 3));
    session.handle_timeout(now + REFUSAL_DELAY * 2);
    assert_eq!(drain(&mut session), (Vec::new(), Vec::new()));
    session.handle_timeout(now + REFUSAL_DELAY * 3);
    let (bytes, _) = drain(&mut session);
    assert_eq!(bytes[0], b'E', "the refusal, at last");
    session.delay_refusal(REFUSAL_DELAY);
    assert!(
        session.is_finished(),
        "no refusal held back: nothing to delay"
    );
}

#[test]
fn garbage_instead_of_a_startup_closes_without_delay() {
    let now = origin();
    let mut session = remote(now);
    session.handle_input(now, b"\x00\x00\x00\x08garbage!");
    assert!(
        matches!(session.close_reason(), Some(CloseReason::Handshake(_))),
        "{:?}",
        session.close_reason()
    );
}

#[test]
fn the_timeout_covers_the_handshake() {
    let now = origin();
    let mut session = remote(now);
    assert_eq!(session.poll_timeout(), Some(now + TIMEOUT));
    session.handle_timeout(now + TIMEOUT);
    assert_eq!(
        session.close_reason(),
        Some(&CloseReason::Refused(Refusal::TimedOut))
    );
}
