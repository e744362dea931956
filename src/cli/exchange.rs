//! One management frame each way over a blocking connection (SPEC §4.1).
//!
//! [`Exchange`] is what the command runner needs from a connection: send the request frame,
//! get the answer frame. The local socket ([`super::local`]) and the remote management port
//! ([`super::remote`]) implement it by driving the core's
//! [`ClientExchange`](pgexporter_core::management::client::ClientExchange), behind the TLS
//! adapter, with [`run`].

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::machine::Machine;
use pgexporter_core::management::client::{ClientExchange, ExchangeEvent, ExchangeFailure};
use pgexporter_core::management::frame::{Frame, FrameError};
use pgexporter_core::management::handshake::ClientHandshakeError;
use pgexporter_tls::{Tls, TlsConfigError, TlsError};

use super::log::Log;

/// How long connecting may take, and how long any read may wait for the server.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of the buffer each read fills.
pub const READ_CHUNK: usize = 16 * 1024;

/// The shortest read timeout while a deadline is pending (zero means "none" to the socket).
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// A connection that carries one request frame and its answer.
pub trait Exchange {
    /// Sends the bytes of one request frame and returns the answer frame, still compressed
    /// and encrypted; steps are traced to `log`. Errors: see [`ExchangeError`].
    fn exchange(&mut self, request: &[u8], log: &mut Log) -> Result<Frame, ExchangeError>;
}

/// A blocking stream with a read timeout.
pub trait Connection: Read + Write {
    /// Bounds the next reads.
    ///
    /// # Errors
    /// What the operating system said.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Connection for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Connection for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

/// Drives `exchange` over `stream` (of `target`, for messages) until its answer arrives; a
/// remote login as `admin` is traced.
pub fn run(
    stream: &mut impl Connection,
    exchange: &mut Tls<ClientExchange>,
    target: &str,
    admin: Option<&str>,
    log: &mut Log,
) -> Result<Frame, ExchangeError> {
    let io_error = |source| ExchangeError::Io {
        target: target.to_owned(),
        source,
    };
    let mut out = BytesMut::new();
    let mut buffer = [0u8; READ_CHUNK];
    let mut tls_traced = false;
    loop {
        out.clear();
        while exchange.poll_transmit(&mut out) {}
        if !out.is_empty() {
            stream.write_all(&out).map_err(io_error)?;
        }
        if exchange.is_tls() && !tls_traced {
            tls_traced = true;
            log.trace("the server accepted TLS");
        }
        while let Some(event) = exchange.poll_event() {
            match event {
                ExchangeEvent::Authenticated => {
                    log.trace(format_args!("authenticated as {}", admin.unwrap_or("?")));
                }
                ExchangeEvent::Answer(frame) => {
                    // One frame each way: say goodbye properly; a failure changes nothing.
                    out.clear();
                    while exchange.poll_transmit(&mut out) {}
                    if stream.write_all(&out).is_err() {
                        log.trace("the goodbye did not reach the server");
                    }
                    return Ok(frame);
                }
                ExchangeEvent::Failed(failure) => {
                    return Err(failed(target, exchange.take_failure(), failure));
                }
            }
        }
        if exchange.is_finished() {
            return Err(ExchangeError::Closed(target.to_owned()));
        }
        let now = Instant::now();
        let timeout = exchange.poll_timeout().map(|deadline| {
            deadline
                .saturating_duration_since(now)
                .max(MIN_READ_TIMEOUT)
        });
        stream.set_read_timeout(timeout).map_err(io_error)?;
        match stream.read(&mut buffer) {
            Ok(0) => exchange.handle_eof(Instant::now()),
            Ok(count) => exchange.handle_input(Instant::now(), &buffer[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => exchange.handle_timeout(Instant::now()),
            Err(source) => return Err(io_error(source)),
        }
    }
}

/// The error of a failed exchange: the TLS failure behind it, when there is one.
fn failed(target: &str, tls: Option<TlsError>, failure: ExchangeFailure) -> ExchangeError {
    let target = target.to_owned();
    if let Some(source) = tls {
        return ExchangeError::Tls { target, source };
    }
    match failure {
        ExchangeFailure::Handshake(source) => ExchangeError::Handshake { target, source },
        ExchangeFailure::Frame(source) => ExchangeError::Frame { target, source },
        ExchangeFailure::TimedOut => ExchangeError::TimedOut(target),
        _ => ExchangeError::Closed(target),
    }
}

/// Whether a read error is an expired read timeout.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Why no answer came. Never contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The connection could not be made.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The socket path or `host:port`.
        target: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("connection to {target}: {source}")]
    Io {
        /// The socket path or `host:port`.
        target: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The server did not answer within [`NETWORK_TIMEOUT`].
    #[error("{0} did not answer within {NETWORK_TIMEOUT:?}")]
    TimedOut(String),
    /// The server closed the connection before a whole answer arrived.
    #[error("{0} closed the connection before answering")]
    Closed(String),
    /// The answer is not a valid frame.
    #[error("{target} sent an invalid frame: {source}")]
    Frame {
        /// The socket path or `host:port`.
        target: String,
        /// What is wrong with it.
        source: FrameError,
    },
    /// The CA file named by the environment could not be used.
    #[error(transparent)]
    TlsConfig(#[from] TlsConfigError),
    /// TLS failed (for example a server certificate that does not chain to the CA).
    #[error("TLS with {target}: {source}")]
    Tls {
        /// `host:port`.
        target: String,
        /// What went wrong.
        source: TlsError,
    },
    /// The host cannot be a TLS server name.
    #[error("{0} is not a valid TLS server name")]
    InvalidServerName(String),
    /// The remote handshake failed: refused (unknown admin, wrong password), no TLS where it
    /// is required, or a protocol error.
    #[error("{target}: {source}")]
    Handshake {
        /// `host:port`.
        target: String,
        /// The handshake's reason.
        source: ClientHandshakeError,
    },
    /// The operating system gave no random bytes for the SCRAM nonce.
    #[error("no random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::management::{Compression, Encryption, frame};

    fn frame_bytes(json: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        frame::encode(&mut out, json, Compression::None, Encryption::None, None).unwrap();
        out
    }

    #[test]
    fn a_frame_each_way_over_a_socket_pair() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let answer = frame_bytes(br#"{"a":1}"#);
        let peer = std::thread::spawn(move || {
            let mut request = [0u8; 7];
            server.read_exact(&mut request).unwrap();
            // The answer arrives in two pieces.
            server.write_all(&answer[..3]).unwrap();
            server.write_all(&answer[3..]).unwrap();
            request
        });
        let mut exchange = Tls::plain(ClientExchange::local(
            b"request",
            Instant::now(),
            NETWORK_TIMEOUT,
        ));
        let frame = run(&mut client, &mut exchange, "sock", None, &mut Log::quiet()).unwrap();
        assert_eq!(&frame.payload[..], br#"{"a":1}"#);
        assert_eq!(&peer.join().unwrap(), b"request");
    }

    #[test]
    fn end_of_stream_before_the_frame_is_closed() {
        let (mut client, server) = UnixStream::pair().unwrap();
        drop(server);
        let mut exchange = Tls::plain(ClientExchange::local(b"", Instant::now(), NETWORK_TIMEOUT));
        let error = run(&mut client, &mut exchange, "sock", None, &mut Log::quiet()).unwrap_err();
        assert!(matches!(error, ExchangeError::Closed(ref target) if target == "sock"));
        assert_eq!(
            error.to_string(),
            "sock closed the connection before answering"
        );
    }

    #[test]
    fn an_oversized_declaration_fails_at_once() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        server.write_all(&[0u8, 0, 0xff, 0xff, 0xff, 0xff]).unwrap();
        let mut exchange = Tls::plain(ClientExchange::local(b"", Instant::now(), NETWORK_TIMEOUT));
        let error = run(&mut client, &mut exchange, "sock", None, &mut Log::quiet()).unwrap_err();
        assert!(matches!(
            error,
            ExchangeError::Frame {
                source: FrameError::TooLong { .. },
                ..
            }
        ));
    }

    #[test]
    fn silence_times_out() {
        let (mut client, _server) = UnixStream::pair().unwrap();
        let short = Duration::from_millis(50);
        let mut exchange = Tls::plain(ClientExchange::local(b"", Instant::now(), short));
        let error = run(&mut client, &mut exchange, "sock", None, &mut Log::quiet()).unwrap_err();
        assert!(matches!(error, ExchangeError::TimedOut(_)), "{error}");
    }
}
