//! The remote management port: TCP, optional TLS, the SCRAM-SHA-256 handshake of SPEC §4.4,
//! then one frame each way.
//!
//! TLS trust: with a CA file ([`TlsTrust::CaFile`], from `PGEXPORTER_CLI_CA_FILE`) TLS is
//! required and the server's certificate must chain to the file's CAs (the host name is not
//! checked, as libpq's `sslmode=verify-ca`); without one ([`TlsTrust::Unverified`]) TLS is used
//! when the server offers it, without verifying the server (as `sslmode=require`). The password
//! never crosses the wire either way: SCRAM proves it.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pgexporter_core::management::Frame;
use pgexporter_core::management::client::ClientExchange;
use pgexporter_core::management::handshake::{ClientHandshake, SERVER_NONCE_LEN};
use pgexporter_core::pg::TlsMode;
use pgexporter_core::plan::ClientTlsFiles;
use pgexporter_core::secret::Secret;
use pgexporter_tls::{Tls, TlsConfigError, client_config};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::exchange::{self, Exchange, ExchangeError, NETWORK_TIMEOUT};
use super::log::Log;

/// How the server's TLS certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// TLS is required and the certificate must chain to a CA in this PEM file.
    CaFile(PathBuf),
    /// TLS when the server offers it, without verifying the server.
    Unverified,
}

impl TlsTrust {
    /// The trust for an optional CA file.
    pub fn from_ca_file(ca_file: Option<PathBuf>) -> TlsTrust {
        ca_file.map_or(TlsTrust::Unverified, TlsTrust::CaFile)
    }

    /// Whether TLS is required (`On`) or used when offered (`Try`).
    pub fn mode(&self) -> TlsMode {
        match self {
            TlsTrust::CaFile(_) => TlsMode::On,
            TlsTrust::Unverified => TlsMode::Try,
        }
    }

    fn config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let ca_file = match self {
            TlsTrust::CaFile(path) => Some(path.clone()),
            TlsTrust::Unverified => None,
        };
        client_config(&ClientTlsFiles {
            ca_file,
            ..ClientTlsFiles::default()
        })
    }
}

/// Who logs in where.
#[derive(Debug)]
pub struct RemoteLogin {
    /// Host name or IP address (`-h`).
    pub host: String,
    /// Management port (`-p`).
    pub port: u16,
    /// Admin name (`-U`).
    pub user: String,
    /// Admin password.
    pub password: Secret,
    /// TLS trust.
    pub trust: TlsTrust,
}

/// A connection to the remote management port; the handshake runs with the exchange.
#[derive(Debug)]
pub struct RemoteSession {
    stream: TcpStream,
    login: RemoteLogin,
    target: String,
}

impl RemoteSession {
    /// Connects to the port, within [`NETWORK_TIMEOUT`].
    pub fn connect(login: RemoteLogin, log: &mut Log) -> Result<RemoteSession, ExchangeError> {
        let target = format!("{}:{}", login.host, login.port);
        let stream =
            connect_tcp(&login.host, login.port).map_err(|source| ExchangeError::Connect {
                target: target.clone(),
                source,
            })?;
        log.trace(format_args!("connected to {target}"));
        Ok(RemoteSession {
            stream,
            login,
            target,
        })
    }
}

impl Exchange for RemoteSession {
    /// Logs in with SCRAM-SHA-256 (under TLS when the server offers it, or as the trust
    /// requires), then sends the request. A refusal (unknown admin, wrong password) is
    /// [`ExchangeError::Handshake`] with the server's SQLSTATE and message.
    fn exchange(&mut self, request: &[u8], log: &mut Log) -> Result<Frame, ExchangeError> {
        let mut nonce = [0u8; SERVER_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(ExchangeError::Random)?;
        let login = &self.login;
        let now = Instant::now();
        let handshake = ClientHandshake::new(
            &login.user,
            login.password.clone(),
            login.trust.mode(),
            now,
            NETWORK_TIMEOUT,
            nonce,
        )
        .map_err(|source| ExchangeError::Handshake {
            target: self.target.clone(),
            source,
        })?;
        let name = ServerName::try_from(login.host.clone())
            .map_err(|_| ExchangeError::InvalidServerName(login.host.clone()))?;
        let exchange = ClientExchange::remote(handshake, request, now, NETWORK_TIMEOUT);
        let mut exchange = Tls::client_on_request(exchange, login.trust.config()?, name);
        let admin = Some(login.user.as_str());
        exchange::run(&mut self.stream, &mut exchange, &self.target, admin, log)
    }
}

/// Connects to the first address of `host` that answers within [`NETWORK_TIMEOUT`].
fn connect_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last_error = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, NETWORK_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                stream.set_write_timeout(Some(NETWORK_TIMEOUT))?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the host name has no address")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_ca_file_requires_tls() {
        assert_eq!(TlsTrust::from_ca_file(None), TlsTrust::Unverified);
        assert_eq!(TlsTrust::Unverified.mode(), TlsMode::Try);
        let trust = TlsTrust::from_ca_file(Some("/ca.pem".into()));
        assert_eq!(trust, TlsTrust::CaFile("/ca.pem".into()));
        assert_eq!(trust.mode(), TlsMode::On);
        assert!(matches!(trust.config(), Err(TlsConfigError::Read { .. })));
        assert!(TlsTrust::Unverified.config().is_ok());
    }

    fn login(port: u16) -> RemoteLogin {
        RemoteLogin {
            host: "127.0.0.1".into(),
            port,
            user: "admin".into(),
            password: Secret::from("never shown"),
            trust: TlsTrust::Unverified,
        }
    }

    #[test]
    fn a_server_that_hangs_up_fails_the_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            drop(stream);
        });
        let mut session = RemoteSession::connect(login(port), &mut Log::quiet()).unwrap();
        let error = session.exchange(b"", &mut Log::quiet()).unwrap_err();
        server.join().unwrap();
        let text = error.to_string();
        assert!(
            matches!(
                error,
                ExchangeError::Handshake { .. } | ExchangeError::Io { .. }
            ),
            "{text}"
        );
        assert!(!text.contains("never shown"), "{text}");
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = RemoteSession::connect(login(port), &mut Log::quiet()).unwrap_err();
        assert!(matches!(error, ExchangeError::Connect { .. }), "{error}");
    }
}
