//! The tokio runtime of pgexporter: sockets, timers and signals around the core's machines.
//!
//! Everything runs on one thread. The collector task owns the core's
//! [`Collector`](pgexporter_core::scrape::Collector) and executes its actions; one task per
//! PostgreSQL connection moves bytes between a socket and the collector; one task per HTTP
//! connection drives an [`HttpConnection`](pgexporter_core::http::HttpConnection) and answers
//! through the core's [`Site`](pgexporter_core::serve::Site); one task per management
//! connection drives a [`Session`](pgexporter_core::management::Session) and answers through
//! [`Control`](pgexporter_net::control::Control). No decision is made here.
//!
//! `runtime-smol` mirrors this crate file for file.

mod collector;
mod daemon;
mod http;
mod listeners;
mod management;
mod postgres;
mod signals;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pgexporter_net::notify;
use pgexporter_net::serve::ServePlan;
use pgexporter_net::unix_socket::SocketFile;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::daemon::{Current, TokioEffects};
use crate::listeners::accept_loop;
use crate::signals::{Request, Signals, Trigger};

/// Serves `plan` until SIGTERM, SIGINT, SIGALRM or a `shutdown` command, then stops
/// gracefully: listeners close, requests in flight get up to `plan.shutdown_grace` to finish,
/// and every PostgreSQL connection is terminated. SIGHUP reloads the configuration, SIGUSR1
/// reopens the log file.
///
/// # Errors
/// When a listener cannot be bound or the runtime cannot start.
pub fn run(plan: ServePlan) -> io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(plan))
}

async fn serve(plan: ServePlan) -> io::Result<()> {
    let mut signals = Signals::install()?;
    let metrics_listeners = listeners::bind(&plan.metrics_listeners, plan.backlog)?;
    let remote_listeners = listeners::bind(&plan.management_listeners, plan.backlog)?;
    let mut socket_file = SocketFile::bind(&plan.unix_socket)?;
    let local_listener = socket_file
        .take_listener()
        .expect("a freshly bound socket file has its listener");
    local_listener.set_nonblocking(true)?;
    let local_listener = UnixListener::from_std(local_listener)?;
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
    let (live_sender, live) = watch::channel(Current::new(plan.live));
    let stop = Trigger::new();
    let effects = TokioEffects {
        scrapes: scrapes.clone(),
        activity,
        live: Arc::new(live_sender),
        stop: stop.clone(),
    };
    let control = Arc::new(Mutex::new(plan.control));
    let grace = plan.shutdown_grace;
    let mut servers = JoinSet::new();
    for listener in metrics_listeners {
        let shared = http::Shared {
            live: live.clone(),
            scrapes: scrapes.clone(),
            logs: Arc::clone(&plan.logs),
        };
        let tls = plan.metrics_tls.clone();
        let serve = move |stream| http::serve_connection(stream, shared.clone(), tls.clone());
        servers.spawn(accept_loop(listener, serve, stop.subscribe(), grace));
    }
    let management = management::Shared {
        control: Arc::clone(&control),
        effects: effects.clone(),
        live,
        admins: plan.admins,
    };
    for listener in remote_listeners {
        let shared = management.clone();
        let serve = move |stream| management::serve_remote(stream, shared.clone());
        servers.spawn(accept_loop(listener, serve, stop.subscribe(), grace));
    }
    let serve_local = move |stream| management::serve_local(stream, management.clone());
    servers.spawn(accept_loop(
        local_listener,
        serve_local,
        stop.subscribe(),
        grace,
    ));
    notify::ready();

    let mut stopping = stop.subscribe();
    loop {
        let request = tokio::select! {
            request = signals.next() => request,
            _ = stopping.changed() => Request::Stop,
        };
        let mut control = control.lock().unwrap_or_else(|e| e.into_inner());
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
    while servers.join_next().await.is_some() {}
    scrapes.shutdown();
    collector.await.map_err(io::Error::other)?;
    drop(socket_file);
    Ok(())
}

/// Sleeps until `wake`, or forever when there is nothing to wake for.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
