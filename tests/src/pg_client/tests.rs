//! The driver against a scripted server on a Unix socket: end-of-file, garbage, TLS failures and
//! closing, which a real PostgreSQL does not produce on demand.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use pgexporter_core::pg::{Error, TlsMode};

use super::*;

/// A listening socket `<dir>/.s.PGSQL.<port>` in a fresh directory, removed on drop.
struct FakeServer {
    dir: PathBuf,
    listener: UnixListener,
}

impl FakeServer {
    fn new(name: &str) -> FakeServer {
        let dir =
            std::env::temp_dir().join(format!("pgexporter-net-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the socket directory");
        let listener = UnixListener::bind(dir.join(".s.PGSQL.5432")).expect("bind the fake server");
        FakeServer { dir, listener }
    }

    fn target(&self) -> PgTarget {
        PgTarget::Unix {
            socket_dir: self.dir.clone(),
            port: 5432,
        }
    }

    /// Serves one connection with `script` on another thread.
    fn serve(&self, script: impl FnOnce(UnixStream) + Send + 'static) -> thread::JoinHandle<()> {
        let listener = self.listener.try_clone().expect("clone the listener");
        thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            script(stream);
        })
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn params(tls: TlsMode) -> ConnectParams {
    ConnectParams {
        user: "alice".to_owned(),
        database: "postgres".to_owned(),
        password: None,
        application_name: "driver-test".to_owned(),
        tls,
        options: Vec::new(),
        connect_timeout: Duration::from_secs(30),
    }
}

/// A backend message: tag, length, body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = i32::try_from(body.len() + 4).expect("a small test message");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads one length-prefixed startup-phase message (StartupMessage or SSLRequest).
fn read_startup(stream: &mut UnixStream) -> Vec<u8> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).expect("startup length");
    let mut body = vec![0u8; i32::from_be_bytes(length) as usize - 4];
    stream.read_exact(&mut body).expect("startup body");
    body
}

/// Reads one tagged frontend message and returns its tag.
fn read_tag(stream: &mut UnixStream) -> u8 {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).expect("message header");
    let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let mut body = vec![0u8; length as usize - 4];
    stream.read_exact(&mut body).expect("message body");
    header[0]
}

/// Accepts the startup without a password and reports ReadyForQuery.
fn log_in(stream: &mut UnixStream) {
    read_startup(stream);
    let mut reply = message(b'R', &0i32.to_be_bytes());
    reply.extend(message(b'Z', b"I"));
    stream
        .write_all(&reply)
        .expect("write AuthenticationOk and ReadyForQuery");
}

/// RowDescription for one text column named `n`.
fn row_description() -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(b"n\0");
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&25i32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    message(b'T', &body)
}

fn data_row(value: &[u8]) -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(&i32::try_from(value.len()).expect("short").to_be_bytes());
    body.extend_from_slice(value);
    message(b'D', &body)
}

#[test]
fn end_of_file_mid_result_fails_the_query_with_the_reason() {
    let server = FakeServer::new("eof");
    let script = server.serve(|mut stream| {
        log_in(&mut stream);
        assert_eq!(read_tag(&mut stream), b'Q');
        let mut partial = row_description();
        partial.extend(data_row(b"1"));
        stream.write_all(&partial).expect("write part of a result");
    });
    let mut client =
        PgClient::connect(&server.target(), params(TlsMode::Off), None).expect("connect");
    let error = client.query("SELECT n").expect_err("the server hung up");
    script.join().expect("script");
    assert!(
        matches!(
            error,
            DriverError::Connection {
                source: Error::UnexpectedEof,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(client.is_closed());
    let again = client.query("SELECT 1").expect_err("closed");
    assert!(
        matches!(again, DriverError::Query(QueryError::ConnectionClosed)),
        "{again:?}"
    );
}

#[test]
fn a_pipeline_cut_short_fails_every_query_left() {
    let server = FakeServer::new("pipeline");
    let script = server.serve(|mut stream| {
        log_in(&mut stream);
        for _ in 0..3 {
            assert_eq!(read_tag(&mut stream), b'Q');
        }
        let mut first = row_description();
        first.extend(data_row(b"one"));
        first.extend(message(b'C', b"SELECT 1\0"));
        first.extend(message(b'Z', b"I"));
        stream.write_all(&first).expect("write the first result");
    });
    let mut client =
        PgClient::connect(&server.target(), params(TlsMode::Off), None).expect("connect");
    let results = client.pipeline(&["SELECT 'one'", "SELECT 2", "SELECT 3"]);
    script.join().expect("script");
    assert_eq!(results.len(), 3);
    let first = results[0].as_ref().expect("the first result arrived");
    assert_eq!(first.rows[0].get(0), Some("one"));
    for result in &results[1..] {
        assert!(
            matches!(result, Err(QueryError::ConnectionClosed)),
            "{result:?}"
        );
    }
    assert!(matches!(
        client.close_reason(),
        Some(DriverError::Connection { .. })
    ));
}

#[test]
fn garbage_instead_of_authentication_is_a_protocol_error() {
    let server = FakeServer::new("garbage");
    let script = server.serve(|mut stream| {
        read_startup(&mut stream);
        stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .expect("write garbage");
    });
    let error =
        PgClient::connect(&server.target(), params(TlsMode::Off), None).expect_err("garbage");
    script.join().expect("script");
    assert!(
        matches!(
            error,
            DriverError::Connection {
                source: Error::Protocol(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn garbage_after_tls_was_accepted_is_a_tls_error() {
    let server = FakeServer::new("tls-garbage");
    let script = server.serve(|mut stream| {
        read_startup(&mut stream);
        stream.write_all(b"S").expect("accept TLS");
        let mut client_hello = [0u8; 5];
        stream
            .read_exact(&mut client_hello)
            .expect("a TLS record header");
        assert_eq!(client_hello[0], 0x16, "a handshake record");
        stream
            .write_all(b"not a TLS record at all")
            .expect("write garbage");
    });
    let error =
        PgClient::connect(&server.target(), params(TlsMode::Try), None).expect_err("garbage");
    script.join().expect("script");
    assert!(
        matches!(
            error,
            DriverError::Tls {
                source: TlsError::Protocol(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn close_sends_terminate() {
    let server = FakeServer::new("close");
    let script = server.serve(|mut stream| {
        log_in(&mut stream);
        assert_eq!(read_tag(&mut stream), b'X');
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("read to the end");
        assert!(rest.is_empty(), "nothing after Terminate: {rest:?}");
    });
    let client = PgClient::connect(&server.target(), params(TlsMode::Off), None).expect("connect");
    assert!(!client.is_tls());
    client.close().expect("close");
    script
        .join()
        .expect("the server saw Terminate then end-of-file");
}
