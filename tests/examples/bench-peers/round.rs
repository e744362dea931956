//! One exporter measured once: sequential scrapes, the PostgreSQL and exporter CPU they cost,
//! the connections held, concurrent clients and memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_tests::PgCluster;
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::measure::{cpu_ms, p50_p90_ms, process_cpu, rss_kib};

use crate::scenario::Scenario;
use crate::subject::{Kind, Running};

/// Clients scraping at once in the concurrent phase.
pub const CLIENTS: usize = 8;

/// Scrapes before the measurement (connections made, catalogs cached, databases discovered).
const WARM_UP: usize = 3;

/// How long the postmaster gets to reap a session that just ended (so that its CPU time is not
/// counted in a window it did not belong to).
const REAP_PAUSE: Duration = Duration::from_millis(300);

/// How long a stopped exporter's sessions may take to end.
const SESSIONS_END: Duration = Duration::from_secs(30);

/// What one exporter did in one round.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Samples in one answer.
    pub samples: usize,
    /// Sequential scrapes: p50 and p90, in milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p90_ms: f64,
    /// Sequential scrapes that failed.
    pub sequential_errors: usize,
    /// CPU time of PostgreSQL processes serving the exporter, per sequential scrape (ms).
    pub postgres_cpu_ms: f64,
    /// `pg_stat_statements.total_exec_time` of the monitoring role, per sequential scrape (ms).
    pub executor_ms: f64,
    /// The exporter's own CPU time per sequential scrape (ms).
    pub exporter_cpu_ms: f64,
    /// Sessions of the monitoring role in `pg_stat_activity` after the sequential scrapes.
    pub connections: usize,
    /// Backends of the monitoring role in the process list after the sequential scrapes.
    pub backends: usize,
    /// The most backends of the monitoring role seen during the concurrent phase.
    pub peak_backends: usize,
    /// Concurrent phase: answers per second.
    pub clients_rps: f64,
    /// Concurrent phase: failed scrapes, and all scrapes.
    pub client_errors: usize,
    /// See `client_errors`.
    pub client_scrapes: usize,
    /// The exporter's resident memory at the end and at its peak, in KiB.
    pub rss_kib: u64,
    /// See `rss_kib`.
    pub peak_rss_kib: u64,
}

/// Starts exporter `kind` against `clusters`, measures it and stops it. With `statements`,
/// returns the monitoring role's ten costliest statements over the sequential scrapes.
///
/// # Errors
/// The answer of a failed warm-up scrape: the exporter is not measured.
pub fn measure(
    kind: Kind,
    scenario: &Scenario,
    clusters: &[PgCluster],
    statements: bool,
) -> Result<(Figures, Option<String>), String> {
    let running = Running::start(kind, clusters);
    let mut body = String::new();
    for _ in 0..WARM_UP {
        match running.scrape() {
            Ok(answer) => body = answer,
            Err(error) => {
                drop(running);
                wait_for_sessions_to_end(clusters);
                return Err(error);
            }
        }
    }
    let mut figures = Figures {
        samples: body
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .count(),
        ..Figures::default()
    };
    for cluster in clusters {
        cluster.psql("SELECT pg_stat_statements_reset()");
    }
    thread::sleep(REAP_PAUSE);
    sequential(&running, scenario.sequential, clusters, &mut figures);
    figures.executor_ms =
        clusters.iter().map(executor_ms).sum::<f64>() / scenario.sequential as f64;
    let top = statements.then(|| top_statements(&clusters[0], scenario.sequential));
    figures.connections = clusters.iter().map(sessions_in_activity).sum();
    figures.backends = clusters.iter().map(exporter_backends).sum();
    concurrent(&running, scenario.per_client, clusters, &mut figures);
    figures.rss_kib = rss_kib(running.pid(), "VmRSS");
    figures.peak_rss_kib = rss_kib(running.pid(), "VmHWM");
    drop(running);
    wait_for_sessions_to_end(clusters);
    Ok((figures, top))
}

fn sequential(running: &Running, scrapes: usize, clusters: &[PgCluster], figures: &mut Figures) {
    let postgres_before = postgres_cpu_ms(clusters);
    let exporter_before = cpu_ms(running.pid());
    let mut times = Vec::with_capacity(scrapes);
    for _ in 0..scrapes {
        let started = Instant::now();
        if running.scrape().is_err() {
            figures.sequential_errors += 1;
        }
        times.push(started.elapsed());
    }
    let exporter_after = cpu_ms(running.pid());
    // The sessions of the last scrape may still be ending (an exporter that reconnects).
    thread::sleep(REAP_PAUSE);
    let postgres_after = postgres_cpu_ms(clusters);
    (figures.p50_ms, figures.p90_ms) = p50_p90_ms(&mut times);
    figures.postgres_cpu_ms = (postgres_after - postgres_before) / scrapes as f64;
    figures.exporter_cpu_ms = (exporter_after - exporter_before) / scrapes as f64;
}

fn concurrent(running: &Running, per_client: usize, clusters: &[PgCluster], figures: &mut Figures) {
    let errors = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let peak = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(clusters.iter().map(exporter_backends).sum());
                thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..per_client {
                        if running.scrape().is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a scraping client");
        }
        done.store(true, Ordering::Relaxed);
        sampler.join().expect("the backend sampler")
    });
    figures.client_scrapes = CLIENTS * per_client;
    figures.clients_rps = figures.client_scrapes as f64 / started.elapsed().as_secs_f64();
    figures.client_errors = errors.into_inner();
    figures.peak_backends = peak;
}

/// Whether a backend's process title is a session of the monitoring role
/// (`postgres: pgexporter app1 127.0.0.1(4242) idle`).
fn is_exporter_session(title: &str) -> bool {
    title.starts_with(&format!("postgres: {} ", MONITOR_USER.name))
}

fn exporter_backends(cluster: &PgCluster) -> usize {
    cluster
        .backend_titles()
        .iter()
        .filter(|title| is_exporter_session(title))
        .count()
}

/// CPU time of what serves the exporter in `clusters`: its live sessions, the sessions that
/// ended (the postmaster's reaped children: no other session ends during a measurement, and
/// autovacuum is off) and the postmaster itself (it forks every new session).
fn postgres_cpu_ms(clusters: &[PgCluster]) -> f64 {
    clusters
        .iter()
        .map(|cluster| {
            let postmaster = process_cpu(cluster.postmaster_pid());
            let sessions: f64 = cluster
                .backend_processes()
                .iter()
                .filter(|(_, title)| is_exporter_session(title))
                .map(|(pid, _)| process_cpu(*pid).own_ms)
                .sum();
            postmaster.own_ms + postmaster.reaped_ms + sessions
        })
        .sum()
}

fn executor_ms(cluster: &PgCluster) -> f64 {
    cluster
        .psql(&format!(
            "SELECT COALESCE(sum(total_exec_time), 0) FROM pg_stat_statements \
             WHERE userid = '{}'::regrole",
            MONITOR_USER.name
        ))
        .trim()
        .parse()
        .unwrap_or(0.0)
}

/// The monitoring role's ten costliest statements in `cluster`: executor milliseconds and
/// calls per scrape, and the statement's start.
fn top_statements(cluster: &PgCluster, scrapes: usize) -> String {
    cluster.psql(&format!(
        "SELECT round((sum(total_exec_time) / {scrapes})::numeric, 2) || ' ms, ' || \
           round(sum(calls)::numeric / {scrapes}, 1) || ' calls: ' || \
           left(regexp_replace(query, '\\s+', ' ', 'g'), 100) \
         FROM pg_stat_statements WHERE userid = '{}'::regrole \
         GROUP BY query ORDER BY sum(total_exec_time) DESC LIMIT 10",
        MONITOR_USER.name
    ))
}

fn sessions_in_activity(cluster: &PgCluster) -> usize {
    cluster
        .psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
            MONITOR_USER.name
        ))
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_for_sessions_to_end(clusters: &[PgCluster]) {
    let started = Instant::now();
    while clusters.iter().map(exporter_backends).sum::<usize>() > 0 {
        assert!(
            started.elapsed() < SESSIONS_END,
            "the exporter's sessions did not end within {SESSIONS_END:?} of stopping it"
        );
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(REAP_PAUSE);
}
