//! Shared by the TLS unit tests: the certificates in `testdata/` and an in-memory handshake.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use pgexporter_core::plan::ClientTlsFiles;

use crate::{TlsError, TlsPump, client_config};

/// A file of `tls/testdata/`.
pub(crate) fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The test server (certificate for localhost and 127.0.0.1, signed by `ca.crt`); with
/// `require_client_certificate`, clients must present a certificate signed by `ca.crt`.
pub(crate) fn server_pump(require_client_certificate: bool) -> TlsPump<ServerConnection> {
    let config = server_config(require_client_certificate);
    TlsPump::new(ServerConnection::new(config).expect("server connection"))
}

/// The configuration of [`server_pump`].
pub(crate) fn server_config(require_client_certificate: bool) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(testdata("server.crt"))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .expect("read server.crt");
    let key = PrivateKeyDer::from_pem_file(testdata("server.key")).expect("read server.key");
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let builder = if require_client_certificate {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(testdata("ca.crt")).expect("read ca.crt"))
            .expect("ca.crt is a CA");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(chain, key)
        .expect("server certificate and key");
    Arc::new(config)
}

/// A client pump for `files`, naming the server `server_name`.
pub(crate) fn client_pump(files: &ClientTlsFiles, server_name: &str) -> TlsPump<ClientConnection> {
    let config = client_config(files).expect("client configuration");
    let name = ServerName::try_from(server_name.to_owned()).expect("a valid server name");
    TlsPump::client(config, name).expect("client connection")
}

/// Which side refused the bytes it received.
#[derive(Debug)]
pub(crate) enum HandshakeFailure {
    Client(TlsError),
    Server(TlsError),
}

/// Moves ciphertext between the pumps until neither has anything to send, delivering at most
/// `chunk` bytes per call to `receive`. Plaintext that arrives is appended to the two buffers.
pub(crate) fn shuttle(
    client: &mut TlsPump<ClientConnection>,
    server: &mut TlsPump<ServerConnection>,
    chunk: usize,
    client_plaintext: &mut BytesMut,
    server_plaintext: &mut BytesMut,
) -> Result<(), HandshakeFailure> {
    loop {
        let mut to_server = BytesMut::new();
        let mut to_client = BytesMut::new();
        let client_sent = client.poll_transmit(&mut to_server);
        for piece in to_server.chunks(chunk) {
            server
                .receive(piece, server_plaintext)
                .map_err(HandshakeFailure::Server)?;
        }
        let server_sent = server.poll_transmit(&mut to_client);
        for piece in to_client.chunks(chunk) {
            client
                .receive(piece, client_plaintext)
                .map_err(HandshakeFailure::Client)?;
        }
        if !client_sent && !server_sent {
            return Ok(());
        }
    }
}
