//! The smol runtime of pgexporter: smol's sockets, timers, blocking pool and async-signal under
//! the drivers of `pgexporter-drive`. Every task runs on one thread, on one [`LocalExecutor`]
//! (async-io adds a helper thread that polls the sockets while that thread is busy); blocking
//! host work runs on smol's blocking pool.
//!
//! `runtime-tokio` is the same file over tokio's primitives.

#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use async_signal::Signal as Raw;
use pgexporter_core::daemon::{DaemonSetup, Host, Signal};
use pgexporter_core::plan::{Address, Listeners};
use pgexporter_drive::{Accept, Connected, Executor, Stream};
use smol::LocalExecutor;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::stream::StreamExt;

/// Serves until a signal or a `shutdown` command stops the daemon; see
/// [`pgexporter_drive::serve`].
///
/// # Errors
/// When a listener cannot be bound or the runtime cannot start.
pub fn run(listeners: Listeners, setup: DaemonSetup, host: Arc<dyn Host>) -> io::Result<()> {
    let executor = Smol(Rc::new(LocalExecutor::new()));
    let tasks = Rc::clone(&executor.0);
    smol::block_on(tasks.run(pgexporter_drive::serve(executor, listeners, setup, host)))
}

/// The smol executor: tasks on this thread's local executor.
#[derive(Clone)]
struct Smol(Rc<LocalExecutor<'static>>);

/// A smol TCP stream.
struct Tcp(smol::net::TcpStream);

/// A smol Unix stream.
struct Unix(smol::net::unix::UnixStream);

/// Implements [`Stream`] for a wrapper of a smol stream.
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
                self.0.shutdown(std::net::Shutdown::Write)
            }
        }
    };
}

stream!(Tcp);
stream!(Unix);

/// A smol TCP listener.
struct TcpListener(smol::net::TcpListener);

/// A smol Unix listener.
struct UnixListener(smol::net::unix::UnixListener);

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

impl Executor for Smol {
    type Tcp = Tcp;
    type Unix = Unix;
    type TcpListener = TcpListener;
    type UnixListener = UnixListener;
    type Signals = async_signal::Signals;

    fn tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        smol::net::TcpListener::try_from(listener).map(TcpListener)
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<UnixListener> {
        smol::net::unix::UnixListener::try_from(listener).map(UnixListener)
    }

    async fn connect(&self, address: &Address) -> io::Result<Connected<Tcp, Unix>> {
        Ok(match address {
            Address::Tcp { host, port } => {
                let stream = smol::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Connected::Tcp(Tcp(stream))
            }
            Address::Unix { path } => {
                Connected::Unix(Unix(smol::net::unix::UnixStream::connect(path).await?))
            }
        })
    }

    fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        self.0.spawn(future).detach();
    }

    async fn sleep_until(&self, at: Instant) {
        smol::Timer::at(at).await;
    }

    async fn unblock<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        smol::unblock(work).await
    }

    fn signals(&self) -> io::Result<async_signal::Signals> {
        async_signal::Signals::new([Raw::Term, Raw::Int, Raw::Alarm, Raw::Hup, Raw::Usr1])
    }

    async fn next_signal(&self, signals: &mut async_signal::Signals) -> Signal {
        loop {
            match signals.next().await {
                Some(Ok(Raw::Term | Raw::Int | Raw::Alarm)) => return Signal::Stop,
                Some(Ok(Raw::Hup)) => return Signal::Reload,
                Some(Ok(Raw::Usr1)) => return Signal::ReopenLogs,
                Some(Ok(_)) => {}
                Some(Err(error)) => tracing::warn!("reading signals failed: {error}"),
                // The stream never ends while the handlers are installed.
                None => return Signal::Stop,
            }
        }
    }
}
