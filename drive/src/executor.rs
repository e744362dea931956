//! What an executor gives the drivers: the primitives that differ between tokio and smol.

use std::future::Future;
use std::io;
use std::net::{IpAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::time::Instant;

use pgexporter_core::daemon::Signal;
use pgexporter_core::plan::Address;

/// A byte stream of the executor.
pub trait Stream: 'static {
    /// Reads some bytes into `buffer`; `Ok(0)` at the end of the stream.
    fn read(&mut self, buffer: &mut [u8]) -> impl Future<Output = io::Result<usize>>;
    /// Writes all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>>;
    /// Stops sending (half close).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;
}

/// A listener of the executor.
pub trait Accept: 'static {
    /// What it accepts.
    type Stream: Stream;
    /// The next connection, and its client's address (`None` on a Unix socket).
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Option<IpAddr>)>>;
}

/// An outbound connection: TCP or a Unix socket.
pub enum Connected<T, U> {
    /// Over TCP.
    Tcp(T),
    /// Over a Unix socket.
    Unix(U),
}

impl<T: Stream, U: Stream> Stream for Connected<T, U> {
    async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Connected::Tcp(stream) => stream.read(buffer).await,
            Connected::Unix(stream) => stream.read(buffer).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Connected::Tcp(stream) => stream.write_all(bytes).await,
            Connected::Unix(stream) => stream.write_all(bytes).await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Connected::Tcp(stream) => stream.shutdown().await,
            Connected::Unix(stream) => stream.shutdown().await,
        }
    }
}

/// A single-threaded async executor: the primitives the drivers are written against.
pub trait Executor: Clone + 'static {
    /// A TCP stream.
    type Tcp: Stream;
    /// A Unix stream.
    type Unix: Stream;
    /// A TCP listener.
    type TcpListener: Accept<Stream = Self::Tcp>;
    /// A Unix listener.
    type UnixListener: Accept<Stream = Self::Unix>;
    /// The signals the daemon answers, installed.
    type Signals: 'static;

    /// Takes over a bound listener (made non-blocking here).
    ///
    /// # Errors
    /// When the executor cannot register it.
    fn tcp_listener(&self, listener: TcpListener) -> io::Result<Self::TcpListener>;

    /// Takes over a bound Unix listener (made non-blocking here).
    ///
    /// # Errors
    /// When the executor cannot register it.
    fn unix_listener(&self, listener: UnixListener) -> io::Result<Self::UnixListener>;

    /// Connects to `address` (resolving a host name; the first address that answers wins).
    fn connect(
        &self,
        address: &Address,
    ) -> impl Future<Output = io::Result<Connected<Self::Tcp, Self::Unix>>>;

    /// Runs `future` on this thread, detached.
    fn spawn(&self, future: impl Future<Output = ()> + 'static);

    /// Completes at `at`.
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()>;

    /// Runs `work` on a thread meant for blocking work and completes with its result.
    fn unblock<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T>;

    /// Installs the handlers of SIGTERM, SIGINT, SIGALRM, SIGHUP and SIGUSR1; from then on
    /// these signals no longer kill the process (SIGABRT keeps its default).
    ///
    /// # Errors
    /// When a handler cannot be installed.
    fn signals(&self) -> io::Result<Self::Signals>;

    /// The next signal's request.
    fn next_signal(&self, signals: &mut Self::Signals) -> impl Future<Output = Signal>;
}
