//! The blocking socket under a PostgreSQL connection: TCP or a Unix socket.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where a PostgreSQL server listens (SPEC §2.3 `host` and `port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTarget {
    /// A host name or IP address and a TCP port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix socket `<socket_dir>/.s.PGSQL.<port>`.
    Unix {
        /// The directory that holds the socket.
        socket_dir: PathBuf,
        /// The port number in the socket's name.
        port: u16,
    },
}

impl PgTarget {
    /// The target of a configuration's `host` and `port`: a host starting with `/` is a Unix
    /// socket directory, anything else a TCP host.
    pub fn new(host: &str, port: u16) -> PgTarget {
        if host.starts_with('/') {
            PgTarget::Unix {
                socket_dir: PathBuf::from(host),
                port,
            }
        } else {
            PgTarget::Tcp {
                host: host.to_owned(),
                port,
            }
        }
    }

    /// The path of the Unix socket; `None` for TCP.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match self {
            PgTarget::Tcp { .. } => None,
            PgTarget::Unix { socket_dir, port } => {
                Some(socket_dir.join(format!(".s.PGSQL.{port}")))
            }
        }
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgTarget::Tcp { host, port } => write!(f, "{host}:{port}"),
            PgTarget::Unix { .. } => {
                let path = self.socket_path().unwrap_or_default();
                write!(f, "{}", path.display())
            }
        }
    }
}

/// A connected stream socket.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// Connects to `target`, giving each TCP address at most `timeout`.
    pub(crate) fn connect(target: &PgTarget, timeout: Duration) -> io::Result<Socket> {
        match target {
            PgTarget::Unix { .. } => {
                let path = target.socket_path().unwrap_or_default();
                UnixStream::connect(path).map(Socket::Unix)
            }
            PgTarget::Tcp { host, port } => {
                let mut last_error = None;
                for address in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&address, timeout) {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            return Ok(Socket::Tcp(stream));
                        }
                        Err(e) => last_error = Some(e),
                    }
                }
                Err(last_error.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
                }))
            }
        }
    }

    /// How long a read may block; `None` blocks until data or end-of-file.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.set_read_timeout(timeout),
            Socket::Unix(stream) => stream.set_read_timeout(timeout),
        }
    }

    /// Closes both directions; errors (the peer already gone) do not matter at that point.
    pub(crate) fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(stream) => stream.shutdown(Shutdown::Both),
            Socket::Unix(stream) => stream.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.read(buf),
            Socket::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.write(buf),
            Socket::Unix(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.flush(),
            Socket::Unix(stream) => stream.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_starting_with_a_slash_is_a_socket_directory() {
        let target = PgTarget::new("/run/postgresql", 5433);
        assert_eq!(
            target.socket_path(),
            Some(PathBuf::from("/run/postgresql/.s.PGSQL.5433"))
        );
        assert_eq!(target.to_string(), "/run/postgresql/.s.PGSQL.5433");
    }

    #[test]
    fn any_other_host_is_tcp() {
        let target = PgTarget::new("db.example.org", 5432);
        assert_eq!(
            target,
            PgTarget::Tcp {
                host: "db.example.org".into(),
                port: 5432
            }
        );
        assert_eq!(target.socket_path(), None);
        assert_eq!(target.to_string(), "db.example.org:5432");
    }

    #[test]
    fn connecting_to_a_missing_socket_fails() {
        let target = PgTarget::new("/nonexistent-directory", 5432);
        let error = Socket::connect(&target, Duration::from_secs(1)).expect_err("no such socket");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn unix_socket_carries_bytes_both_ways() {
        let (a, b) = UnixStream::pair().expect("socket pair");
        let (mut a, mut b) = (Socket::Unix(a), Socket::Unix(b));
        a.write_all(b"ping").expect("write");
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"ping");
        b.set_read_timeout(Some(Duration::from_millis(1)))
            .expect("set timeout");
        let error = b.read(&mut buf).expect_err("nothing more to read");
        assert!(matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}
