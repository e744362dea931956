//! The local management socket `<unix_socket_dir>/.s.pgexporter`: no authentication.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pgexporter_core::management::Frame;
use pgexporter_core::management::client::ClientExchange;
use pgexporter_core::plan::MANAGEMENT_SOCKET;
use pgexporter_tls::Tls;

use super::exchange::{self, Exchange, ExchangeError, NETWORK_TIMEOUT};
use super::log::Log;

/// The socket path for a configuration's `unix_socket_dir`.
pub fn socket_path(unix_socket_dir: &str) -> PathBuf {
    Path::new(unix_socket_dir).join(MANAGEMENT_SOCKET)
}

/// A connection to the local management socket.
#[derive(Debug)]
pub struct LocalSocket {
    stream: UnixStream,
    target: String,
}

impl LocalSocket {
    /// Connects to the socket at `path`; writes time out after [`NETWORK_TIMEOUT`].
    pub fn connect(path: &Path) -> Result<LocalSocket, ExchangeError> {
        let target = path.display().to_string();
        let connect_error = |source| ExchangeError::Connect {
            target: target.clone(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_error)?;
        stream
            .set_write_timeout(Some(NETWORK_TIMEOUT))
            .map_err(connect_error)?;
        Ok(LocalSocket { stream, target })
    }
}

impl Exchange for LocalSocket {
    fn exchange(&mut self, request: &[u8], log: &mut Log) -> Result<Frame, ExchangeError> {
        let exchange = ClientExchange::local(request, Instant::now(), NETWORK_TIMEOUT);
        exchange::run(
            &mut self.stream,
            &mut Tls::plain(exchange),
            &self.target,
            None,
            log,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::TempDir;
    use bytes::BytesMut;
    use pgexporter_core::management::frame;
    use pgexporter_core::management::{Compression, Encryption};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_socket_lives_in_unix_socket_dir() {
        assert_eq!(socket_path("/tmp"), PathBuf::from("/tmp/.s.pgexporter"));
    }

    #[test]
    fn one_frame_each_way() {
        let dir = TempDir::new("local");
        let path = dir.path().join(MANAGEMENT_SOCKET);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 8];
            stream.read_exact(&mut request).unwrap();
            let mut answer = BytesMut::new();
            frame::encode(
                &mut answer,
                b"{}",
                Compression::None,
                Encryption::None,
                None,
            )
            .unwrap();
            // The answer arrives in two pieces.
            stream.write_all(&answer[..3]).unwrap();
            stream.write_all(&answer[3..]).unwrap();
            request
        });
        let mut socket = LocalSocket::connect(&path).unwrap();
        let frame = socket.exchange(b"request!", &mut Log::quiet()).unwrap();
        assert_eq!(&frame.payload[..], b"{}");
        assert_eq!(&server.join().unwrap(), b"request!");
    }

    #[test]
    fn no_daemon_is_a_connect_error() {
        let dir = TempDir::new("local-none");
        let error = LocalSocket::connect(&dir.path().join(MANAGEMENT_SOCKET)).unwrap_err();
        assert!(matches!(error, ExchangeError::Connect { .. }), "{error}");
        assert!(error.to_string().contains(".s.pgexporter"));
    }
}
