//! A small HTTP/1.1 client for the end-to-end tests: one request per connection.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for a response.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: BTreeMap<String, String>,
    /// The body, de-chunked (not decompressed).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text; panics when it is not UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

/// Sends `request` (raw bytes, sent as they are) to `address` and reads the response until the
/// server closes the connection.
pub fn exchange(address: SocketAddr, request: &[u8]) -> HttpResponse {
    parse(&exchange_raw(address, request))
}

/// Like [`exchange`], returning the bytes received as they are.
pub fn exchange_raw(address: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("connect to the exporter");
    stream.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
    stream.write_all(request).expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    raw
}

/// `GET path` with `headers` and `Connection: close`.
pub fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    exchange(address, request.as_bytes())
}

fn parse(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let body = if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Test certificates: a CA, a server certificate for 127.0.0.1, a client certificate.
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tls/testdata");

/// A TLS client that trusts the test CA of [`TESTDATA`], presenting the test client
/// certificate when `with_certificate`.
pub fn tls_client(with_certificate: bool) -> std::sync::Arc<rustls::ClientConfig> {
    let file = |name: &str| Some(std::path::PathBuf::from(format!("{TESTDATA}/{name}")));
    let (cert_file, key_file) = if with_certificate {
        (file("client.crt"), file("client.key"))
    } else {
        (None, None)
    };
    pgexporter_tls::client_config(&pgexporter_core::plan::ClientTlsFiles {
        ca_file: file("ca.crt"),
        cert_file,
        key_file,
    })
    .expect("the test certificates load")
}

/// `GET path` over TLS with `config` (its CA and, for mutual TLS, its client certificate) and
/// `Connection: close`. An error when the handshake or the connection fails.
pub fn tls_get(
    address: SocketAddr,
    path: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> std::io::Result<HttpResponse> {
    use bytes::BytesMut;
    use pgexporter_tls::TlsPump;
    use rustls::pki_types::ServerName;

    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    let name = ServerName::try_from(address.ip().to_string()).map_err(std::io::Error::other)?;
    let mut transport = TlsPump::client(config, name).map_err(std::io::Error::other)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    transport
        .send(request.as_bytes())
        .map_err(std::io::Error::other)?;
    let mut wire = BytesMut::new();
    let mut plaintext = BytesMut::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        while transport.poll_transmit(&mut wire) {
            stream.write_all(&wire)?;
            wire.clear();
        }
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        transport
            .receive(&buffer[..count], &mut plaintext)
            .map_err(std::io::Error::other)?;
    }
    if plaintext.is_empty() {
        return Err(std::io::Error::other(
            "the server closed without a response",
        ));
    }
    Ok(parse(&plaintext))
}
