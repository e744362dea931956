//! The tokio runtime of pgexporter: tokio's sockets, timers, blocking pool and signals under
//! the drivers of `pgexporter-drive`. Everything runs on one thread (a current-thread runtime
//! and a local task set); blocking host work runs on tokio's blocking pool.
//!
//! `runtime-smol` is the same file over smol's primitives.

#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use pgexporter_core::daemon::{DaemonSetup, Host, Signal};
use pgexporter_core::plan::{Address, Listeners};
use pgexporter_drive::{Accept, Connected, Executor, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};

/// Serves until a signal or a `shutdown` command stops the daemon; see
/// [`pgexporter_drive::serve`].
///
/// # Errors
/// When a listener cannot be bound or the runtime cannot start.
pub fn run(listeners: Listeners, setup: DaemonSetup, host: Arc<dyn Host>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tasks = tokio::task::LocalSet::new();
    tasks.block_on(
        &runtime,
        pgexporter_drive::serve(Tokio, listeners, setup, host),
    )
}

/// The tokio executor: tasks on the thread's local set.
#[derive(Debug, Clone, Copy)]
struct Tokio;

/// A tokio TCP stream.
struct Tcp(tokio::net::TcpStream);

/// A tokio Unix stream.
struct Unix(tokio::net::UnixStream);

/// Implements [`Stream`] for a wrapper of a tokio stream.
macro_rules! stream {
    ($wrapper:ident) => {
        impl Stream for $wrapper {
            async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                self.0.read(buffer).await
            }

            async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
                self.0.write_all(bytes).await
            }

            async fn shutdown(&mut self) -> io::Result<()> {
                self.0.shutdown().await
            }
        }
    };
}

stream!(Tcp);
stream!(Unix);

/// A tokio TCP listener.
struct TcpListener(tokio::net::TcpListener);

/// A tokio Unix listener.
struct UnixListener(tokio::net::UnixListener);

impl Accept for TcpListener {
    type Stream = Tcp;

    async fn accept(&self) -> io::Result<(Tcp, Option<IpAddr>)> {
        let (stream, client) = self.0.accept().await?;
        // Answers are written whole; waiting to coalesce them only adds latency.
        stream.set_nodelay(true)?;
        Ok((Tcp(stream), Some(client.ip())))
    }
}

impl Accept for UnixListener {
    type Stream = Unix;

    async fn accept(&self) -> io::Result<(Unix, Option<IpAddr>)> {
        self.0
            .accept()
            .await
            .map(|(stream, _)| (Unix(stream), None))
    }
}

/// The handlers of the signals the daemon answers.
struct Signals([(tokio::signal::unix::Signal, Signal); 5]);

impl Executor for Tokio {
    type Tcp = Tcp;
    type Unix = Unix;
    type TcpListener = TcpListener;
    type UnixListener = UnixListener;
    type Signals = Signals;

    fn tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener).map(TcpListener)
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(listener).map(UnixListener)
    }

    async fn connect(&self, address: &Address) -> io::Result<Connected<Tcp, Unix>> {
        Ok(match address {
            Address::Tcp { host, port } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Connected::Tcp(Tcp(stream))
            }
            Address::Unix { path } => {
                Connected::Unix(Unix(tokio::net::UnixStream::connect(path).await?))
            }
        })
    }

    fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        tokio::task::spawn_local(future);
    }

    async fn sleep_until(&self, at: Instant) {
        tokio::time::sleep_until(at.into()).await;
    }

    async fn unblock<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    fn signals(&self) -> io::Result<Signals> {
        Ok(Signals([
            (signal(SignalKind::terminate())?, Signal::Stop),
            (signal(SignalKind::interrupt())?, Signal::Stop),
            (signal(SignalKind::alarm())?, Signal::Stop),
            (signal(SignalKind::hangup())?, Signal::Reload),
            (signal(SignalKind::user_defined1())?, Signal::ReopenLogs),
        ]))
    }

    async fn next_signal(&self, signals: &mut Signals) -> Signal {
        std::future::poll_fn(|context| {
            for (handler, request) in &mut signals.0 {
                if handler.poll_recv(context).is_ready() {
                    return std::task::Poll::Ready(*request);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}
