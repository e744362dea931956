//! One management frame each way over a blocking connection (SPEC §4.1).
//!
//! [`Exchange`] is what the command runner needs from a connection: send the request frame,
//! get the answer frame. The local socket ([`super::local`]) and the remote management port
//! ([`super::remote`]) implement it; [`receive_frame`] is the reading loop both share.

use std::io::{self, Read};
use std::time::Duration;

use bytes::BytesMut;
use pgexporter_core::management::frame::{self, Frame, FrameError};
use pgexporter_core::management::handshake::ClientHandshakeError;
use pgexporter_tls::{TlsConfigError, TlsError};

/// How long connecting may take, and how long any read may wait for the server.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of the buffer each read fills.
pub const READ_CHUNK: usize = 16 * 1024;

/// A connection that carries one request frame and its answer.
pub trait Exchange {
    /// Sends the bytes of one request frame and returns the answer frame, still compressed
    /// and encrypted. Errors: see [`ExchangeError`].
    fn exchange(&mut self, request: &[u8]) -> Result<Frame, ExchangeError>;
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

/// Reads until one whole frame is at the front of `buffer` and returns it.
///
/// `read_more` appends what the connection delivers next to the buffer and returns `false` at
/// the end of the stream. A frame that declares a payload over the limit fails as soon as
/// its header is in, before anything is reserved for it.
pub fn receive_frame(
    target: &str,
    buffer: &mut BytesMut,
    mut read_more: impl FnMut(&mut BytesMut) -> Result<bool, ExchangeError>,
) -> Result<Frame, ExchangeError> {
    loop {
        let decoded = frame::decode(buffer).map_err(|source| ExchangeError::Frame {
            target: target.to_owned(),
            source,
        })?;
        if let Some(frame) = decoded {
            return Ok(frame);
        }
        if !read_more(buffer)? {
            return Err(ExchangeError::Closed(target.to_owned()));
        }
    }
}

/// One blocking read of at most [`READ_CHUNK`] bytes from `stream` into `buffer`; `Ok(0)`
/// at the end of the stream. The stream's read timeout becomes [`ExchangeError::TimedOut`].
pub fn read_chunk(
    target: &str,
    stream: &mut impl Read,
    buffer: &mut BytesMut,
) -> Result<usize, ExchangeError> {
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => {
                return Err(ExchangeError::TimedOut(target.to_owned()));
            }
            Err(source) => {
                return Err(ExchangeError::Io {
                    target: target.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Whether a read error is an expired read timeout.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::management::{Compression, Encryption};

    fn frame_bytes(json: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        frame::encode(&mut out, json, Compression::None, Encryption::None, None).unwrap();
        out
    }

    #[test]
    fn a_frame_arriving_one_byte_at_a_time() {
        let bytes = frame_bytes(br#"{"a":1}"#);
        let mut position = 0;
        let mut buffer = BytesMut::new();
        let frame = receive_frame("test", &mut buffer, |buffer| {
            let Some(&byte) = bytes.get(position) else {
                return Ok(false);
            };
            position += 1;
            buffer.extend_from_slice(&[byte]);
            Ok(true)
        })
        .unwrap();
        assert_eq!(&frame.payload[..], br#"{"a":1}"#);
        assert_eq!(position, bytes.len());
    }

    #[test]
    fn end_of_stream_before_the_frame_is_closed() {
        let bytes = frame_bytes(br#"{"a":1}"#);
        let mut buffer = BytesMut::from(&bytes[..bytes.len() - 1]);
        let error = receive_frame("sock", &mut buffer, |_| Ok(false)).unwrap_err();
        assert!(matches!(error, ExchangeError::Closed(ref target) if target == "sock"));
        assert_eq!(
            error.to_string(),
            "sock closed the connection before answering"
        );
    }

    #[test]
    fn an_oversized_declaration_fails_before_reading_on() {
        let mut buffer = BytesMut::from(&[0u8, 0, 0xff, 0xff, 0xff, 0xff][..]);
        let error = receive_frame("sock", &mut buffer, |_| panic!("no read needed")).unwrap_err();
        assert!(matches!(
            error,
            ExchangeError::Frame {
                source: FrameError::TooLong { .. },
                ..
            }
        ));
    }

    #[test]
    fn read_chunk_maps_timeouts() {
        struct Slow;
        impl Read for Slow {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
        }
        let mut buffer = BytesMut::new();
        let error = read_chunk("sock", &mut Slow, &mut buffer).unwrap_err();
        assert!(matches!(error, ExchangeError::TimedOut(_)));
        let mut data: &[u8] = b"abc";
        assert_eq!(read_chunk("sock", &mut data, &mut buffer).unwrap(), 3);
        assert_eq!(&buffer[..], b"abc");
        assert_eq!(read_chunk("sock", &mut data, &mut buffer).unwrap(), 0);
    }
}
