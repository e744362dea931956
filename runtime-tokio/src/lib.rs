//! The tokio runtime of pgexporter: sockets, timers and signals around the core's machines.
//!
//! Everything runs on one thread. The collector task owns the core's
//! [`Collector`](pgexporter_core::scrape::Collector) and executes its actions; one task per
//! PostgreSQL connection moves bytes between a socket and the collector; one task per HTTP
//! connection drives an [`HttpConnection`](pgexporter_core::http::HttpConnection) and answers
//! through the core's [`Site`](pgexporter_core::serve::Site). No decision is made here.
//!
//! `runtime-smol` mirrors this crate file for file.

mod collector;
mod http;
mod postgres;
mod shutdown;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use pgexporter_core::serve::Site;
use pgexporter_net::serve::ServePlan;

/// Serves `plan` until SIGTERM, SIGINT or SIGALRM, then stops gracefully: listeners close,
/// requests in flight get up to `plan.shutdown_grace` to finish, and every PostgreSQL
/// connection is terminated.
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
    let listeners = http::bind(&plan.metrics_listeners, plan.backlog).await?;
    for listener in &listeners {
        let scheme = if plan.metrics_tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(
            "serving metrics on {scheme}://{}/metrics",
            listener.local_addr()?
        );
    }
    let (scrapes, collector) = collector::spawn(&plan);
    let site = Arc::new(Site::new(&plan.metrics));
    let stop = shutdown::Trigger::new();
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        servers.spawn(http::accept_loop(
            listener,
            http::Shared {
                site: Arc::clone(&site),
                config: plan.http.clone(),
                scrapes: scrapes.clone(),
                logs: Arc::clone(&plan.logs),
            },
            plan.metrics_tls.clone(),
            stop.subscribe(),
            plan.shutdown_grace,
        ));
    }
    shutdown::wait_for_signal().await?;
    tracing::info!("shutting down");
    stop.fire();
    while servers.join_next().await.is_some() {}
    scrapes.shutdown();
    collector.await.map_err(io::Error::other)?;
    Ok(())
}

/// Sleeps until `wake`, or forever when there is nothing to wake for.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
