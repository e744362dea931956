//! Where an outbound connection goes and how to reach it: a PostgreSQL server or an HTTP
//! endpoint (another exporter).

use std::fmt;
use std::path::PathBuf;

use crate::pg::TlsMode;

/// The PEM files of a client's TLS settings (a server section's `tls_ca_file`,
/// `tls_cert_file`, `tls_key_file`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientTlsFiles {
    /// CA certificates the server's chain must lead to; `None` accepts any server certificate
    /// (the connection is encrypted, the server not authenticated).
    pub ca_file: Option<PathBuf>,
    /// The client certificate chain, presented when the server asks; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// The PEM files of a listener's TLS (`metrics_cert_file` and friends, or `tls_cert_file` and
/// friends for remote management).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerTlsFiles {
    /// The certificate chain presented to clients.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate that chains to a CA in this file.
    pub client_ca_file: Option<PathBuf>,
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP host name or address and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix socket: `<dir>/.s.PGSQL.<port>`.
    Unix {
        /// The socket file.
        path: PathBuf,
    },
}

impl Address {
    /// The address of a server section's `host` and `port`: a host starting with `/` is a
    /// Unix socket directory (SPEC §2.3).
    pub fn new(host: &str, port: u16) -> Address {
        if host.starts_with('/') {
            Address::Unix {
                path: PathBuf::from(host).join(format!(".s.PGSQL.{port}")),
            }
        } else {
            Address::Tcp {
                host: host.to_owned(),
                port,
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

/// Everything a runtime needs to open an outbound connection, up to its TLS handshake: the
/// address, and the files of the TLS the connection's owner may start on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Where it listens.
    pub address: Address,
    /// Whether the owner asks for TLS (a PostgreSQL server's `tls`; `Off` for HTTP endpoints,
    /// which are plain).
    pub tls: TlsMode,
    /// The client's certificate and the CA to check the server against.
    pub tls_files: ClientTlsFiles,
}

impl Target {
    /// A plain TCP target, `host:port`: an HTTP endpoint.
    pub fn plain_tcp(host: &str, port: u16) -> Target {
        Target {
            address: Address::Tcp {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
            },
            tls: TlsMode::Off,
            tls_files: ClientTlsFiles::default(),
        }
    }

    /// The name given to a TLS handshake: the TCP host, or `localhost` over a Unix socket
    /// (which never carries TLS; the certificate check ignores names anyway).
    pub fn tls_name(&self) -> &str {
        match &self.address {
            Address::Tcp { host, .. } => host,
            Address::Unix { .. } => "localhost",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_makes_a_socket_directory() {
        assert_eq!(
            Address::new("/var/run/postgresql", 5432),
            Address::Unix {
                path: PathBuf::from("/var/run/postgresql/.s.PGSQL.5432")
            }
        );
        assert_eq!(Address::new("db1", 5433).to_string(), "db1:5433".to_owned());
        assert_eq!(Address::new("::1", 5432).to_string(), "[::1]:5432");
        assert_eq!(
            Address::new("/tmp", 1).to_string(),
            "/tmp/.s.PGSQL.1".to_owned()
        );
    }
}
