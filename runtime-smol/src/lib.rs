//! The smol runtime of pgexporter: sockets, timers and signals around the core's machines.
//!
//! Every task runs on one thread, on one [`LocalExecutor`] (async-io adds one helper thread that
//! polls the sockets while that thread is busy; name lookups run on smol's blocking pool). The
//! collector task owns the core's [`Collector`](pgexporter_core::scrape::Collector) and
//! executes its actions; one task per
//! PostgreSQL connection moves bytes between a socket and the collector; one task per HTTP
//! connection drives an [`HttpConnection`](pgexporter_core::http::HttpConnection) and answers
//! through the core's [`Site`](pgexporter_core::serve::Site); one task per management
//! connection drives a [`Session`](pgexporter_core::management::Session) and answers through
//! [`Control`](pgexporter_net::control::Control). No decision is made here.
//!
//! This crate mirrors `runtime-tokio` file for file. Where tokio shares state through its
//! `watch` channels and a mutex, this one, being single-threaded, uses `Rc<RefCell<_>>` cells
//! that are never borrowed across an `await`.

mod collector;
mod daemon;
mod http;
mod listeners;
mod management;
mod postgres;
mod signals;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use pgexporter_net::notify;
use pgexporter_net::serve::ServePlan;
use pgexporter_net::unix_socket::SocketFile;
use smol::io::{AsyncRead, AsyncReadExt};
use smol::net::unix::UnixListener;
use smol::{LocalExecutor, Task, Timer, future};

use crate::daemon::{Current, SmolEffects};
use crate::listeners::accept_loop;
use crate::signals::{Request, Signals, Trigger};

thread_local! {
    /// The executor every task of the daemon runs on.
    static EXECUTOR: LocalExecutor<'static> = const { LocalExecutor::new() };
}

/// Serves `plan` until SIGTERM, SIGINT, SIGALRM or a `shutdown` command, then stops
/// gracefully: listeners close, requests in flight get up to `plan.shutdown_grace` to finish,
/// and every PostgreSQL connection is terminated. SIGHUP reloads the configuration, SIGUSR1
/// reopens the log file.
///
/// # Errors
/// When a listener cannot be bound or the runtime cannot start.
pub fn run(plan: ServePlan) -> io::Result<()> {
    EXECUTOR.with(|executor| smol::block_on(executor.run(serve(plan))))
}

/// Runs `future` as a task of this thread's executor; dropping the task cancels it.
fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> Task<T> {
    EXECUTOR.with(|executor| executor.spawn(future))
}

async fn serve(plan: ServePlan) -> io::Result<()> {
    let mut signals = Signals::install()?;
    let metrics_listeners = listeners::bind(&plan.metrics_listeners, plan.backlog)?;
    let remote_listeners = listeners::bind(&plan.management_listeners, plan.backlog)?;
    let mut socket_file = SocketFile::bind(&plan.unix_socket)?;
    let local_listener = socket_file
        .take_listener()
        .expect("a freshly bound socket file has its listener");
    let local_listener = UnixListener::try_from(local_listener)?;
    let scheme = if plan.metrics_tls.is_some() {
        "https"
    } else {
        "http"
    };
    for listener in &metrics_listeners {
        let address = listener.local_addr()?;
        tracing::info!("serving metrics on {scheme}://{address}/metrics");
    }
    for listener in &remote_listeners {
        tracing::info!("remote management on {}", listener.local_addr()?);
    }
    tracing::info!("management socket {}", socket_file.path().display());

    let (scrapes, activity, collector) = collector::spawn(&plan.live);
    let live = Rc::new(RefCell::new(Current::new(plan.live)));
    let stop = Trigger::new();
    let effects = SmolEffects {
        scrapes: scrapes.clone(),
        activity,
        live: Rc::clone(&live),
        stop: stop.clone(),
    };
    let control = Rc::new(RefCell::new(plan.control));
    let grace = plan.shutdown_grace;
    let mut servers = Vec::new();
    for listener in metrics_listeners {
        let shared = http::Shared {
            live: Rc::clone(&live),
            scrapes: scrapes.clone(),
            logs: plan.logs.clone(),
        };
        let tls = plan.metrics_tls.clone();
        let serve = move |stream| http::serve_connection(stream, shared.clone(), tls.clone());
        servers.push(spawn(accept_loop(listener, serve, stop.subscribe(), grace)));
    }
    let management = management::Shared {
        control: Rc::clone(&control),
        effects: effects.clone(),
        live,
        admins: plan.admins,
    };
    for listener in remote_listeners {
        let shared = management.clone();
        let serve = move |stream| management::serve_remote(stream, shared.clone());
        servers.push(spawn(accept_loop(listener, serve, stop.subscribe(), grace)));
    }
    let serve_local = move |stream| management::serve_local(stream, management.clone());
    servers.push(spawn(accept_loop(
        local_listener,
        serve_local,
        stop.subscribe(),
        grace,
    )));
    notify::ready();

    let stopping = stop.subscribe();
    loop {
        let request = future::or(signals.next(), async {
            stopping.fired().await;
            Request::Stop
        })
        .await;
        let mut control = control.borrow_mut();
        match request {
            Request::Stop => break,
            Request::Reload => {
                notify::reloading();
                control.reload(&mut effects.clone());
                notify::ready();
            }
            Request::ReopenLogs => control.reopen_logs(),
        }
    }
    notify::stopping();
    tracing::info!("shutting down");
    stop.fire();
    for server in servers {
        server.await;
    }
    scrapes.shutdown();
    collector.await;
    drop(socket_file);
    Ok(())
}

/// Sleeps until `wake`, or forever when there is nothing to wake for.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => {
            Timer::at(at).await;
        }
        None => future::pending().await,
    }
}

/// Reads from `stream` into `buffer`; `None` when `wake` comes first.
async fn read_until<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut [u8],
    wake: Option<Instant>,
) -> Option<io::Result<usize>> {
    future::or(async { Some(stream.read(buffer).await) }, async {
        sleep_until(wake).await;
        None
    })
    .await
}
