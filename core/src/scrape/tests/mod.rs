//! The collector against scripted in-memory servers that speak the wire protocol.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

mod alerts;
mod basics;
mod capacity;
mod deadlines;
mod extensions;
mod facts;
mod health;
mod probes;
mod reconfigure;
mod sharing;
mod spread;
mod ttl;
mod wire;

use super::*;
use crate::exposition::Format;
use crate::link::{ConnId, LinkAction as Action, LinkCommand, LinkEvent};
use crate::metrics::{CollectorFilter, MetricSet, Source, SourceFormat};
use crate::pg::TlsMode;
use crate::plan::{Address, ClientTlsFiles, Target};
use wire::*;

/// The spec of scripted server `index`: its target's host names it.
fn spec(index: usize) -> ServerSpec {
    ServerSpec {
        name: format!("s{index}"),
        kind: crate::config::ServerType::Postgresql,
        user: "monitor".into(),
        password: None,
        target: Arc::new(Target {
            address: Address::Tcp {
                host: format!("s{index}"),
                port: 5432,
            },
            tls: TlsMode::Off,
            tls_files: ClientTlsFiles::default(),
        }),
    }
}

/// The scripted server a connection's target names.
fn server_of(target: &Target) -> usize {
    match &target.address {
        Address::Tcp { host, .. } => host[1..].parse().expect("a scripted server"),
        Address::Unix { .. } => panic!("scripted servers are on TCP"),
    }
}

const DEFINITIONS: &str = "
metrics:
  - tag: size
    collector: db
    queries:
      - query: SELECT 'postgres' AS database, 42 AS bytes
        columns:
          - name: database
            type: label
          - name: bytes
            type: gauge
            description: Size.
  - tag: tables
    collector: tables
    database: all
    queries:
      - query: SELECT 'public' AS schemaname, 3 AS count
        columns:
          - name: schemaname
            type: label
          - name: count
            type: counter
  - tag: primary_only
    collector: misc
    server: primary
    queries:
      - query: SELECT 1 AS v
        columns:
          - type: gauge
  - tag: broken
    collector: misc
    queries:
      - query: SELECT broken
        columns:
          - type: gauge
  - tag: idle_seconds
    collector: hist
    queries:
      - query: SELECT 'app' AS application_name, 7.5 AS seconds_sum, 2 AS seconds_count, '{1,5}' AS seconds, '{1,2}' AS seconds_bucket
        columns:
          - name: application_name
            type: label
          - name: seconds
            type: histogram
            description: Idle.
  - tag: postgresql_primary
    collector: primary
    queries:
      - query: SELECT 5 AS never_run
        columns:
          - type: gauge
";

/// When the scripted servers loaded their configuration, until a test reloads one.
const CONF_LOADED: &str = "2026-01-01 00:00:00+00";

/// How a scripted server answers one query.
enum Answer {
    Rows(Vec<&'static str>, Vec<Vec<Option<String>>>),
    Error(&'static str),
}

/// A server that answers startup with trust authentication and queries with `answer`.
struct ScriptedServer {
    is_primary: bool,
    databases: Vec<&'static str>,
    silent: bool,
    /// Installed extensions: database, name, version.
    extensions: Vec<(&'static str, &'static str, &'static str)>,
    /// Startup gets no answer, as when a catalog lock holds the new backend.
    stalled_startup: bool,
    /// What `pg_conf_load_time()` answers: a reload changes it.
    conf_loaded: &'static str,
}

impl ScriptedServer {
    fn answer(&self, sql: &str, database: &str) -> Answer {
        let one = |columns: Vec<&'static str>, row: Vec<&str>| {
            Answer::Rows(
                columns,
                vec![row.into_iter().map(|v| Some(v.to_owned())).collect()],
            )
        };
        if sql.contains("pg_is_in_recovery") {
            let extensions: Vec<String> = self
                .installed_in("postgres")
                .map(|(name, version)| format!("{name} {version}"))
                .collect();
            one(
                vec!["primary", "uptime", "conf_loaded", "extensions"],
                vec![
                    if self.is_primary { "t" } else { "f" },
                    "3600.5",
                    self.conf_loaded,
                    &extensions.join(","),
                ],
            )
        } else if sql.contains("FROM pg_settings") {
            Answer::Rows(
                vec!["name", "setting", "short_desc"],
                vec![
                    vec![
                        Some("max_connections".into()),
                        Some("100".into()),
                        Some("Max.".into()),
                    ],
                    vec![
                        Some("fsync".into()),
                        Some("off".into()),
                        Some("Sync.".into()),
                    ],
                ],
            )
        } else if sql.contains("pg_available_extensions") {
            let mut rows = vec![vec![
                Some("plpgsql".to_owned()),
                Some("1.0".to_owned()),
                Some("PL/pgSQL".to_owned()),
            ]];
            rows.extend(self.installed_in(database).map(|(name, version)| {
                vec![Some(name.to_owned()), Some(version.to_owned()), None]
            }));
            Answer::Rows(vec!["name", "installed_version", "comment"], rows)
        } else if sql.contains("FROM pg_extension") && database == "unreadable" {
            Answer::Error("42501")
        } else if sql.contains("FROM pg_extension") {
            let rows = self
                .installed_in(database)
                .map(|(name, version)| vec![Some(name.to_owned()), Some(version.to_owned())])
                .collect();
            Answer::Rows(vec!["extname", "extversion"], rows)
        } else if let Some(answer) = extensions::answer(sql) {
            answer
        } else if sql.contains("FROM pg_database") {
            Answer::Rows(
                vec!["datname"],
                self.databases
                    .iter()
                    .map(|name| vec![Some((*name).to_owned())])
                    .collect(),
            )
        } else if sql.contains("broken") {
            Answer::Error("42703")
        } else if sql.starts_with("SELECT 'postgres'") {
            one(vec!["database", "bytes"], vec!["postgres", "42"])
        } else if sql.starts_with("SELECT 'public'") {
            one(vec!["schemaname", "count"], vec!["public", "3"])
        } else if sql.starts_with("SELECT 'app'") {
            one(
                vec![
                    "application_name",
                    "seconds_sum",
                    "seconds_count",
                    "seconds",
                    "seconds_bucket",
                ],
                vec!["app", "7.5", "2", "{1,5}", "{1,2}"],
            )
        } else if sql == "SELECT 95 AS alert_value" {
            one(vec!["alert_value"], vec!["95"])
        } else if sql == "SELECT 1 AS v" {
            one(vec!["v"], vec!["1"])
        } else {
            panic!("unexpected query {sql}")
        }
    }

    /// The extensions installed in `database`: name and version.
    fn installed_in<'a>(
        &'a self,
        database: &'a str,
    ) -> impl Iterator<Item = (&'static str, &'static str)> + 'a {
        self.extensions
            .iter()
            .filter(move |(installed_in, _, _)| *installed_in == database)
            .map(|(_, name, version)| (*name, *version))
    }
}

/// Runs the collector's actions against scripted servers until it is idle.
struct Harness {
    collector: Collector,
    servers: Vec<ScriptedServer>,
    wires: HashMap<ConnId, Wire>,
    conn_servers: HashMap<ConnId, usize>,
    refused: Vec<usize>,
    /// The bodies of the `type = prometheus` servers, by server index.
    exporters: HashMap<usize, &'static str>,
    connects: usize,
    closes: usize,
    /// The most sessions at once: a session lasts from its connect until the collector closed
    /// its socket and, after a Terminate, the server closed its end.
    peak_connections: usize,
    /// Sessions that received Terminate keep their end open until
    /// [`Harness::close_exiting_sessions`], as a backend still exiting does.
    hold_server_closes: bool,
    /// The terminated sessions whose end the server has not closed yet.
    exiting: Vec<ConnId>,
    /// The CancelRequests received, in order: process id and secret key.
    cancel_requests: Vec<(i32, i32)>,
    /// Results answered, the early ones at a request's deadline ([`Event::Partial`]) included.
    finished: Vec<Arc<ScrapeResult>>,
    /// How many of them were early answers.
    partial_answers: usize,
    answered: Vec<Ticket>,
    next_ticket: u64,
    now: Instant,
    /// How long each PostgreSQL server takes to answer what it is sent.
    answer_delay: Duration,
    /// How long each query takes besides: the answers to a pipeline arrive one by one, this
    /// much apart.
    query_delay: Duration,
}

impl Harness {
    fn new(servers: Vec<ScriptedServer>) -> Self {
        Harness::with_filter(servers, CollectorFilter::default())
    }

    /// A harness whose collector runs only the metrics `filter` allows.
    fn with_filter(servers: Vec<ScriptedServer>, filter: CollectorFilter) -> Self {
        let set =
            MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)])
                .unwrap();
        Harness::with_set(servers, set, filter)
    }

    /// A harness whose collector runs the metrics of `set` that `filter` allows.
    fn with_set(servers: Vec<ScriptedServer>, set: MetricSet, filter: CollectorFilter) -> Self {
        let specs = (0..servers.len()).map(spec).collect();
        let settings = CollectorSettings {
            query_timeout: Some(Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(10),
            application_name: "pgexporter".into(),
            cache_max_age: Duration::ZERO,
            default_scrape_timeout: Duration::from_secs(10),
            max_connections_per_server: 8,
            alerts: None,
        };
        Harness {
            collector: Collector::new(specs, Arc::new(set), filter, settings, Box::new(|| [7; 18])),
            servers,
            wires: HashMap::new(),
            conn_servers: HashMap::new(),
            refused: Vec::new(),
            exporters: HashMap::new(),
            connects: 0,
            closes: 0,
            peak_connections: 0,
            hold_server_closes: false,
            exiting: Vec::new(),
            cancel_requests: Vec::new(),
            finished: Vec::new(),
            partial_answers: 0,
            answered: Vec::new(),
            next_ticket: 0,
            now: crate::test_clock::origin(),
            answer_delay: Duration::ZERO,
            query_delay: Duration::ZERO,
        }
    }

    /// Executes actions until none is left.
    fn run(&mut self) {
        while let Some(action) = self.collector.poll_action() {
            match action {
                Action::Connect { conn, target } => {
                    self.connects += 1;
                    let server = server_of(&target);
                    let event = if self.refused.contains(&server) {
                        LinkEvent::ConnectFailed("refused".into())
                    } else {
                        self.conn_servers.insert(conn, server);
                        self.wires.insert(conn, Wire::default());
                        self.peak_connections = self.peak_connections.max(self.sessions());
                        LinkEvent::Connected
                    };
                    self.collector.handle_link(self.now, conn, event);
                }
                Action::Command {
                    command: LinkCommand::StartTls,
                    ..
                } => panic!("TLS is off in these tests"),
                Action::Command {
                    conn,
                    command: LinkCommand::Send(bytes),
                } => {
                    let server = self.conn_servers[&conn];
                    if conn.owner() == crate::link::LinkOwner::Prometheus {
                        let body = self.exporters[&server];
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let reply = LinkEvent::Input(Bytes::from(response));
                        self.collector.handle_link(self.now, conn, reply);
                        self.take_events();
                        continue;
                    }
                    let wire = self.wires.get_mut(&conn).unwrap();
                    wire.received.extend_from_slice(&bytes);
                    let reply = respond(&self.servers[server], wire);
                    let terminated = wire.terminated;
                    if !reply.is_empty() {
                        self.now += self.answer_delay;
                        for piece in answers_of(reply, !self.query_delay.is_zero()) {
                            self.now += self.query_delay;
                            self.collector
                                .handle_link(self.now, conn, LinkEvent::Input(piece));
                        }
                    }
                    if terminated && self.hold_server_closes {
                        self.exiting.push(conn);
                    } else if terminated {
                        self.collector.handle_link(self.now, conn, LinkEvent::Eof);
                    }
                }
                Action::Command {
                    conn,
                    command: LinkCommand::Close,
                } => match self
                    .wires
                    .remove(&conn)
                    .and_then(|wire| wire.cancel_request)
                {
                    Some(request) => self.cancel_requests.push(request),
                    None => self.closes += 1,
                },
            }
            self.take_events();
        }
        self.take_events();
    }

    /// The sessions the servers hold: the open connections and the terminated ones still
    /// exiting.
    fn sessions(&self) -> usize {
        let socket_closed = |conn: &&ConnId| !self.wires.contains_key(conn);
        self.wires.len() + self.exiting.iter().filter(socket_closed).count()
    }

    /// The servers close the end of every terminated session, then the actions that follow
    /// are run.
    fn close_exiting_sessions(&mut self) {
        for conn in std::mem::take(&mut self.exiting) {
            if self.wires.contains_key(&conn) {
                self.collector.handle_link(self.now, conn, LinkEvent::Eof);
            }
        }
        self.run();
    }

    fn take_events(&mut self) {
        while let Some(event) = self.collector.poll_event() {
            let (result, tickets) = match event {
                Event::Finished { result, tickets } => {
                    assert!(!tickets.is_empty(), "a scrape runs only for a request");
                    (result, tickets)
                }
                Event::Partial { result, tickets } => {
                    self.partial_answers += 1;
                    (result, tickets)
                }
            };
            self.answered.extend(tickets);
            self.finished.push(result);
        }
    }

    fn request(&mut self, timeout: Option<Duration>) -> (Ticket, Option<Arc<ScrapeResult>>) {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        (ticket, self.collector.request(self.now, ticket, timeout))
    }

    /// Queries completed by one more scrape, and its body.
    fn scrape_counting(&mut self) -> (u64, String) {
        let before = self.collector.counters().executions;
        let result = self.scrape();
        (
            self.collector.counters().executions - before,
            render(&result),
        )
    }

    fn scrape(&mut self) -> Arc<ScrapeResult> {
        let (ticket, cached) = self.request(None);
        assert!(cached.is_none());
        self.run();
        assert_eq!(self.answered.pop(), Some(ticket));
        self.finished.pop().expect("the scrape finished")
    }
}

/// `reply` whole, or cut after each ReadyForQuery when `one_by_one`.
fn answers_of(mut reply: BytesMut, one_by_one: bool) -> Vec<Bytes> {
    if !one_by_one {
        return vec![reply.freeze()];
    }
    let mut pieces = Vec::new();
    let mut end = 0;
    while end + 5 <= reply.len() {
        let tag = reply[end];
        end += 1 + u32::from_be_bytes(reply[end + 1..end + 5].try_into().unwrap()) as usize;
        if tag == b'Z' {
            pieces.push(reply.split_to(end).freeze());
            end = 0;
        }
    }
    if !reply.is_empty() {
        pieces.push(reply.freeze());
    }
    pieces
}

fn primary(databases: Vec<&'static str>) -> ScriptedServer {
    ScriptedServer {
        is_primary: true,
        databases,
        silent: false,
        extensions: Vec::new(),
        stalled_startup: false,
        conf_loaded: CONF_LOADED,
    }
}

fn render(result: &ScrapeResult) -> String {
    let mut out = BytesMut::new();
    result.render(Format::Text, &ExporterCounters::default(), &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

impl Harness {
    /// Replaces the collector with a new one for the same servers and [`DEFINITIONS`], run
    /// with `settings`.
    fn use_settings(&mut self, settings: CollectorSettings) {
        let set =
            MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)])
                .unwrap();
        self.collector = Collector::new(
            self.collector.servers().to_vec(),
            Arc::new(set),
            CollectorFilter::default(),
            settings,
            Box::new(|| [1; 18]),
        );
    }

    /// The collector's current parts, for building a reconfiguration.
    fn parts(&self, settings: CollectorSettings) -> Reconfiguration {
        let set =
            MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)])
                .unwrap();
        Reconfiguration {
            servers: self.collector.servers().to_vec(),
            metrics: Arc::new(set),
            filter: CollectorFilter::default(),
            settings,
        }
    }
}

fn settings(cache_max_age: Duration) -> CollectorSettings {
    CollectorSettings {
        query_timeout: Some(Duration::from_secs(5)),
        connect_timeout: Duration::from_secs(10),
        application_name: "pgexporter".into(),
        cache_max_age,
        default_scrape_timeout: Duration::from_secs(10),
        max_connections_per_server: 8,
        alerts: None,
    }
}

fn silent_and_healthy() -> Harness {
    let silent = ScriptedServer {
        is_primary: true,
        databases: vec![],
        silent: true,
        extensions: Vec::new(),
        stalled_startup: false,
        conf_loaded: CONF_LOADED,
    };
    Harness::new(vec![silent, primary(vec!["postgres"])])
}
