//! Building the rustls client configuration for PostgreSQL connections from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use pgexporter_core::plan::{ClientTlsFiles, ServerTlsFiles};

use crate::verify::PostgresServerVerifier;

/// Why a client configuration could not be built. Every file error names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid PEM, or holds no item of the kind needed.
    #[error("{}: {what}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for (`certificates`, `private key`).
        what: &'static str,
        /// The PEM parser's complaint.
        source: rustls_pki_types::pem::Error,
    },
    /// rustls rejected a certificate or key from the file.
    #[error("{}: {source}", path.display())]
    Rejected {
        /// The file.
        path: PathBuf,
        /// Why rustls rejected it.
        source: rustls::Error,
    },
    /// The crypto provider supports none of the protocol versions asked for (a build problem).
    #[error("TLS provider: {0}")]
    Provider(#[source] rustls::Error),
    /// A client certificate was given without a key, or a key without a certificate.
    #[error("tls_cert_file and tls_key_file must be given together")]
    IncompleteClientIdentity,
}

/// Builds the client configuration (ring provider, TLS 1.2 and 1.3) for `files`.
///
/// The host name is never checked, as with libpq's `sslmode=require` and `sslmode=verify-ca`:
/// without `ca_file` the connection is encrypted but the server is not authenticated; with it,
/// the server's chain must lead to one of the file's certificates and be valid now.
pub fn client_config(files: &ClientTlsFiles) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &files.ca_file {
        Some(path) => Some(Arc::new(read_roots(path)?)),
        None => None,
    };
    let verifier = Arc::new(PostgresServerVerifier::new(provider.clone(), roots));
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Provider)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&files.cert_file, &files.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert_file), Some(key_file)) => {
            let chain = read_certificates(cert_file)?;
            let key = read_key(key_file)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsConfigError::Rejected {
                    path: key_file.clone(),
                    source,
                })?
        }
        _ => return Err(TlsConfigError::IncompleteClientIdentity),
    };
    Ok(Arc::new(config))
}

/// Builds the server configuration (ring provider, TLS 1.2 and 1.3) for `files`.
///
/// # Errors
/// A [`TlsConfigError`] naming the file that cannot be read or is refused.
pub fn server_config(files: &ServerTlsFiles) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Provider)?;
    let builder = match &files.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let roots = Arc::new(read_roots(path)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|error| TlsConfigError::Rejected {
                    path: path.clone(),
                    source: rustls::Error::General(error.to_string()),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain = read_certificates(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    let config =
        builder
            .with_single_cert(chain, key)
            .map_err(|source| TlsConfigError::Rejected {
                path: files.key_file.clone(),
                source,
            })?;
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let pem_error = |source| TlsConfigError::Pem {
        path: path.to_path_buf(),
        what: "certificates",
        source,
    };
    let certificates = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certificates.is_empty() {
        return Err(pem_error(rustls_pki_types::pem::Error::NoItemsFound));
    }
    Ok(certificates)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|source| TlsConfigError::Pem {
        path: path.to_path_buf(),
        what: "private key",
        source,
    })
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|source| TlsConfigError::Rejected {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use rustls::CertificateError;

    use super::*;
    use crate::TlsError;
    use crate::test_support::{HandshakeFailure, client_pump, server_pump, shuttle, testdata};

    fn handshake(
        files: &ClientTlsFiles,
        server_name: &str,
        client_certificate_required: bool,
    ) -> Result<(), HandshakeFailure> {
        let mut client = client_pump(files, server_name);
        let mut server = server_pump(client_certificate_required);
        shuttle(
            &mut client,
            &mut server,
            usize::MAX,
            &mut BytesMut::new(),
            &mut BytesMut::new(),
        )?;
        assert!(!client.is_handshaking());
        Ok(())
    }

    fn with_ca(name: &str) -> ClientTlsFiles {
        ClientTlsFiles {
            ca_file: Some(testdata(name)),
            ..ClientTlsFiles::default()
        }
    }

    #[test]
    fn without_a_ca_any_server_certificate_is_accepted() {
        handshake(&ClientTlsFiles::default(), "db.example.org", false).expect("sslmode=require");
    }

    #[test]
    fn with_the_right_ca_the_chain_verifies_whatever_the_host_name() {
        handshake(&with_ca("ca.crt"), "localhost", false).expect("name in the certificate");
        handshake(&with_ca("ca.crt"), "db.example.org", false).expect("verify-ca ignores the name");
    }

    #[test]
    fn with_another_ca_the_handshake_fails_on_the_issuer() {
        let failure =
            handshake(&with_ca("other-ca.crt"), "localhost", false).expect_err("wrong CA");
        assert!(
            matches!(
                failure,
                HandshakeFailure::Client(TlsError::Protocol(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                )))
            ),
            "{failure:?}"
        );
    }

    #[test]
    fn client_certificate_is_presented_when_the_server_asks() {
        let files = ClientTlsFiles {
            ca_file: Some(testdata("ca.crt")),
            cert_file: Some(testdata("client.crt")),
            key_file: Some(testdata("client.key")),
        };
        handshake(&files, "localhost", true).expect("client certificate accepted");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let files = ClientTlsFiles {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..Default::default()
        };
        let error = client_config(&files).expect_err("missing file");
        assert!(matches!(error, TlsConfigError::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn a_file_without_certificates_is_named_in_the_error() {
        let files = with_ca("README.md");
        let error = client_config(&files).expect_err("no PEM certificates");
        assert!(
            matches!(
                error,
                TlsConfigError::Pem {
                    what: "certificates",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("README.md"), "{error}");
    }

    #[test]
    fn a_certificate_file_is_not_a_key() {
        let files = ClientTlsFiles {
            cert_file: Some(testdata("client.crt")),
            key_file: Some(testdata("client.crt")),
            ..Default::default()
        };
        let error = client_config(&files).expect_err("no key in a certificate file");
        assert!(
            matches!(
                error,
                TlsConfigError::Pem {
                    what: "private key",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn certificate_and_key_come_together() {
        let only_cert = ClientTlsFiles {
            cert_file: Some(testdata("client.crt")),
            ..Default::default()
        };
        let only_key = ClientTlsFiles {
            key_file: Some(testdata("client.key")),
            ..Default::default()
        };
        for files in [only_cert, only_key] {
            let error = client_config(&files).expect_err("incomplete identity");
            assert!(
                matches!(error, TlsConfigError::IncompleteClientIdentity),
                "{error:?}"
            );
        }
    }
}
