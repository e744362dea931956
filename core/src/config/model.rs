//! The typed configuration: every key of `[pgexporter]` and of a server section, with the
//! defaults of the reference.

use std::time::Duration;

use super::values::Keyword;

/// Where log lines go (`log_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// Standard output.
    Console,
    /// The file at `log_path`.
    File,
    /// The system log, ident `pgexporter`.
    Syslog,
}

impl Keyword for LogType {
    const WHAT: &'static str = "log type";
    const EXPECTED: &'static str = "console, file or syslog";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("console", Self::Console),
        ("file", Self::File),
        ("syslog", Self::Syslog),
    ];
}

/// Where history snapshots are stored (`history_backend`, `bridge_history_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryBackend {
    /// An SQLite database file.
    Sqlite,
}

impl Keyword for HistoryBackend {
    const WHAT: &'static str = "history backend";
    const EXPECTED: &'static str = "sqlite";
    const NAMES: &'static [(&'static str, Self)] = &[("sqlite", Self::Sqlite)];
}

/// How long history snapshots are kept unless `history_retention` says otherwise: 30 days.
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// The least severe level that is logged (`log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug5`, the most verbose.
    Debug5,
    /// `debug4`.
    Debug4,
    /// `debug3`.
    Debug3,
    /// `debug2`.
    Debug2,
    /// `debug` or `debug1`.
    Debug1,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
    /// `fatal`.
    Fatal,
}

impl Keyword for LogLevel {
    const WHAT: &'static str = "log level";
    const EXPECTED: &'static str = "fatal, error, warn, info, debug or debug1 to debug5";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("fatal", Self::Fatal),
        ("error", Self::Error),
        ("warn", Self::Warn),
        ("warning", Self::Warn),
        ("info", Self::Info),
        ("debug", Self::Debug1),
        ("debug1", Self::Debug1),
        ("debug2", Self::Debug2),
        ("debug3", Self::Debug3),
        ("debug4", Self::Debug4),
        ("debug5", Self::Debug5),
    ];
}

/// How an existing log file is opened (`log_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// Lines are added at the end.
    Append,
    /// The file is truncated.
    Create,
}

impl Keyword for LogMode {
    const WHAT: &'static str = "log mode";
    const EXPECTED: &'static str = "append or create";
    const NAMES: &'static [(&'static str, Self)] =
        &[("append", Self::Append), ("create", Self::Create)];
}

/// Huge page use for shared memory (`hugepage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hugepage {
    /// Never.
    Off,
    /// When available.
    Try,
    /// Always; failing when unavailable.
    On,
}

impl Keyword for Hugepage {
    const WHAT: &'static str = "hugepage setting";
    const EXPECTED: &'static str = "off, try or on";
    const NAMES: &'static [(&'static str, Self)] =
        &[("off", Self::Off), ("try", Self::Try), ("on", Self::On)];
}

/// How much the process title shows (`update_process_title`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessTitle {
    /// `never` or `off`: the title is left alone.
    Never,
    /// `strict`: only within the space of the original title.
    Strict,
    /// `minimal`: the role of the process.
    Minimal,
    /// `verbose` or `full`: role and details.
    Verbose,
}

impl Keyword for ProcessTitle {
    const WHAT: &'static str = "process title setting";
    const EXPECTED: &'static str = "never, off, strict, minimal, verbose or full";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("never", Self::Never),
        ("off", Self::Never),
        ("strict", Self::Strict),
        ("minimal", Self::Minimal),
        ("verbose", Self::Verbose),
        ("full", Self::Verbose),
    ];
}

/// What a server section describes (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerType {
    /// A PostgreSQL server, queried over the wire protocol.
    #[default]
    Postgresql,
    /// An HTTP `/metrics` endpoint whose samples are appended.
    Prometheus,
}

impl Keyword for ServerType {
    const WHAT: &'static str = "server type";
    const EXPECTED: &'static str = "postgresql or prometheus";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("postgresql", Self::Postgresql),
        ("prometheus", Self::Prometheus),
    ];
}

/// TLS towards a PostgreSQL server (`tls` of a server section): the connection's own mode.
pub use crate::pg::TlsMode;

impl Keyword for TlsMode {
    const WHAT: &'static str = "TLS mode";
    const EXPECTED: &'static str = "off, try or on (or a boolean)";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("off", Self::Off),
        ("no", Self::Off),
        ("false", Self::Off),
        ("0", Self::Off),
        ("try", Self::Try),
        ("on", Self::On),
        ("yes", Self::On),
        ("true", Self::On),
        ("1", Self::On),
    ];
}

/// A `host:port` of `bridge_endpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeEndpoint {
    /// Host name or address as written (an IPv6 address keeps its brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for BridgeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The `[pgexporter]` section. Field names are the key names; see SPEC §2.2 for each meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainConfig {
    /// `host`: bind address of the TCP listeners, `*` for all interfaces. Required.
    pub host: String,
    /// `unix_socket_dir`: directory of the management socket. Required.
    pub unix_socket_dir: String,
    /// `metrics`: Prometheus HTTP port, `None` when off.
    pub metrics: Option<u16>,
    /// `metrics_path`: custom metrics file or directory.
    pub metrics_path: Option<String>,
    /// `metrics_cache_max_age`: how long a `/metrics` body is served again; zero is off.
    pub metrics_cache_max_age: Duration,
    /// `metrics_cache_max_size`: largest cacheable body in bytes (at most 1M).
    pub metrics_cache_max_size: u64,
    /// `metrics_query_timeout`: per-statement timeout; zero is off, else 50ms to
    /// `statement_timeout`'s largest, 2147483647ms.
    pub metrics_query_timeout: Duration,
    /// `management`: remote management TCP port, `None` when off.
    pub management: Option<u16>,
    /// `bridge`: bridge HTTP port, `None` when off.
    pub bridge: Option<u16>,
    /// `bridge_endpoints`: the exporters the bridge aggregates.
    pub bridge_endpoints: Vec<BridgeEndpoint>,
    /// `bridge_cache_max_age`.
    pub bridge_cache_max_age: Duration,
    /// `bridge_cache_max_size` in bytes.
    pub bridge_cache_max_size: u64,
    /// `bridge_json`: JSON view port of the bridge, `None` when off; needs `bridge`.
    pub bridge_json: Option<u16>,
    /// `bridge_json_cache_max_size` in bytes.
    pub bridge_json_cache_max_size: u64,
    /// `console`: web console port, `None` when off.
    pub console: Option<u16>,
    /// `history`: port of the history API, `None` when off (unset, `0`, `-1` or `off`);
    /// setting it turns history on.
    pub history: Option<u16>,
    /// `history_interval`: least time between two automatic snapshots; zero = only on scrapes.
    pub history_interval: Duration,
    /// `history_retention`: snapshots older than this are pruned.
    pub history_retention: Duration,
    /// `history_backend`: the storage backend.
    pub history_backend: HistoryBackend,
    /// `history_path`: the SQLite database file.
    pub history_path: String,
    /// `history_cert_file`: HTTPS certificate of the history port.
    pub history_cert_file: Option<String>,
    /// `history_key_file`: HTTPS key of the history port.
    pub history_key_file: Option<String>,
    /// `history_ca_file`: CA of the history port's client certificates (required when set).
    pub history_ca_file: Option<String>,
    /// `bridge_history`: port of the history of bridge scrapes, `None` when off.
    pub bridge_history: Option<u16>,
    /// `bridge_history_interval`, as `history_interval` for bridge scrapes.
    pub bridge_history_interval: Duration,
    /// `bridge_history_retention`, as `history_retention` for bridge scrapes.
    pub bridge_history_retention: Duration,
    /// `bridge_history_backend`, as `history_backend` for bridge scrapes.
    pub bridge_history_backend: HistoryBackend,
    /// `bridge_history_path`: the SQLite database file of bridge scrapes.
    pub bridge_history_path: String,
    /// `metrics_openmetrics`: answer OpenMetrics when `Accept` prefers it; off = always the
    /// text format 0.0.4.
    pub metrics_openmetrics: bool,
    /// `alerts`: whether alert metrics are produced.
    pub alerts: bool,
    /// `alerts_path`: alert definition overrides.
    pub alerts_path: Option<String>,
    /// `log_type`.
    pub log_type: LogType,
    /// `log_level`.
    pub log_level: LogLevel,
    /// `log_path`.
    pub log_path: String,
    /// `log_rotation_age`: zero is off.
    pub log_rotation_age: Duration,
    /// `log_rotation_size` in bytes: zero is off.
    pub log_rotation_size: u64,
    /// `log_line_prefix`: strftime format of the line prefix.
    pub log_line_prefix: String,
    /// `log_mode`.
    pub log_mode: LogMode,
    /// `blocking_timeout`.
    pub blocking_timeout: Duration,
    /// `authentication_timeout`: read timeout of HTTP requests and management handshakes.
    pub authentication_timeout: Duration,
    /// `tls`: TLS on the remote management port.
    pub tls: bool,
    /// `tls_cert_file` of remote management.
    pub tls_cert_file: Option<String>,
    /// `tls_key_file` of remote management.
    pub tls_key_file: Option<String>,
    /// `tls_ca_file` of remote management.
    pub tls_ca_file: Option<String>,
    /// `metrics_cert_file`: HTTPS certificate of the metrics port.
    pub metrics_cert_file: Option<String>,
    /// `metrics_key_file`: HTTPS key of the metrics port.
    pub metrics_key_file: Option<String>,
    /// `metrics_ca_file`: when set, client certificates are required on the metrics port.
    pub metrics_ca_file: Option<String>,
    /// `keep_alive` socket option.
    pub keep_alive: bool,
    /// `nodelay` socket option.
    pub nodelay: bool,
    /// `non_blocking` socket option.
    pub non_blocking: bool,
    /// `backlog`: listen backlog.
    pub backlog: u32,
    /// `hugepage`: accepted.
    pub hugepage: Hugepage,
    /// `ev_backend`: accepted and ignored.
    pub ev_backend: String,
    /// `pidfile`: written at start, removed at exit.
    pub pidfile: Option<String>,
    /// `update_process_title`.
    pub update_process_title: ProcessTitle,
    /// `extensions`: extension allow-list; `None` allows all.
    pub extensions: Option<Vec<String>>,
    /// `extensions_path`: a directory of extension definition files that add to or replace
    /// the shipped ones, per extension.
    pub extensions_path: Option<String>,
    /// `extensions_top_statements`: how many statements the per-query families of
    /// pg_stat_statements, pg_stat_monitor, pg_stat_kcache and pg_qualstats report.
    pub extensions_top_statements: u32,
    /// `max_connections_per_server`: the most PostgreSQL connections the collector holds to
    /// one server.
    pub max_connections_per_server: u32,
    /// `collectors`: collector allow-list; `None` allows all.
    pub collectors: Option<Vec<String>>,
    /// `exclude_collectors`: collector deny-list; `None` denies none.
    pub exclude_collectors: Option<Vec<String>>,
}

/// The default of `metrics_cache_max_size`: 256K.
pub const DEFAULT_METRICS_CACHE_MAX_SIZE: u64 = 256 << 10;
/// The largest `metrics_cache_max_size` accepted: 1M.
pub const MAX_METRICS_CACHE_MAX_SIZE: u64 = 1 << 20;
/// The shortest non-zero `metrics_query_timeout` accepted.
pub const MIN_METRICS_QUERY_TIMEOUT: Duration = Duration::from_millis(50);
/// The largest `extensions_top_statements` accepted.
pub const MAX_EXTENSIONS_TOP_STATEMENTS: u32 = 1000;
/// The default of `max_connections_per_server`.
pub const DEFAULT_MAX_CONNECTIONS_PER_SERVER: u32 = 8;
/// The largest `max_connections_per_server` accepted.
pub const MAX_MAX_CONNECTIONS_PER_SERVER: u32 = 1000;
/// The most server sections a configuration may have.
pub const MAX_SERVERS: usize = 64;

impl Default for MainConfig {
    /// The reference's defaults, with `host` and `unix_socket_dir` empty (they are required).
    fn default() -> Self {
        MainConfig {
            host: String::new(),
            unix_socket_dir: String::new(),
            metrics: None,
            metrics_path: None,
            metrics_cache_max_age: Duration::ZERO,
            metrics_cache_max_size: DEFAULT_METRICS_CACHE_MAX_SIZE,
            metrics_query_timeout: Duration::ZERO,
            management: None,
            bridge: None,
            bridge_endpoints: Vec::new(),
            bridge_cache_max_age: Duration::from_secs(300),
            bridge_cache_max_size: 10 << 20,
            bridge_json: None,
            bridge_json_cache_max_size: 10 << 20,
            console: None,
            history: None,
            history_interval: Duration::from_secs(60),
            history_retention: DEFAULT_HISTORY_RETENTION,
            history_backend: HistoryBackend::Sqlite,
            history_path: "pgexporter_history.db".to_owned(),
            history_cert_file: None,
            history_key_file: None,
            history_ca_file: None,
            bridge_history: None,
            bridge_history_interval: Duration::from_secs(60),
            bridge_history_retention: DEFAULT_HISTORY_RETENTION,
            bridge_history_backend: HistoryBackend::Sqlite,
            bridge_history_path: "pgexporter_bridge_history.db".to_owned(),
            metrics_openmetrics: false,
            alerts: false,
            alerts_path: None,
            log_type: LogType::Console,
            log_level: LogLevel::Info,
            log_path: "pgexporter.log".to_owned(),
            log_rotation_age: Duration::ZERO,
            log_rotation_size: 0,
            log_line_prefix: "%Y-%m-%d %H:%M:%S".to_owned(),
            log_mode: LogMode::Append,
            blocking_timeout: Duration::from_secs(30),
            authentication_timeout: Duration::from_secs(5),
            tls: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            metrics_cert_file: None,
            metrics_key_file: None,
            metrics_ca_file: None,
            keep_alive: true,
            nodelay: true,
            non_blocking: true,
            backlog: 16,
            hugepage: Hugepage::Try,
            ev_backend: "auto".to_owned(),
            pidfile: None,
            update_process_title: ProcessTitle::Verbose,
            extensions: None,
            extensions_path: None,
            extensions_top_statements: crate::metrics::DEFAULT_TOP_STATEMENTS,
            max_connections_per_server: DEFAULT_MAX_CONNECTIONS_PER_SERVER,
            collectors: None,
            exclude_collectors: None,
        }
    }
}

impl MainConfig {
    /// Applies `-C/--collectors` and `-X/--exclude-collectors` from the command line: a list
    /// given there replaces the key of the file. Items are trimmed and empty ones dropped; a
    /// list that ends up empty, like `None`, keeps the file's value.
    pub fn override_collectors(
        &mut self,
        collectors: Option<Vec<String>>,
        exclude_collectors: Option<Vec<String>>,
    ) {
        if let Some(list) = non_empty_items(collectors) {
            self.collectors = Some(list);
        }
        if let Some(list) = non_empty_items(exclude_collectors) {
            self.exclude_collectors = Some(list);
        }
    }
}

fn non_empty_items(list: Option<Vec<String>>) -> Option<Vec<String>> {
    let items: Vec<String> = list?
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// One server section. Field names are the key names; see SPEC §2.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The section name, used as the `server` label.
    pub name: String,
    /// `host`: host name or IP; a value starting with `/` is a Unix socket directory.
    pub host: String,
    /// `port`.
    pub port: u16,
    /// `user`: required for PostgreSQL servers.
    pub user: Option<String>,
    /// `type`.
    pub server_type: ServerType,
    /// `tls`.
    pub tls: TlsMode,
    /// `tls_cert_file`: client certificate.
    pub tls_cert_file: Option<String>,
    /// `tls_key_file`: client key.
    pub tls_key_file: Option<String>,
    /// `tls_ca_file`: CA that signs the server certificate.
    pub tls_ca_file: Option<String>,
    /// `extensions`: per-server allow-list; `None` uses the global one.
    pub extensions: Option<Vec<String>>,
}

impl ServerConfig {
    /// A server named `name` with every key at its default and `host`, `port` unset (empty
    /// and 0): the loader fills them in and checks they were given.
    pub fn new(name: &str) -> Self {
        ServerConfig {
            name: name.to_owned(),
            host: String::new(),
            port: 0,
            user: None,
            server_type: ServerType::Postgresql,
            tls: TlsMode::Try,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            extensions: None,
        }
    }
}

/// A whole configuration: the main section and the servers in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The `[pgexporter]` section.
    pub main: MainConfig,
    /// One entry per server section, in the order of the file.
    pub servers: Vec<ServerConfig>,
}

impl Config {
    /// The server whose section is named `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|server| server.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|item| item.to_string()).collect())
    }

    #[test]
    fn command_line_collectors_replace_the_file() {
        let mut main = MainConfig {
            collectors: list(&["db"]),
            exclude_collectors: list(&["locks"]),
            ..MainConfig::default()
        };
        main.override_collectors(None, None);
        assert_eq!(main.collectors, list(&["db"]));
        assert_eq!(main.exclude_collectors, list(&["locks"]));
        main.override_collectors(list(&[" primary ", "", "db"]), list(&[""]));
        assert_eq!(main.collectors, list(&["primary", "db"]));
        assert_eq!(main.exclude_collectors, list(&["locks"]));
        main.override_collectors(None, list(&["idle_procs"]));
        assert_eq!(main.collectors, list(&["primary", "db"]));
        assert_eq!(main.exclude_collectors, list(&["idle_procs"]));
    }

    #[test]
    fn defaults_follow_the_specification() {
        let main = MainConfig::default();
        assert_eq!(main.metrics_cache_max_size, 256 * 1024);
        assert_eq!(main.bridge_cache_max_age, Duration::from_secs(300));
        assert_eq!(main.bridge_cache_max_size, 10 * 1024 * 1024);
        assert_eq!(main.blocking_timeout, Duration::from_secs(30));
        assert_eq!(main.authentication_timeout, Duration::from_secs(5));
        assert_eq!(main.log_path, "pgexporter.log");
        assert_eq!(main.log_line_prefix, "%Y-%m-%d %H:%M:%S");
        assert_eq!(main.backlog, 16);
        assert_eq!(main.hugepage, Hugepage::Try);
        assert_eq!(main.update_process_title, ProcessTitle::Verbose);
        assert!(main.keep_alive && main.nodelay && main.non_blocking);
        let server = ServerConfig::new("s");
        assert_eq!(server.server_type, ServerType::Postgresql);
        assert_eq!(server.tls, TlsMode::Try);
    }
}
