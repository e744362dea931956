use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;
use crate::machine::Machine;
use crate::pg::TlsMode;
use crate::pg::frontend;
use crate::pg::server as wire;

const TIMEOUT: Duration = Duration::from_secs(5);

fn admins() -> Arc<AdminVerifiers> {
    let mut admins = AdminVerifiers::new();
    admins
        .insert("admin", &Secret::new(b"secret".to_vec()), [3; 16])
        .unwrap();
    Arc::new(admins)
}

fn server(admins: &Arc<AdminVerifiers>, tls: bool, now: Instant) -> ServerHandshake {
    ServerHandshake::new(Arc::clone(admins), tls, now, TIMEOUT, [2; 18])
}

fn client(user: &str, password: &str, tls: TlsMode, now: Instant) -> ClientHandshake {
    let password = Secret::new(password.as_bytes().to_vec());
    ClientHandshake::new(user, password, tls, now, TIMEOUT, [1; 18]).unwrap()
}

/// Everything one run of client against server produced.
#[derive(Default)]
struct Run {
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    client_error: Option<ClientHandshakeError>,
    server_error: Option<HandshakeError>,
    tls: bool,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// Moves bytes both ways until neither side has anything to send; TLS is "established" as
/// soon as both sides asked for it.
fn run(client: &mut ClientHandshake, server: &mut ServerHandshake, now: Instant) -> Run {
    let mut run = Run::default();
    let (mut client_tls, mut server_tls) = (false, false);
    loop {
        let mut to_server = BytesMut::new();
        while client.poll_transmit(&mut to_server) {}
        client_tls |= client.poll_tls_start();
        let mut to_client = BytesMut::new();
        while server.poll_transmit(&mut to_client) {}
        server_tls |= server.poll_tls_start();
        if client_tls && server_tls {
            (client_tls, server_tls) = (false, false);
            run.tls = true;
            server.handle_tls_established(now);
            client.handle_tls_established(now);
            continue;
        }
        if to_server.is_empty() && to_client.is_empty() {
            return run;
        }
        run.to_server.extend_from_slice(&to_server);
        run.to_client.extend_from_slice(&to_client);
        if !to_server.is_empty() {
            server.handle_input(now, &to_server);
        }
        if !to_client.is_empty() {
            client.handle_input(now, &to_client);
        }
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::Broken(error) => run.server_error = Some(error),
                event => run.server_events.push(event),
            }
        }
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Failed(error) => run.client_error = Some(error),
                event => run.client_events.push(event),
            }
        }
    }
}

fn authenticated(admin: &str) -> ServerEvent {
    ServerEvent::Authenticated {
        admin: admin.to_owned(),
    }
}

#[test]
fn right_password_authenticates_both_sides() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    let mut client = client("admin", "secret", TlsMode::Off, now);
    let run = run(&mut client, &mut server, now);
    assert_eq!(run.server_events, vec![authenticated("admin")]);
    assert_eq!(run.client_events, vec![ClientEvent::Authenticated]);
    assert!(run.client_error.is_none() && run.server_error.is_none());
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(client.poll_timeout(), None);
    assert!(server.is_finished() && client.is_finished());
    server.handle_input(now, b"x");
    assert_eq!(
        server.poll_event(),
        None,
        "input after the handshake is dropped"
    );
}

#[test]
fn the_frame_after_the_last_message_is_kept() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let reference = {
        let mut server = server(&admins, false, now);
        run(
            &mut client("admin", "secret", TlsMode::Off, now),
            &mut server,
            now,
        )
        .to_server
    };
    let mut server = server(&admins, false, now);
    let mut stream = reference.clone();
    stream.extend_from_slice(b"\0\0\0\0\0\x02{}");
    server.handle_input(now, &stream);
    assert_eq!(server.poll_event(), Some(authenticated("admin")));
    assert_eq!(&server.take_remaining()[..], b"\0\0\0\0\0\x02{}");
}

#[test]
fn wrong_password_is_refused_with_28p01() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    let mut client = client("admin", "wrong", TlsMode::Off, now);
    let run = run(&mut client, &mut server, now);
    assert_eq!(
        run.server_events,
        vec![ServerEvent::Refused(Refusal::WrongPassword("admin".into()))]
    );
    assert!(matches!(
        run.client_error,
        Some(ClientHandshakeError::Refused { ref code, .. }) if code == "28P01"
    ));
    assert!(run.client_events.is_empty());
}

#[test]
fn unknown_admin_is_refused_with_53300() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    let mut client = client("mallory", "secret", TlsMode::Off, now);
    let run = run(&mut client, &mut server, now);
    assert_eq!(
        run.server_events,
        vec![ServerEvent::Refused(Refusal::UnknownAdmin(
            "mallory".into()
        ))]
    );
    assert_eq!(
        run.client_error,
        Some(ClientHandshakeError::Refused {
            code: "53300".into(),
            message: "connection refused".into()
        })
    );
}

#[test]
fn another_database_is_refused_with_53300() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    let mut startup = BytesMut::new();
    frontend::startup_message(&mut startup, &[("user", "admin"), ("database", "postgres")])
        .unwrap();
    server.handle_input(now, &startup);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Refused(Refusal::WrongDatabase(
            "postgres".into()
        )))
    );
    let mut out = BytesMut::new();
    assert!(server.poll_transmit(&mut out));
    let mut expected = BytesMut::new();
    wire::error_response(&mut expected, "FATAL", "53300", "connection refused");
    assert_eq!(out, expected);
}

#[test]
fn tls_is_negotiated_when_available() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, true, now);
    let mut client = client("admin", "secret", TlsMode::On, now);
    let run = run(&mut client, &mut server, now);
    assert_eq!(run.to_client.first(), Some(&b'S'));
    assert!(run.tls);
    assert_eq!(run.server_events, vec![authenticated("admin")]);
    assert_eq!(run.client_events, vec![ClientEvent::Authenticated]);
}

#[test]
fn tls_refused_by_the_server() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut refusing = server(&admins, false, now);
    let mut required = client("admin", "secret", TlsMode::On, now);
    let run_required = run(&mut required, &mut refusing, now);
    assert_eq!(run_required.to_client, b"N");
    assert_eq!(
        run_required.client_error,
        Some(ClientHandshakeError::TlsRefused)
    );

    let mut other_server = server(&admins, false, now);
    let mut optional = client("admin", "secret", TlsMode::Try, now);
    let run_optional = run(&mut optional, &mut other_server, now);
    assert_eq!(run_optional.client_events, vec![ClientEvent::Authenticated]);
}

#[test]
fn clear_bytes_after_tls_accept_are_refused() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, true, now);
    let mut stream = BytesMut::new();
    frontend::ssl_request(&mut stream);
    frontend::startup_message(&mut stream, &[("user", "admin"), ("database", "admin")]).unwrap();
    server.handle_input(now, &stream);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Broken(HandshakeError::DataBeforeTls))
    );
    let mut out = BytesMut::new();
    assert!(server.poll_transmit(&mut out));
    assert_eq!(&out[..], b"S");
}

#[test]
fn server_accepts_client_bytes_split_at_every_offset() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let reference = {
        let mut server = server(&admins, false, now);
        run(
            &mut client("admin", "secret", TlsMode::Try, now),
            &mut server,
            now,
        )
    };
    for cut in 0..=reference.to_server.len() {
        let mut server = server(&admins, false, now);
        let mut to_client = BytesMut::new();
        let (head, tail) = reference.to_server.split_at(cut);
        for part in [head, tail].into_iter().filter(|part| !part.is_empty()) {
            server.handle_input(now, part);
            while server.poll_transmit(&mut to_client) {}
        }
        assert_eq!(
            server.poll_event(),
            Some(authenticated("admin")),
            "cut {cut}"
        );
        assert_eq!(&to_client[..], &reference.to_client[..], "cut {cut}");
    }
    let mut server = server(&admins, false, now);
    for byte in &reference.to_server {
        server.handle_input(now, std::slice::from_ref(byte));
    }
    assert_eq!(server.poll_event(), Some(authenticated("admin")));
}

#[test]
fn client_accepts_server_bytes_split_at_every_offset() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let reference = {
        let mut server = server(&admins, false, now);
        run(
            &mut client("admin", "secret", TlsMode::Try, now),
            &mut server,
            now,
        )
    };
    for cut in 0..=reference.to_client.len() {
        let mut client = client("admin", "secret", TlsMode::Try, now);
        let mut to_server = BytesMut::new();
        let (head, tail) = reference.to_client.split_at(cut);
        for part in [head, tail].into_iter().filter(|part| !part.is_empty()) {
            client.handle_input(now, part);
            while client.poll_transmit(&mut to_server) {}
        }
        assert_eq!(
            client.poll_event(),
            Some(ClientEvent::Authenticated),
            "cut {cut}"
        );
    }
}

#[test]
fn timeouts_end_both_sides() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    assert_eq!(server.poll_timeout(), Some(now + TIMEOUT));
    server.handle_timeout(now + TIMEOUT / 2);
    assert_eq!(server.poll_event(), None);
    server.handle_timeout(now + TIMEOUT);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Refused(Refusal::TimedOut))
    );
    assert_eq!(server.poll_timeout(), None);

    let mut client = client("admin", "secret", TlsMode::Off, now);
    client.handle_timeout(now + TIMEOUT);
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Failed(ClientHandshakeError::TimedOut))
    );
    let mut other = self::client("admin", "secret", TlsMode::Off, now);
    other.handle_eof(now);
    assert_eq!(
        other.poll_event(),
        Some(ClientEvent::Failed(ClientHandshakeError::Closed))
    );
}

#[test]
fn garbage_gets_a_protocol_violation() {
    let now = crate::test_clock::origin();
    let admins = admins();
    let mut server = server(&admins, false, now);
    server.handle_input(now, b"\xff\xff\xff\xffgarbage");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Broken(HandshakeError::Message(_)))
    ));
    let mut out = BytesMut::new();
    assert!(server.poll_transmit(&mut out));
    assert_eq!(out.first(), Some(&b'E'));
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn admins_are_bounded() {
    let mut admins = AdminVerifiers::new();
    let password = Secret::new(b"pw".to_vec());
    for i in 0..MAX_ADMINS {
        admins
            .insert(&format!("a{i}"), &password, [i as u8; 16])
            .unwrap();
    }
    admins.insert("a0", &password, [9; 16]).unwrap();
    assert_eq!(admins.len(), MAX_ADMINS);
    assert_eq!(
        admins.insert("extra", &password, [1; 16]),
        Err(AdminError::TooMany)
    );
    assert_eq!(admins.get("a0").unwrap().salt, vec![9; 16]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_client_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let now = crate::test_clock::origin();
            let admins = admins();
            let mut server = server(&admins, true, now);
            server.handle_input(now, &bytes);
            let mut out = BytesMut::new();
            while server.poll_transmit(&mut out) {}
            while server.poll_event().is_some() {}
        }

        #[test]
        fn arbitrary_server_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let now = crate::test_clock::origin();
            let mut client = client("admin", "secret", TlsMode::Try, now);
            client.handle_input(now, &bytes);
            while client.poll_event().is_some() {}
        }
    }
}
