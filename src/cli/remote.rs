//! The remote management port: TCP, optional TLS, the SCRAM-SHA-256 handshake of SPEC §4.4,
//! then one frame each way.
//!
//! TLS trust: with a CA file ([`TlsTrust::CaFile`], from `PGEXPORTER_CLI_CA_FILE`) TLS is
//! required and the server's certificate must chain to the file's CAs (the host name is not
//! checked, as libpq's `sslmode=verify-ca`); without one ([`TlsTrust::Unverified`]) TLS is used
//! when the server offers it, without verifying the server (as `sslmode=require`). The password
//! never crosses the wire either way: SCRAM proves it.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::machine::Machine;
use pgexporter_core::management::Frame;
use pgexporter_core::management::handshake::{
    ClientEvent, ClientHandshake, ClientHandshakeError, SERVER_NONCE_LEN,
};
use pgexporter_core::pg::TlsMode;
use pgexporter_core::plan::ClientTlsFiles;
use pgexporter_core::secret::Secret;
use pgexporter_tls::{TlsConfigError, TlsError, Transport, client_config};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::exchange::{Exchange, ExchangeError, NETWORK_TIMEOUT, read_chunk, receive_frame};
use super::log::Log;

/// The shortest read timeout while the handshake's deadline is pending (zero means "none").
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

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

/// An authenticated connection to the remote management port.
#[derive(Debug)]
pub struct RemoteSession {
    stream: TcpStream,
    transport: Transport,
    /// Plaintext received and not yet consumed.
    received: BytesMut,
    target: String,
}

impl RemoteSession {
    /// Connects, negotiates TLS and authenticates as `login.user`.
    ///
    /// Each step is bounded by [`NETWORK_TIMEOUT`]. A refusal (unknown admin, wrong password)
    /// is [`ExchangeError::Handshake`] with the server's SQLSTATE and message.
    pub fn connect(login: RemoteLogin, log: &mut Log) -> Result<RemoteSession, ExchangeError> {
        let RemoteLogin {
            host,
            port,
            user,
            password,
            trust,
        } = login;
        let target = format!("{host}:{port}");
        let stream = connect_tcp(&host, port).map_err(|source| ExchangeError::Connect {
            target: target.clone(),
            source,
        })?;
        log.trace(format_args!("connected to {target}"));
        let mut nonce = [0u8; SERVER_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(ExchangeError::Random)?;
        let mut handshake = ClientHandshake::new(
            &user,
            password,
            trust.mode(),
            Instant::now(),
            NETWORK_TIMEOUT,
            nonce,
        )
        .map_err(|source| ExchangeError::Handshake {
            target: target.clone(),
            source,
        })?;
        let mut session = RemoteSession {
            stream,
            transport: Transport::default(),
            received: BytesMut::new(),
            target,
        };
        session.authenticate(&mut handshake, &trust, &host, log)?;
        log.trace(format_args!("authenticated as {user}"));
        session.received = handshake.take_remaining();
        Ok(session)
    }

    /// Runs the handshake until it authenticates or fails; `host` names the server for TLS.
    fn authenticate(
        &mut self,
        handshake: &mut ClientHandshake,
        trust: &TlsTrust,
        host: &str,
        log: &mut Log,
    ) -> Result<(), ExchangeError> {
        loop {
            let mut plaintext = BytesMut::new();
            if handshake.poll_transmit(&mut plaintext) {
                self.send(&plaintext)?;
            }
            if handshake.poll_tls_start() {
                self.flush()?;
                self.start_tls(trust, host)?;
                log.trace("the server accepted TLS");
            }
            while let Some(event) = handshake.poll_event() {
                match event {
                    ClientEvent::Authenticated => return Ok(()),
                    ClientEvent::Failed(source) => return Err(self.handshake_error(source)),
                }
            }
            self.flush()?;
            self.read_handshake(handshake)?;
        }
    }

    /// One read during the handshake, bounded by its deadline, fed to it.
    fn read_handshake(&mut self, handshake: &mut ClientHandshake) -> Result<(), ExchangeError> {
        let now = Instant::now();
        let timeout = handshake
            .poll_timeout()
            .map_or(NETWORK_TIMEOUT, |deadline| {
                deadline
                    .saturating_duration_since(now)
                    .max(MIN_READ_TIMEOUT)
            });
        self.set_read_timeout(timeout)?;
        let mut ciphertext = BytesMut::new();
        match read_chunk(&self.target, &mut self.stream, &mut ciphertext) {
            Ok(0) => handshake.handle_eof(Instant::now()),
            Ok(_) => {
                let mut plaintext = BytesMut::new();
                let established = self.receive(&ciphertext, &mut plaintext)?;
                let now = Instant::now();
                if established {
                    handshake.handle_tls_established(now);
                }
                if !plaintext.is_empty() {
                    handshake.handle_input(now, &plaintext);
                }
                if self.peer_closed() {
                    handshake.handle_eof(now);
                }
            }
            Err(ExchangeError::TimedOut(_)) => handshake.handle_timeout(Instant::now()),
            Err(error) => return Err(error),
        }
        Ok(())
    }

    fn start_tls(&mut self, trust: &TlsTrust, host: &str) -> Result<(), ExchangeError> {
        let config = trust.config()?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ExchangeError::InvalidServerName(host.to_owned()))?;
        self.transport
            .start_tls(config, name)
            .map_err(|source| self.tls_error(source))
    }

    /// Queues plaintext (encrypted when TLS is on).
    fn send(&mut self, plaintext: &[u8]) -> Result<(), ExchangeError> {
        self.transport
            .send(plaintext)
            .map_err(|source| self.tls_error(source))
    }

    /// Writes everything the transport has to send.
    fn flush(&mut self) -> Result<(), ExchangeError> {
        let mut out = BytesMut::new();
        if !self.transport.poll_transmit(&mut out) {
            return Ok(());
        }
        self.stream
            .write_all(&out)
            .map_err(|source| ExchangeError::Io {
                target: self.target.clone(),
                source,
            })
    }

    /// Passes bytes read from the socket through the transport; `true` when they completed the
    /// TLS handshake. On a TLS error the alert rustls queued is sent before failing.
    fn receive(&mut self, bytes: &[u8], plaintext: &mut BytesMut) -> Result<bool, ExchangeError> {
        match self.transport.receive(bytes, plaintext) {
            Ok(established) => Ok(established),
            Err(source) => {
                let _ = self.flush();
                Err(self.tls_error(source))
            }
        }
    }

    /// Whether the server sent TLS close_notify.
    fn peer_closed(&self) -> bool {
        matches!(&self.transport, Transport::Tls { pump, .. } if pump.peer_closed())
    }

    fn set_read_timeout(&self, timeout: Duration) -> Result<(), ExchangeError> {
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(|source| ExchangeError::Io {
                target: self.target.clone(),
                source,
            })
    }

    fn handshake_error(&self, source: ClientHandshakeError) -> ExchangeError {
        ExchangeError::Handshake {
            target: self.target.clone(),
            source,
        }
    }

    fn tls_error(&self, source: TlsError) -> ExchangeError {
        ExchangeError::Tls {
            target: self.target.clone(),
            source,
        }
    }
}

impl Exchange for RemoteSession {
    fn exchange(&mut self, request: &[u8]) -> Result<Frame, ExchangeError> {
        self.send(request)?;
        self.flush()?;
        self.set_read_timeout(NETWORK_TIMEOUT)?;
        let mut buffer = std::mem::take(&mut self.received);
        let target = self.target.clone();
        let frame = receive_frame(&target, &mut buffer, |buffer| {
            let mut ciphertext = BytesMut::new();
            if read_chunk(&self.target, &mut self.stream, &mut ciphertext)? == 0 {
                return Ok(false);
            }
            self.receive(&ciphertext, buffer)?;
            // Whatever TLS wants to answer (key updates, alerts) goes out at once.
            self.flush()?;
            Ok(true)
        });
        self.received = buffer;
        if let Transport::Tls { pump, .. } = &mut self.transport {
            // One frame each way: say goodbye properly; a failure here changes nothing.
            pump.close();
            let _ = self.flush();
        }
        frame
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
        let error = RemoteSession::connect(login(port), &mut Log::quiet()).unwrap_err();
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
