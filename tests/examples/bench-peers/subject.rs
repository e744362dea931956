//! The exporters compared: ours (the binaries `PGEXPORTER_BIN_DIR` names) and the Go
//! `prometheus-postgres-exporter` of Debian, with its default collectors alone and with the
//! example queries its package ships (per-table statistics, like ours).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_tests::PgCluster;
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};

/// The Go exporter's binary, from the Debian package `prometheus-postgres-exporter`.
const GO_EXPORTER: &str = "/usr/bin/prometheus-postgres-exporter";

/// The example queries of the Debian package: `pg_stat_user_tables`, `pg_statio_user_tables`,
/// `pg_stat_statements` and a few more, run in every database.
const GO_QUERIES: &str = "/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml";

/// The example queries left out, as each makes the Go exporter answer 500 here:
/// `pg_stat_statements` reads columns PostgreSQL 13 renamed (`total_time`), and
/// `pg_process_idle` reads the server-wide `pg_stat_activity` without a database label, so with
/// `--auto-discover-databases` every database sends the same series again.
const GO_QUERIES_LEFT_OUT: [&str; 2] = ["pg_stat_statements:", "pg_process_idle:"];

/// How long an exporter may take to listen, and a scrape to answer.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One of the exporters compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This project's daemon with its built-in metric set, every database of every server.
    Ours,
    /// [`Kind::Ours`] with a connection cap above the databases' count: a connection per
    /// database, kept between scrapes.
    OursUncapped,
    /// The Go exporter's default collectors, every database (`--auto-discover-databases`).
    Go,
    /// [`Kind::Go`] plus the package's example queries (`--extend.query-path`), but for the
    /// two that fail here ([`GO_QUERIES_LEFT_OUT`]).
    GoQueries,
}

impl Kind {
    /// Every exporter, in the order the report lists them.
    pub const ALL: [Kind; 4] = [Kind::Ours, Kind::OursUncapped, Kind::Go, Kind::GoQueries];

    /// The name the report uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "pgexporter",
            Kind::OursUncapped => "pgexporter, cap 1000",
            Kind::Go => "go default",
            Kind::GoQueries => "go + example queries",
        }
    }
}

/// A running exporter, stopped on drop.
pub enum Running {
    /// Ours, with the directory holding its configuration.
    Ours {
        /// The daemon.
        exporter: Exporter,
        /// Its configuration, users file and master key.
        _home: ExporterHome,
    },
    /// The Go exporter.
    Go {
        /// The process.
        child: Child,
        /// Its metrics address.
        address: SocketAddr,
        /// The queries file it reads, removed on drop.
        queries: Option<PathBuf>,
    },
}

impl Running {
    /// Starts exporter `kind` against every database of `clusters`, the monitoring role
    /// connecting over TCP; returns once it listens.
    pub fn start(kind: Kind, clusters: &[PgCluster]) -> Running {
        match kind {
            Kind::Ours | Kind::OursUncapped => {
                let home = ExporterHome::new();
                let names: Vec<String> = (1..=clusters.len())
                    .map(|number| format!("server{number}"))
                    .collect();
                let servers: Vec<(&str, &PgCluster)> =
                    names.iter().map(String::as_str).zip(clusters).collect();
                let extra = match kind {
                    Kind::OursUncapped => "max_connections_per_server = 1000",
                    _ => "",
                };
                let port = home.write_servers_config(&servers, extra);
                let exporter = Exporter::start(&home, port, &[]);
                Running::Ours {
                    exporter,
                    _home: home,
                }
            }
            Kind::Go | Kind::GoQueries => start_go(kind == Kind::GoQueries, clusters),
        }
    }

    /// The exporter's process id.
    pub fn pid(&self) -> u32 {
        match self {
            Running::Ours { exporter, .. } => exporter.pid(),
            Running::Go { child, .. } => child.id(),
        }
    }

    /// The address serving `/metrics`.
    pub fn address(&self) -> SocketAddr {
        match self {
            Running::Ours { exporter, .. } => exporter.address(),
            Running::Go { address, .. } => *address,
        }
    }

    /// One scrape: the body of a 200 answer, else what went wrong.
    pub fn scrape(&self) -> Result<String, String> {
        fetch_metrics(self.address())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Go { child, queries, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(queries) = queries {
                let _ = fs::remove_file(queries);
            }
        }
    }
}

fn start_go(with_queries: bool, clusters: &[PgCluster]) -> Running {
    for needed in [GO_EXPORTER, GO_QUERIES] {
        assert!(
            Path::new(needed).is_file(),
            "{needed} is missing: install the Debian package prometheus-postgres-exporter"
        );
    }
    let password = MONITOR_USER
        .password
        .expect("the monitoring role has a password");
    let sources: Vec<String> = clusters
        .iter()
        .map(|cluster| {
            format!(
                "postgresql://{}:{password}@{}:{}/postgres?sslmode=disable",
                MONITOR_USER.name,
                cluster.host(),
                cluster.port()
            )
        })
        .collect();
    let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut command = Command::new(GO_EXPORTER);
    command
        .arg(format!("--web.listen-address={address}"))
        .args(["--auto-discover-databases", "--log.level=error"])
        .env_clear()
        .env("DATA_SOURCE_NAME", sources.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if clusters.len() > 1 {
        // With several servers these two collectors report their own duration and success once
        // per server under the same labels, and the duplicates make every answer a 500.
        command.args(["--no-collector.database", "--no-collector.bgwriter"]);
    }
    let queries = with_queries.then(|| {
        let path =
            std::env::temp_dir().join(format!("bench-peers-queries-{}.yaml", address.port()));
        fs::write(&path, queries_for_postgresql_15())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        command.arg(format!("--extend.query-path={}", path.display()));
        path
    });
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {GO_EXPORTER}: {e}"));
    let mut running = Running::Go {
        child,
        address,
        queries,
    };
    let started = Instant::now();
    while TcpStream::connect(address).is_err() {
        if let Running::Go { child, .. } = &mut running
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("{GO_EXPORTER} exited with {status}");
        }
        assert!(started.elapsed() < TIMEOUT, "{GO_EXPORTER} did not listen");
        thread::sleep(Duration::from_millis(20));
    }
    running
}

/// The package's example queries without the blocks of [`GO_QUERIES_LEFT_OUT`] (top-level keys
/// start a line; their contents are indented).
fn queries_for_postgresql_15() -> String {
    let text =
        fs::read_to_string(GO_QUERIES).unwrap_or_else(|e| panic!("cannot read {GO_QUERIES}: {e}"));
    let mut kept = String::with_capacity(text.len());
    let mut leaving_out = false;
    for line in text.lines() {
        if line.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            leaving_out = GO_QUERIES_LEFT_OUT.iter().any(|key| line.starts_with(key));
        }
        if !leaving_out {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// `GET /metrics` on a new connection; the body of a 200 answer, else the transport error or
/// the status line. Never panics, so that concurrent clients count failures.
fn fetch_metrics(address: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let head_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| "no response head".to_owned())?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let body = &raw[head_end + 4..];
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(status.to_owned());
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The payload of a chunked body (chunk extensions and trailers dropped); what follows a
/// malformed chunk size is dropped too.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len());
    while let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") {
        let size_field = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_field.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
        let after = &rest[line_end + 2..];
        if size == 0 || after.len() < size {
            break;
        }
        out.extend_from_slice(&after[..size]);
        rest = after[size..]
            .strip_prefix(b"\r\n")
            .unwrap_or(&after[size..]);
    }
    out
}
