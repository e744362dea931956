//! The parent's listening sockets: bound with the configured backlog, non-blocking, so that
//! the poll loop accepts every waiting connection without blocking.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind as bind_socket, listen,
    setsockopt, socket, sockopt,
};
use pgexporter_net::serve::bind_candidates;

/// Binds every address; see [`pgexporter_net::serve::bind_candidates`] for the wildcard.
///
/// # Errors
/// When an address cannot be bound; the error names it.
pub(crate) fn bind(addresses: &[SocketAddr], backlog: u32) -> io::Result<Vec<TcpListener>> {
    addresses
        .iter()
        .map(|address| {
            let mut last_error = io::Error::other("no address to bind");
            for candidate in bind_candidates(*address) {
                match listen_on(candidate, backlog) {
                    Ok(listener) => return Ok(listener),
                    Err(error) => last_error = error,
                }
            }
            Err(io::Error::new(
                last_error.kind(),
                format!("{address}: {last_error}"),
            ))
        })
        .collect()
}

fn listen_on(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let family = if address.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd: OwnedFd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind_socket(fd.as_raw_fd(), &SockaddrStorage::from(address))?;
    let backlog =
        Backlog::new(i32::try_from(backlog).unwrap_or(i32::MAX)).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog)?;
    Ok(TcpListener::from(fd))
}

/// Accepts one waiting TCP connection, made blocking for the child; `None` when none waits.
///
/// # Errors
/// When accepting fails for another reason than an empty queue.
pub(crate) fn accept_tcp(listener: &TcpListener) -> io::Result<Option<TcpStream>> {
    match listener.accept() {
        Ok((stream, _)) => {
            stream.set_nonblocking(false)?;
            // Answers are written whole; waiting to coalesce them only adds latency.
            let _ = stream.set_nodelay(true);
            Ok(Some(stream))
        }
        Err(error) if is_transient(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Accepts one waiting connection on the management socket; `None` when none waits.
///
/// # Errors
/// When accepting fails for another reason than an empty queue.
pub(crate) fn accept_unix(listener: &UnixListener) -> io::Result<Option<UnixStream>> {
    match listener.accept() {
        Ok((stream, _)) => {
            stream.set_nonblocking(false)?;
            Ok(Some(stream))
        }
        Err(error) if is_transient(&error) => Ok(None),
        Err(error) => Err(error),
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
    fn a_bound_listener_accepts_without_blocking() {
        let listeners = bind(&["127.0.0.1:0".parse().unwrap()], 16).unwrap();
        let listener = &listeners[0];
        assert!(accept_tcp(listener).unwrap().is_none());
        let address = listener.local_addr().unwrap();
        let _client = TcpStream::connect(address).unwrap();
        let mut accepted = None;
        for _ in 0..100 {
            accepted = accept_tcp(listener).unwrap();
            if accepted.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(accepted.is_some());
    }

    #[test]
    fn a_taken_port_is_named_in_the_error() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap();
        let error = bind(&[taken], 16).unwrap_err();
        assert!(error.to_string().contains(&taken.to_string()), "{error}");
    }
}
