//! The parent's outbound connections: a non-blocking socket carrying the core's
//! [`Relay`] behind TLS. The poll loop asks each what it waits for ([`Link::interest`]) and
//! hands it readiness ([`Link::on_ready`]); what happens comes back as [`LinkEvent`]s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, connect, getsockopt, socket, sockopt,
};
use pgexporter_core::link::{LinkCommand, LinkEvent, Relay};
use pgexporter_core::machine::{Machine, Peer};
use pgexporter_core::plan::{Address, Target};
use pgexporter_tls::{Tls, TlsConfigs};

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;

#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(stream) => stream.as_fd(),
            Socket::Unix(stream) => stream.as_fd(),
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.read(buffer),
            Socket::Unix(stream) => stream.read(buffer),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.write(bytes),
            Socket::Unix(stream) => stream.write(bytes),
        }
    }
}

/// What a link waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interest {
    /// Wants to read.
    pub(crate) readable: bool,
    /// Wants to write (or to learn how a connect ended).
    pub(crate) writable: bool,
}

impl Interest {
    /// The `poll` events that mean it.
    pub(crate) fn poll_flags(self) -> PollFlags {
        let mut flags = PollFlags::empty();
        if self.readable {
            flags |= PollFlags::POLLIN;
        }
        if self.writable {
            flags |= PollFlags::POLLOUT;
        }
        flags
    }
}

/// One outbound connection.
pub(crate) struct Link {
    target: Arc<Target>,
    socket: Option<Socket>,
    /// TCP addresses still to try while connecting; `None` once connected.
    connecting: Option<Vec<SocketAddr>>,
    last_error: String,
    relay: Tls<Relay>,
    /// Wire bytes not yet written.
    outgoing: BytesMut,
}

impl Link {
    /// Starts connecting to `target`. A Unix socket connects at once; TCP finishes later. The
    /// events are what is known already (connected, or failed).
    ///
    /// # Errors
    /// When the target's TLS files cannot be used; the reason names the target.
    pub(crate) fn connect(
        target: Arc<Target>,
        tls: &TlsConfigs,
    ) -> Result<(Link, Vec<LinkEvent>), LinkEvent> {
        let relay = tls
            .connect(Relay::default(), &target)
            .map_err(|error| LinkEvent::ConnectFailed(format!("{}: {error}", target.address)))?;
        let mut link = Link {
            target,
            socket: None,
            connecting: None,
            last_error: "no address".to_owned(),
            relay,
            outgoing: BytesMut::new(),
        };
        let events = match &link.target.address {
            Address::Unix { path } => match UnixStream::connect(path).and_then(|stream| {
                stream.set_nonblocking(true)?;
                Ok(stream)
            }) {
                Ok(stream) => {
                    link.socket = Some(Socket::Unix(stream));
                    vec![LinkEvent::Connected]
                }
                Err(error) => vec![link.failed(&error.to_string())],
            },
            Address::Tcp { host, port } => match (host.as_str(), *port).to_socket_addrs() {
                Ok(addresses) => {
                    link.connecting = Some(addresses.rev().collect());
                    link.try_next_address()
                }
                Err(error) => vec![link.failed(&error.to_string())],
            },
        };
        Ok((link, events))
    }

    fn failed(&self, reason: &str) -> LinkEvent {
        LinkEvent::ConnectFailed(format!("{}: {reason}", self.target.address))
    }

    /// Starts a non-blocking connect to the next address; fails when none is left.
    fn try_next_address(&mut self) -> Vec<LinkEvent> {
        while let Some(address) = self.connecting.as_mut().and_then(Vec::pop) {
            match start_connect(address) {
                Ok((stream, done)) => {
                    self.socket = Some(Socket::Tcp(stream));
                    if done {
                        self.connecting = None;
                        return vec![LinkEvent::Connected];
                    }
                    return Vec::new();
                }
                Err(error) => self.last_error = error.to_string(),
            }
        }
        self.connecting = None;
        self.socket = None;
        let reason = self.last_error.clone();
        vec![self.failed(&reason)]
    }

    /// The socket to poll, while there is one.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket.as_ref().map(Socket::fd)
    }

    /// What to poll for.
    pub(crate) fn interest(&self) -> Interest {
        let connecting = self.connecting.is_some();
        Interest {
            readable: !connecting,
            writable: connecting || !self.outgoing.is_empty(),
        }
    }

    /// Whether the link is over: its relay finished and what it had to send is written, or the
    /// socket is gone.
    pub(crate) fn is_finished(&self) -> bool {
        self.socket.is_none() || (self.relay.is_finished() && self.outgoing.is_empty())
    }

    /// A command of the collector.
    pub(crate) fn command(&mut self, now: Instant, command: LinkCommand) -> Vec<LinkEvent> {
        if self.connecting.is_some() {
            // Only Close comes before the connection is reported open.
            if command == LinkCommand::Close {
                self.socket = None;
            }
            return Vec::new();
        }
        self.relay.handle_message(now, command);
        self.flush(now)
    }

    /// Handles readiness from `poll`.
    pub(crate) fn on_ready(
        &mut self,
        now: Instant,
        readable: bool,
        writable: bool,
    ) -> Vec<LinkEvent> {
        if self.connecting.is_some() {
            if !(readable || writable) {
                return Vec::new();
            }
            return self.finish_connect();
        }
        if readable {
            self.read_available(now);
        }
        if writable || readable {
            return self.flush(now);
        }
        Vec::new()
    }

    fn finish_connect(&mut self) -> Vec<LinkEvent> {
        let outcome = match self.socket.as_ref().map(Socket::fd) {
            Some(fd) => getsockopt(&fd, sockopt::SocketError),
            None => Ok(Errno::ENOTCONN as i32),
        };
        match outcome {
            Ok(0) => {
                self.connecting = None;
                vec![LinkEvent::Connected]
            }
            other => {
                let error = match other {
                    Ok(code) => io::Error::from_raw_os_error(code),
                    Err(errno) => io::Error::from(errno),
                };
                self.socket = None;
                self.last_error = error.to_string();
                self.try_next_address()
            }
        }
    }

    /// Reads what the socket has and feeds it to the relay.
    fn read_available(&mut self, now: Instant) {
        let mut buffer = [0u8; READ_SIZE];
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return;
            };
            match socket.read(&mut buffer) {
                Ok(0) => return self.relay.handle_eof(now),
                Ok(count) => self.relay.handle_input(now, &buffer[..count]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.relay.handle_eof(now),
            }
        }
    }

    /// Writes what the relay has to send, as far as the socket takes it, and returns the
    /// relay's events.
    fn flush(&mut self, now: Instant) -> Vec<LinkEvent> {
        while self.relay.poll_transmit(&mut self.outgoing) {}
        if let Some(socket) = self.socket.as_mut() {
            while !self.outgoing.is_empty() {
                match socket.write(&self.outgoing) {
                    Ok(0) => {
                        self.relay.handle_eof(now);
                        break;
                    }
                    Ok(count) => {
                        bytes::Buf::advance(&mut self.outgoing, count);
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.outgoing.clear();
                        self.relay.handle_eof(now);
                        break;
                    }
                }
            }
        }
        std::iter::from_fn(|| self.relay.poll_event()).collect()
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

    use bytes::Bytes;
    use nix::poll::{PollFd, PollTimeout, poll};
    use pgexporter_core::pg::TlsMode;
    use pgexporter_core::plan::ClientTlsFiles;

    use super::*;

    fn target(host: &str, port: u16) -> Arc<Target> {
        Arc::new(Target {
            address: Address::new(host, port),
            tls: TlsMode::Off,
            tls_files: ClientTlsFiles::default(),
        })
    }

    fn wait(link: &mut Link) -> Vec<LinkEvent> {
        let fd = link.fd().unwrap();
        let mut fds = [PollFd::new(fd, link.interest().poll_flags())];
        poll(&mut fds, PollTimeout::from(5_000u16)).unwrap();
        let revents = fds[0].revents().unwrap();
        let readable =
            revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        let writable = revents.intersects(PollFlags::POLLOUT | PollFlags::POLLERR);
        link.on_ready(Instant::now(), readable, writable)
    }

    #[test]
    fn bytes_cross_a_tcp_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let configs = TlsConfigs::default();
        let (mut link, mut events) = Link::connect(target("127.0.0.1", port), &configs).unwrap();
        while events.is_empty() {
            events = wait(&mut link);
        }
        assert_eq!(events, [LinkEvent::Connected]);
        let (mut server, _) = listener.accept().unwrap();
        let ping = LinkCommand::Send(Bytes::from_static(b"ping"));
        assert!(link.command(Instant::now(), ping).is_empty());
        let mut buffer = [0u8; 4];
        server.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"ping");
        server.write_all(b"pong").unwrap();
        let events = wait(&mut link);
        assert_eq!(events, [LinkEvent::Input(Bytes::from_static(b"pong"))]);
        drop(server);
        assert_eq!(wait(&mut link), [LinkEvent::Eof]);
        assert!(link.is_finished());
    }

    #[test]
    fn a_refused_connect_is_reported_with_the_target() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let configs = TlsConfigs::default();
        let (mut link, mut events) = Link::connect(target("127.0.0.1", port), &configs).unwrap();
        while events.is_empty() {
            events = wait(&mut link);
        }
        assert!(
            matches!(&events[..], [LinkEvent::ConnectFailed(reason)] if reason.contains(&port.to_string()))
        );
        let (_, events) = Link::connect(target("/nonexistent-dir", 5432), &configs).unwrap();
        assert!(matches!(&events[..], [LinkEvent::ConnectFailed(_)]));
    }
}
