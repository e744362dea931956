//! The local management socket `<unix_socket_dir>/.s.pgexporter`: no authentication.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use pgexporter_core::management::Frame;

use super::exchange::{Exchange, ExchangeError, NETWORK_TIMEOUT, read_chunk, receive_frame};

/// The socket file name inside `unix_socket_dir`.
pub const SOCKET_NAME: &str = ".s.pgexporter";

/// The socket path for a configuration's `unix_socket_dir`.
pub fn socket_path(unix_socket_dir: &str) -> PathBuf {
    Path::new(unix_socket_dir).join(SOCKET_NAME)
}

/// A connection to the local management socket.
#[derive(Debug)]
pub struct LocalSocket {
    stream: UnixStream,
    target: String,
}

impl LocalSocket {
    /// Connects to the socket at `path`; reads and writes time out after [`NETWORK_TIMEOUT`].
    pub fn connect(path: &Path) -> Result<LocalSocket, ExchangeError> {
        let target = path.display().to_string();
        let connect_error = |source| ExchangeError::Connect {
            target: target.clone(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_error)?;
        stream
            .set_read_timeout(Some(NETWORK_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(NETWORK_TIMEOUT)))
            .map_err(connect_error)?;
        Ok(LocalSocket { stream, target })
    }
}

impl Exchange for LocalSocket {
    fn exchange(&mut self, request: &[u8]) -> Result<Frame, ExchangeError> {
        self.stream
            .write_all(request)
            .map_err(|source| ExchangeError::Io {
                target: self.target.clone(),
                source,
            })?;
        let mut buffer = BytesMut::new();
        let (stream, target) = (&mut self.stream, &self.target);
        receive_frame(target, &mut buffer, |buffer| {
            Ok(read_chunk(target, stream, buffer)? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::TempDir;
    use pgexporter_core::management::frame;
    use pgexporter_core::management::{Compression, Encryption};
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_socket_lives_in_unix_socket_dir() {
        assert_eq!(socket_path("/tmp"), PathBuf::from("/tmp/.s.pgexporter"));
    }

    #[test]
    fn one_frame_each_way() {
        let dir = TempDir::new("local");
        let path = dir.path().join(SOCKET_NAME);
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
        let frame = socket.exchange(b"request!").unwrap();
        assert_eq!(&frame.payload[..], b"{}");
        assert_eq!(&server.join().unwrap(), b"request!");
    }

    #[test]
    fn no_daemon_is_a_connect_error() {
        let dir = TempDir::new("local-none");
        let error = LocalSocket::connect(&dir.path().join(SOCKET_NAME)).unwrap_err();
        assert!(matches!(error, ExchangeError::Connect { .. }), "{error}");
        assert!(error.to_string().contains(".s.pgexporter"));
    }
}
