//! One PostgreSQL connection of the parent: a non-blocking socket, its TLS, and the bytes
//! between it and the collector. The parent's poll loop asks each socket what it waits for
//! ([`PgSocket::interest`]) and hands it readiness ([`PgSocket::on_ready`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use bytes::{Bytes, BytesMut};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, connect, getsockopt, socket, sockopt,
};
use pgexporter_net::serve::PgEndpoint;
use pgexporter_net::transport::Transport;

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;

/// What a socket reports to the collector.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    /// The socket is connected.
    Connected,
    /// No address of the target could be connected; the reason names the target.
    ConnectFailed(String),
    /// The TLS handshake completed.
    TlsEstablished,
    /// Plaintext received.
    Input(Bytes),
    /// Closed by the peer, or failed.
    Eof,
}

/// What a socket waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interest {
    /// Wants to read.
    pub(crate) readable: bool,
    /// Wants to write (or to learn how a connect ended).
    pub(crate) writable: bool,
}

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(stream) => stream.as_fd(),
            Stream::Unix(stream) => stream.as_fd(),
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buffer),
            Stream::Unix(stream) => stream.read(buffer),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(bytes),
            Stream::Unix(stream) => stream.write(bytes),
        }
    }
}

/// A TCP connect in progress, with the addresses still to try.
#[derive(Debug)]
struct Connecting {
    remaining: Vec<SocketAddr>,
    last_error: String,
}

/// One socket to a PostgreSQL server.
#[derive(Debug)]
pub(crate) struct PgSocket {
    endpoint: PgEndpoint,
    stream: Option<Stream>,
    connecting: Option<Connecting>,
    transport: Transport,
    /// Wire bytes not yet written.
    outgoing: BytesMut,
    plaintext: BytesMut,
}

impl PgSocket {
    /// Starts connecting to `endpoint`. A Unix socket connects at once; TCP finishes later.
    /// The events are what is known already (connected, or failed).
    pub(crate) fn connect(endpoint: PgEndpoint) -> (PgSocket, Vec<SocketEvent>) {
        let mut socket = PgSocket {
            endpoint,
            stream: None,
            connecting: None,
            transport: Transport::default(),
            outgoing: BytesMut::new(),
            plaintext: BytesMut::new(),
        };
        let events = match socket.endpoint.target.socket_path() {
            Some(path) => match UnixStream::connect(&path).and_then(|stream| {
                stream.set_nonblocking(true)?;
                Ok(stream)
            }) {
                Ok(stream) => {
                    socket.stream = Some(Stream::Unix(stream));
                    vec![SocketEvent::Connected]
                }
                Err(error) => vec![socket.failed(&error.to_string())],
            },
            None => socket.start_tcp(),
        };
        (socket, events)
    }

    fn failed(&self, reason: &str) -> SocketEvent {
        SocketEvent::ConnectFailed(format!("{}: {reason}", self.endpoint.target))
    }

    fn start_tcp(&mut self) -> Vec<SocketEvent> {
        let resolved = match &self.endpoint.target {
            pgexporter_net::pg::PgTarget::Tcp { host, port } => (host.as_str(), *port)
                .to_socket_addrs()
                .map(|addresses| addresses.rev().collect::<Vec<_>>()),
            pgexporter_net::pg::PgTarget::Unix { .. } => Ok(Vec::new()),
        };
        match resolved {
            Ok(remaining) => {
                self.connecting = Some(Connecting {
                    remaining,
                    last_error: "no address".to_owned(),
                });
                self.try_next_address()
            }
            Err(error) => vec![self.failed(&error.to_string())],
        }
    }

    /// Starts a non-blocking connect to the next address; fails when none is left.
    fn try_next_address(&mut self) -> Vec<SocketEvent> {
        loop {
            let Some(connecting) = self.connecting.as_mut() else {
                return Vec::new();
            };
            let Some(address) = connecting.remaining.pop() else {
                let reason = connecting.last_error.clone();
                self.connecting = None;
                return vec![self.failed(&reason)];
            };
            match start_connect(address) {
                Ok((stream, done)) => {
                    self.stream = Some(Stream::Tcp(stream));
                    if done {
                        self.connecting = None;
                        return vec![SocketEvent::Connected];
                    }
                    return Vec::new();
                }
                Err(error) => connecting.last_error = error.to_string(),
            }
        }
    }

    /// The socket to poll, while there is one.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.stream.as_ref().map(Stream::fd)
    }

    /// What to poll for.
    pub(crate) fn interest(&self) -> Interest {
        Interest {
            readable: self.connecting.is_none(),
            writable: self.connecting.is_some() || !self.outgoing.is_empty(),
        }
    }

    /// Queues plaintext to send.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Vec<SocketEvent> {
        if self.transport.send(bytes).is_err() {
            return vec![SocketEvent::Eof];
        }
        self.flush()
    }

    /// Starts the TLS handshake.
    pub(crate) fn start_tls(&mut self) -> Vec<SocketEvent> {
        let started = self
            .transport
            .start_tls(self.endpoint.tls.clone(), self.endpoint.server_name.clone());
        if started.is_err() {
            return vec![SocketEvent::Eof];
        }
        self.flush()
    }

    /// Handles readiness from `poll`.
    pub(crate) fn on_ready(&mut self, readable: bool, writable: bool) -> Vec<SocketEvent> {
        if self.connecting.is_some() {
            if !(readable || writable) {
                return Vec::new();
            }
            return self.finish_connect();
        }
        let mut events = Vec::new();
        if readable {
            events.extend(self.read_available());
        }
        if writable && !matches!(events.last(), Some(SocketEvent::Eof)) {
            events.extend(self.flush());
        }
        events
    }

    fn finish_connect(&mut self) -> Vec<SocketEvent> {
        let outcome = match self.stream.as_ref().map(Stream::fd) {
            Some(fd) => getsockopt(&fd, sockopt::SocketError),
            None => Ok(Errno::ENOTCONN as i32),
        };
        match outcome {
            Ok(0) => {
                self.connecting = None;
                vec![SocketEvent::Connected]
            }
            other => {
                let error = match other {
                    Ok(code) => io::Error::from_raw_os_error(code),
                    Err(errno) => io::Error::from(errno),
                };
                self.stream = None;
                if let Some(connecting) = self.connecting.as_mut() {
                    connecting.last_error = error.to_string();
                }
                self.try_next_address()
            }
        }
    }

    fn read_available(&mut self) -> Vec<SocketEvent> {
        let mut events = Vec::new();
        let mut buffer = [0u8; READ_SIZE];
        loop {
            let Some(stream) = self.stream.as_mut() else {
                events.push(SocketEvent::Eof);
                return events;
            };
            match stream.read(&mut buffer) {
                Ok(0) => {
                    events.push(SocketEvent::Eof);
                    return events;
                }
                Ok(count) => match self
                    .transport
                    .receive(&buffer[..count], &mut self.plaintext)
                {
                    Ok(handshake_done) => {
                        if handshake_done {
                            events.push(SocketEvent::TlsEstablished);
                        }
                        if !self.plaintext.is_empty() {
                            events.push(SocketEvent::Input(self.plaintext.split().freeze()));
                        }
                    }
                    Err(_) => {
                        events.push(SocketEvent::Eof);
                        return events;
                    }
                },
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    events.push(SocketEvent::Eof);
                    return events;
                }
            }
        }
        // TLS may have answers to send (handshake messages).
        events.extend(self.flush());
        events
    }

    /// Writes what the transport has to send, as far as the socket takes it.
    fn flush(&mut self) -> Vec<SocketEvent> {
        while self.transport.poll_transmit(&mut self.outgoing) {}
        let Some(stream) = self.stream.as_mut() else {
            return Vec::new();
        };
        if self.connecting.is_some() {
            return Vec::new();
        }
        while !self.outgoing.is_empty() {
            match stream.write(&self.outgoing) {
                Ok(0) => return vec![SocketEvent::Eof],
                Ok(count) => {
                    let _ = self.outgoing.split_to(count);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return vec![SocketEvent::Eof],
            }
        }
        Vec::new()
    }

    /// Writes what can be written at once (Terminate, a TLS close) and closes.
    pub(crate) fn close(mut self) {
        let _ = self.flush();
    }
}

/// Starts a non-blocking TCP connect: the stream, and whether it is connected already.
fn start_connect(address: SocketAddr) -> io::Result<(TcpStream, bool)> {
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
    let done = match connect(fd.as_raw_fd(), &SockaddrStorage::from(address)) {
        Ok(()) => true,
        Err(Errno::EINPROGRESS) => false,
        Err(errno) => return Err(io::Error::from(errno)),
    };
    let stream = TcpStream::from(fd);
    stream.set_nodelay(true)?;
    Ok((stream, done))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use pgexporter_net::pg::PgTarget;
    use rustls::pki_types::ServerName;

    use super::*;

    fn endpoint(target: PgTarget) -> PgEndpoint {
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        PgEndpoint {
            target,
            tls: Arc::new(config),
            server_name: ServerName::try_from("localhost").unwrap(),
        }
    }

    fn wait(socket: &mut PgSocket) -> Vec<SocketEvent> {
        let interest = socket.interest();
        let mut flags = PollFlags::empty();
        if interest.readable {
            flags |= PollFlags::POLLIN;
        }
        if interest.writable {
            flags |= PollFlags::POLLOUT;
        }
        let fd = socket.fd().unwrap();
        let mut fds = [PollFd::new(fd, flags)];
        poll(&mut fds, PollTimeout::from(5_000u16)).unwrap();
        let revents = fds[0].revents().unwrap();
        let readable =
            revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        let writable = revents.intersects(PollFlags::POLLOUT | PollFlags::POLLERR);
        socket.on_ready(readable, writable)
    }

    #[test]
    fn bytes_cross_a_tcp_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mut socket, mut events) =
            PgSocket::connect(endpoint(PgTarget::new("127.0.0.1", port)));
        while events.is_empty() {
            events = wait(&mut socket);
        }
        assert!(matches!(events[..], [SocketEvent::Connected]));
        let (mut server, _) = listener.accept().unwrap();
        assert!(socket.send(b"ping").is_empty());
        let mut buffer = [0u8; 4];
        server.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"ping");
        server.write_all(b"pong").unwrap();
        let events = wait(&mut socket);
        assert!(matches!(&events[..], [SocketEvent::Input(bytes)] if &bytes[..] == b"pong"));
        drop(server);
        let events = wait(&mut socket);
        assert!(matches!(events[..], [SocketEvent::Eof]));
    }

    #[test]
    fn a_refused_connect_is_reported_with_the_target() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (mut socket, mut events) =
            PgSocket::connect(endpoint(PgTarget::new("127.0.0.1", port)));
        while events.is_empty() {
            events = wait(&mut socket);
        }
        assert!(
            matches!(&events[..], [SocketEvent::ConnectFailed(reason)] if reason.contains(&port.to_string()))
        );
        let (_, events) = PgSocket::connect(endpoint(PgTarget::new("/nonexistent-dir", 5432)));
        assert!(matches!(&events[..], [SocketEvent::ConnectFailed(_)]));
    }
}
