//! The parent's listening sockets, non-blocking so that the poll loop accepts every waiting
//! connection without blocking, and the streams they give a child.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use pgexporter_core::plan::ListenerKind;

/// A listener of the parent.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A TCP port of the plan.
    Tcp(ListenerKind, TcpListener),
    /// The management socket.
    Unix(UnixListener),
}

impl Listener {
    /// The descriptor, for `poll`.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(_, listener) => listener.as_fd(),
            Listener::Unix(listener) => listener.as_fd(),
        }
    }

    /// What its connections become.
    pub(crate) fn kind(&self) -> ListenerKind {
        match self {
            Listener::Tcp(kind, _) => *kind,
            Listener::Unix(_) => ListenerKind::LocalManagement,
        }
    }

    /// Accepts one waiting connection, made blocking for the child, and its client's address
    /// (`None` on the management socket); `None` when none waits.
    ///
    /// # Errors
    /// When accepting fails for another reason than an empty queue.
    pub(crate) fn accept(&self) -> io::Result<Option<(Stream, Option<IpAddr>)>> {
        let accepted = match self {
            Listener::Tcp(_, listener) => listener.accept().and_then(|(stream, client)| {
                // Answers are written whole; waiting to coalesce them only adds latency.
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), Some(client.ip())))
            }),
            Listener::Unix(listener) => listener
                .accept()
                .map(|(stream, _)| (Stream::Unix(stream), None)),
        };
        match accepted {
            Ok((stream, client)) => {
                stream.set_nonblocking(false)?;
                Ok(Some((stream, client)))
            }
            Err(error) if is_transient(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// An accepted connection.
#[derive(Debug)]
pub(crate) enum Stream {
    /// On a TCP port.
    Tcp(TcpStream),
    /// On the management socket.
    Unix(UnixStream),
}

impl Stream {
    /// The descriptor, for `poll`.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(stream) => stream.as_fd(),
            Stream::Unix(stream) => stream.as_fd(),
        }
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.set_nonblocking(nonblocking),
            Stream::Unix(stream) => stream.set_nonblocking(nonblocking),
        }
    }

    /// Stops sending (half close).
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(std::net::Shutdown::Write),
            Stream::Unix(stream) => stream.shutdown(std::net::Shutdown::Write),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buffer),
            Stream::Unix(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(bytes),
            Stream::Unix(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonblocking_listener_accepts_without_blocking() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let listener = Listener::Tcp(ListenerKind::Metrics, listener);
        assert!(listener.accept().unwrap().is_none());
        let _client = TcpStream::connect(address).unwrap();
        let mut accepted = None;
        for _ in 0..100 {
            accepted = listener.accept().unwrap();
            if accepted.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(matches!(
            accepted,
            Some((Stream::Tcp(_), Some(client))) if client.is_loopback()
        ));
        assert_eq!(listener.kind(), ListenerKind::Metrics);
    }
}
