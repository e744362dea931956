//! Targets for the management protocol: frames, documents and the remote handshake.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::BytesMut;
use pgexporter_core::machine::Machine;
use pgexporter_core::management::Document;
use pgexporter_core::management::frame;
use pgexporter_core::management::handshake::{
    AdminVerifiers, ClientEvent, ClientHandshake, SCRAM_SALT_LEN, SERVER_NONCE_LEN, ServerEvent,
    ServerHandshake,
};
use pgexporter_core::pg::{TlsMode, frontend};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::MasterKey;

use super::documents::FUZZ_MASTER_KEY;
use super::scram::asks_for_too_many_iterations;
use super::{MACHINE_TIMEOUT, pieces};

/// The one admin of the handshake targets.
const FUZZ_ADMIN: &str = "admin";
/// Its password.
const FUZZ_ADMIN_PASSWORD: &str = "secret";
/// The salt of its verifier, fixed so that saved client messages stay valid.
const FUZZ_ADMIN_SALT: [u8; SCRAM_SALT_LEN] = [3; SCRAM_SALT_LEN];
/// The server's nonce bytes in `management_handshake_server`, fixed for the same reason.
const FUZZ_SERVER_NONCE: [u8; SERVER_NONCE_LEN] = [2; SERVER_NONCE_LEN];
/// The client's nonce bytes in `management_handshake_client`.
const FUZZ_CLIENT_NONCE: [u8; SERVER_NONCE_LEN] = [1; SERVER_NONCE_LEN];

/// Option bit of the handshake targets' first byte: the server offers TLS (server side) or the
/// client asks for it (client side).
const OPTION_TLS: u8 = 1;
/// Option bit of `management_handshake_server`: a valid StartupMessage for [`FUZZ_ADMIN`] to
/// the `admin` database comes before the input, so that inputs start in SCRAM.
const OPTION_STARTUP: u8 = 2;

/// `management_frame`: [`frame::decode`] frame after frame off the input, each frame opened
/// with no master key and with [`FUZZ_MASTER_KEY`] (every compression and encryption code is
/// reachable; decompression is bounded by [`frame::MAX_DOCUMENT_LEN`]).
pub fn management_frame(data: &[u8]) {
    let mut buffer = BytesMut::from(data);
    open_frames(&mut buffer);
}

/// Decodes and opens every whole frame at the front of `buffer`, until it wants more bytes or
/// reports an error.
fn open_frames(buffer: &mut BytesMut) {
    let key = MasterKey::from_bytes(FUZZ_MASTER_KEY);
    while let Ok(Some(frame)) = frame::decode(buffer) {
        for master_key in [None, Some(&key)] {
            if let Ok(json) = frame::open(&frame, master_key) {
                assert!(
                    json.len() <= frame::MAX_DOCUMENT_LEN,
                    "an opened frame is larger than the document limit"
                );
            }
        }
    }
}

/// `management_document`: [`Document::parse`] on the input; a document that parses must
/// write ([`Document::to_json`]) to JSON that parses back to an equal document.
pub fn management_document(data: &[u8]) {
    let Ok(document) = Document::parse(data) else {
        return;
    };
    let json = document.to_json();
    assert_eq!(
        Document::parse(&json).as_ref(),
        Ok(&document),
        "a written document must parse back to itself: {}",
        String::from_utf8_lossy(&json)
    );
}

/// `management_handshake_server`: a [`ServerHandshake`] with the one admin [`FUZZ_ADMIN`] fed
/// client bytes. The first byte holds options ([`OPTION_TLS`]: TLS is offered and established
/// as soon as asked for; [`OPTION_STARTUP`]: a valid StartupMessage is sent first); the rest is
/// cut by [`pieces`] (its first byte: split seed). Once authenticated, the remaining bytes are
/// read as management frames. Ends with end of file and a timeout.
pub fn management_handshake_server(data: &[u8]) {
    let Some((&options, data)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut server = ServerHandshake::new(
        Arc::clone(admins()),
        options & OPTION_TLS != 0,
        now,
        MACHINE_TIMEOUT,
        FUZZ_SERVER_NONCE,
    );
    let mut out = BytesMut::new();
    let mut authenticated = false;
    let mut frames = BytesMut::new();
    if options & OPTION_STARTUP != 0 {
        let mut startup = BytesMut::new();
        frontend::startup_message(&mut startup, &[("user", FUZZ_ADMIN), ("database", "admin")])
            .expect("the startup parameters hold no NUL byte");
        server.handle_input(now, &startup);
        authenticated = drain_server(&mut server, now, &mut out);
    }
    for piece in pieces(data) {
        if authenticated {
            frames.extend_from_slice(piece);
            open_frames(&mut frames);
            continue;
        }
        server.handle_input(now, piece);
        authenticated = drain_server(&mut server, now, &mut out);
        if server.is_finished() && !authenticated {
            return;
        }
        if authenticated {
            frames = server.take_remaining();
            open_frames(&mut frames);
        }
    }
    server.handle_eof(now);
    drain_server(&mut server, now, &mut out);
    server.handle_timeout(now + MACHINE_TIMEOUT * 2);
    drain_server(&mut server, now, &mut out);
}

/// Drains the server's output and events; establishes TLS when it asks for it. Returns whether
/// it reported [`ServerEvent::Authenticated`].
fn drain_server(server: &mut ServerHandshake, now: Instant, out: &mut BytesMut) -> bool {
    let mut authenticated = false;
    loop {
        out.clear();
        let sent = server.poll_transmit(out);
        let tls = server.poll_tls_start();
        if tls {
            server.handle_tls_established(now);
        }
        let event = server.poll_event();
        if let Some(ServerEvent::Authenticated { admin }) = &event {
            assert_eq!(admin, FUZZ_ADMIN, "only the known admin can authenticate");
            authenticated = true;
        }
        if !sent && !tls && event.is_none() {
            return authenticated;
        }
    }
}

/// The verifiers of the one admin, derived once per process (4096 PBKDF2 iterations).
fn admins() -> &'static Arc<AdminVerifiers> {
    static ADMINS: OnceLock<Arc<AdminVerifiers>> = OnceLock::new();
    ADMINS.get_or_init(|| {
        let mut admins = AdminVerifiers::new();
        admins
            .insert(
                FUZZ_ADMIN,
                &Secret::from(FUZZ_ADMIN_PASSWORD),
                FUZZ_ADMIN_SALT,
            )
            .expect("one admin with a fixed salt is valid");
        Arc::new(admins)
    })
}

/// `management_handshake_client`: a [`ClientHandshake`] for [`FUZZ_ADMIN`] fed server bytes.
/// The first byte holds options ([`OPTION_TLS`]: the client asks for TLS, established as soon
/// as both agree); the rest is cut by [`pieces`] (its first byte: split seed). Inputs whose
/// SCRAM iteration count is above the RFC 7677 one are skipped: larger counts only make the
/// key derivation slower. Ends with end of file and a timeout.
pub fn management_handshake_client(data: &[u8]) {
    let Some((&options, data)) = data.split_first() else {
        return;
    };
    if asks_for_too_many_iterations(data) {
        return;
    }
    let tls = if options & OPTION_TLS != 0 {
        TlsMode::Try
    } else {
        TlsMode::Off
    };
    let now = Instant::now();
    let mut client = ClientHandshake::new(
        FUZZ_ADMIN,
        Secret::from(FUZZ_ADMIN_PASSWORD),
        tls,
        now,
        MACHINE_TIMEOUT,
        FUZZ_CLIENT_NONCE,
    )
    .expect("the admin name holds no NUL byte");
    let mut out = BytesMut::new();
    drain_client(&mut client, now, &mut out);
    for piece in pieces(data) {
        client.handle_input(now, piece);
        drain_client(&mut client, now, &mut out);
        if client.is_finished() {
            return;
        }
    }
    client.handle_eof(now);
    drain_client(&mut client, now, &mut out);
    client.handle_timeout(now + MACHINE_TIMEOUT * 2);
    drain_client(&mut client, now, &mut out);
}

/// Drains the client's output and events; establishes TLS when it asks for it.
fn drain_client(client: &mut ClientHandshake, now: Instant, out: &mut BytesMut) {
    loop {
        out.clear();
        let sent = client.poll_transmit(out);
        let tls = client.poll_tls_start();
        if tls {
            client.handle_tls_established(now);
        }
        let event = client.poll_event();
        if let Some(ClientEvent::Authenticated) = event {
            assert!(client.is_finished(), "an authenticated handshake is over");
        }
        if !sent && !tls && event.is_none() {
            return;
        }
    }
}
