//! From sections of text entries to a validated [`Config`]. The INI and the TOML readers both
//! end here, so the two formats follow the same rules.
//!
//! Decisions: a key given twice in one section is a warning and the last value wins (as the
//! reference reads it); a section given twice is fatal; unknown keys are warnings; `cache`,
//! `data_dir` and `wal_dir` are accepted silently.

use std::collections::HashMap;

use super::error::{ConfigError, ErrorKind, Warning, WarningKind};
use super::ini::{self, Section};
use super::keys::{self, Assigned};
use super::model::{Config, MAX_SERVERS, ServerConfig};
use super::validate::{Violation, validate};
use super::values::EnvLookup;

/// The name of the main section.
pub const MAIN_SECTION: &str = "pgexporter";

/// A section name no server may take.
pub const RESERVED_SECTION: &str = "all";

/// A configuration that loaded, with what was noticed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Unknown and repeated keys, in file order.
    pub warnings: Vec<Warning>,
}

/// Parses and validates INI text. `file` is used only in messages; `env` resolves `$VAR` in
/// path keys. The first error stops the load.
pub fn load_ini(text: &str, file: &str, env: EnvLookup<'_>) -> Result<Loaded, ConfigError> {
    let sections = ini::parse(text).map_err(|err| ConfigError {
        file: file.to_owned(),
        line: Some(err.line),
        key: None,
        kind: err.error.into(),
    })?;
    build(&sections, file, env)
}

/// Where each section and key was, to put a place on validation errors.
#[derive(Default)]
struct Places {
    main_line: usize,
    server_lines: Vec<usize>,
    keys: HashMap<(Option<usize>, String), usize>,
}

impl Places {
    fn locate(&self, violation: &Violation) -> Option<usize> {
        let section_line = match violation.server {
            None => Some(self.main_line),
            Some(index) => self.server_lines.get(index).copied(),
        };
        violation
            .key
            .and_then(|key| self.keys.get(&(violation.server, key.to_owned())).copied())
            .or(section_line)
    }
}

/// Builds the configuration from parsed sections: assigns every entry, then validates.
pub(crate) fn build(
    sections: &[Section],
    file: &str,
    env: EnvLookup<'_>,
) -> Result<Loaded, ConfigError> {
    let error = |line: usize, key: Option<&str>, kind: ErrorKind| ConfigError {
        file: file.to_owned(),
        line: Some(line),
        key: key.map(str::to_owned),
        kind,
    };
    let mut config = Config::default();
    let mut places = Places::default();
    let mut warnings = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut has_main = false;

    for section in sections {
        if section.name == RESERVED_SECTION {
            return Err(error(
                section.line,
                None,
                ErrorKind::ReservedSection(section.name.clone()),
            ));
        }
        if let Some(first_line) = seen.insert(&section.name, section.line) {
            return Err(error(
                section.line,
                None,
                ErrorKind::DuplicateSection {
                    name: section.name.clone(),
                    first_line,
                },
            ));
        }
        let server_index = if section.name == MAIN_SECTION {
            has_main = true;
            places.main_line = section.line;
            None
        } else {
            if config.servers.len() == MAX_SERVERS {
                return Err(error(
                    section.line,
                    None,
                    super::error::Problem::TooManyServers.into(),
                ));
            }
            config.servers.push(ServerConfig::new(&section.name));
            places.server_lines.push(section.line);
            Some(config.servers.len() - 1)
        };
        for entry in &section.entries {
            let assigned = match server_index.and_then(|index| config.servers.get_mut(index)) {
                Some(server) => keys::assign_server(server, &entry.key, &entry.value, env),
                None => keys::assign_main(&mut config.main, &entry.key, &entry.value, env),
            }
            .map_err(|err| error(entry.line, Some(&entry.key), err.into()))?;
            let kind = match assigned {
                Assigned::Ignored => continue,
                Assigned::Unknown => Some(WarningKind::UnknownKey),
                Assigned::Set => places
                    .keys
                    .insert((server_index, entry.key.clone()), entry.line)
                    .map(|first_line| WarningKind::DuplicateKey { first_line }),
            };
            if let Some(kind) = kind {
                warnings.push(Warning {
                    file: file.to_owned(),
                    line: entry.line,
                    key: entry.key.clone(),
                    kind,
                });
            }
        }
    }
    if !has_main {
        return Err(ConfigError {
            file: file.to_owned(),
            line: None,
            key: None,
            kind: ErrorKind::MissingMainSection,
        });
    }
    validate(&config).map_err(|violation| ConfigError {
        file: file.to_owned(),
        line: places.locate(&violation),
        key: violation.key.map(str::to_owned),
        kind: violation.problem.into(),
    })?;
    Ok(Loaded { config, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{
        BridgeEndpoint, DEFAULT_HISTORY_RETENTION, HistoryBackend, Hugepage, LogLevel, LogMode,
        LogType, MainConfig, ProcessTitle, ServerType, TlsMode,
    };
    use std::time::Duration;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load(text: &str) -> Result<Loaded, ConfigError> {
        load_ini(text, "pgexporter.conf", &no_env)
    }

    fn error_text(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    const SAMPLE: &str = "[pgexporter]
host = *
metrics = 5002

log_type = file
log_level = info
log_path = /tmp/pgexporter.log

unix_socket_dir = /tmp/

[primary]
host = localhost
port = 5432
user = pgexporter
";

    const HEAD: &str = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n";

    fn with_main(lines: &str) -> String {
        format!("{HEAD}{lines}\n[primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n")
    }

    #[test]
    fn the_documented_sample_loads() {
        let loaded = load(SAMPLE).unwrap();
        assert!(loaded.warnings.is_empty());
        let config = loaded.config;
        assert_eq!(config.main.host, "*");
        assert_eq!(config.main.metrics, Some(5002));
        assert_eq!(config.main.log_type, LogType::File);
        assert_eq!(config.main.log_level, LogLevel::Info);
        assert_eq!(config.main.log_path, "/tmp/pgexporter.log");
        assert_eq!(config.main.unix_socket_dir, "/tmp/");
        assert_eq!(config.servers.len(), 1);
        let server = &config.servers[0];
        assert_eq!(server.name, "primary");
        assert_eq!(server.host, "localhost");
        assert_eq!(server.port, 5432);
        assert_eq!(server.user.as_deref(), Some("pgexporter"));
        assert_eq!(server.server_type, ServerType::Postgresql);
        assert_eq!(server.tls, TlsMode::Try);
    }

    #[test]
    fn the_newest_reference_keys_parse_with_its_types() {
        let text = with_main(
            "history = 5005\nhistory_retention = 30d\nbridge_history = -1\nconsole = off",
        );
        let loaded = load(&text).unwrap();
        assert_eq!(loaded.config.main.history, Some(5005));
        assert_eq!(loaded.config.main.bridge_history, None);
        assert_eq!(loaded.config.main.console, None);
        assert!(
            loaded.warnings.is_empty(),
            "the history is built: {:?}",
            loaded.warnings
        );
        let error = load(&with_main("history = on")).unwrap_err().to_string();
        assert!(error.contains("key 'history'"), "{error}");
        let defaults = load(&with_main("")).unwrap().config.main;
        assert_eq!(defaults.history_retention, DEFAULT_HISTORY_RETENTION);
        assert_eq!(defaults.history_path, "pgexporter_history.db");
        assert!(!defaults.metrics_openmetrics);
    }

    #[test]
    fn every_main_key_is_parsed() {
        let text = with_main(
            "metrics_path = /m
metrics_cache_max_age = 5m
metrics_cache_max_size = 512K
metrics_query_timeout = 250ms
management = 5003
bridge = 5004
bridge_endpoints = a:5002, b:5002
bridge_cache_max_age = 1m
bridge_cache_max_size = 2M
bridge_json = 5005
bridge_json_cache_max_size = 3M
console = 5006
history = 5007
history_interval = 10s
history_retention = 2w
history_backend = sqlite
history_path = /h
history_cert_file = /hc
history_key_file = /hk
history_ca_file = /hca
bridge_history = 5008
bridge_history_interval = 0
bridge_history_retention = 1d
bridge_history_backend = SQLite
bridge_history_path = /bh
metrics_openmetrics = on
alerts = yes
alerts_path = /a
log_type = syslog
log_level = debug3
log_path = /l
log_rotation_age = 1d
log_rotation_size = 1G
log_line_prefix = '%H:%M '
log_mode = create
blocking_timeout = 10
authentication_timeout = 2s
tls = true
tls_cert_file = /c
tls_key_file = /k
tls_ca_file = /ca
metrics_cert_file = /mc
metrics_key_file = /mk
metrics_ca_file = /mca
keep_alive = off
nodelay = no
non_blocking = 0
backlog = 128
hugepage = off
ev_backend = io_uring
pidfile = /run/p.pid
update_process_title = minimal
extensions = pg_stat_statements, timescaledb
extensions_path = /e
extensions_top_statements = 50
max_connections_per_server = 3
collectors = db,locks
exclude_collectors = idle_procs
cache = on
data_dir = /d
wal_dir = /w",
        );
        let loaded = load(&text).unwrap();
        assert_eq!(loaded.warnings, []);
        let expected = MainConfig {
            host: "*".into(),
            unix_socket_dir: "/tmp".into(),
            metrics: Some(5002),
            metrics_path: Some("/m".into()),
            metrics_cache_max_age: Duration::from_secs(300),
            metrics_cache_max_size: 512 << 10,
            metrics_query_timeout: Duration::from_millis(250),
            management: Some(5003),
            bridge: Some(5004),
            bridge_endpoints: vec![
                BridgeEndpoint {
                    host: "a".into(),
                    port: 5002,
                },
                BridgeEndpoint {
                    host: "b".into(),
                    port: 5002,
                },
            ],
            bridge_cache_max_age: Duration::from_secs(60),
            bridge_cache_max_size: 2 << 20,
            bridge_json: Some(5005),
            bridge_json_cache_max_size: 3 << 20,
            console: Some(5006),
            history: Some(5007),
            history_interval: Duration::from_secs(10),
            history_retention: Duration::from_secs(14 * 86_400),
            history_backend: HistoryBackend::Sqlite,
            history_path: "/h".into(),
            history_cert_file: Some("/hc".into()),
            history_key_file: Some("/hk".into()),
            history_ca_file: Some("/hca".into()),
            bridge_history: Some(5008),
            bridge_history_interval: Duration::ZERO,
            bridge_history_retention: Duration::from_secs(86_400),
            bridge_history_backend: HistoryBackend::Sqlite,
            bridge_history_path: "/bh".into(),
            metrics_openmetrics: true,
            alerts: true,
            alerts_path: Some("/a".into()),
            log_type: LogType::Syslog,
            log_level: LogLevel::Debug3,
            log_path: "/l".into(),
            log_rotation_age: Duration::from_secs(86_400),
            log_rotation_size: 1 << 30,
            log_line_prefix: "%H:%M ".into(),
            log_mode: LogMode::Create,
            blocking_timeout: Duration::from_secs(10),
            authentication_timeout: Duration::from_secs(2),
            tls: true,
            tls_cert_file: Some("/c".into()),
            tls_key_file: Some("/k".into()),
            tls_ca_file: Some("/ca".into()),
            metrics_cert_file: Some("/mc".into()),
            metrics_key_file: Some("/mk".into()),
            metrics_ca_file: Some("/mca".into()),
            keep_alive: false,
            nodelay: false,
            non_blocking: false,
            backlog: 128,
            hugepage: Hugepage::Off,
            ev_backend: "io_uring".into(),
            pidfile: Some("/run/p.pid".into()),
            update_process_title: ProcessTitle::Minimal,
            extensions: Some(vec!["pg_stat_statements".into(), "timescaledb".into()]),
            extensions_path: Some("/e".into()),
            extensions_top_statements: 50,
            max_connections_per_server: 3,
            collectors: Some(vec!["db".into(), "locks".into()]),
            exclude_collectors: Some(vec!["idle_procs".into()]),
        };
        assert_eq!(loaded.config.main, expected);
    }

    #[test]
    fn every_server_key_is_parsed() {
        let text = format!(
            "{HEAD}[replica]\nhost = /var/run/postgresql\nport = 5433\nuser = u\ntype = postgresql\n\
             tls = on\ntls_cert_file = /c\ntls_key_file = /k\ntls_ca_file = /ca\n\
             extensions = a,b\ndata_dir = /d\nwal_dir = /w\n\
             [remote]\nhost = exporter\nport = 9100\ntype = prometheus\ntls = off\n"
        );
        let loaded = load(&text).unwrap();
        assert!(loaded.warnings.is_empty());
        let replica = &loaded.config.servers[0];
        assert_eq!(
            *replica,
            ServerConfig {
                name: "replica".into(),
                host: "/var/run/postgresql".into(),
                port: 5433,
                user: Some("u".into()),
                server_type: ServerType::Postgresql,
                tls: TlsMode::On,
                tls_cert_file: Some("/c".into()),
                tls_key_file: Some("/k".into()),
                tls_ca_file: Some("/ca".into()),
                extensions: Some(vec!["a".into(), "b".into()]),
            }
        );
        let remote = &loaded.config.servers[1];
        assert_eq!(remote.server_type, ServerType::Prometheus);
        assert_eq!(remote.user, None);
        assert_eq!(remote.tls, TlsMode::Off);
    }

    #[test]
    fn path_keys_expand_the_environment() {
        let env = |name: &str| (name == "PGX").then(|| "/opt/pgx".to_owned());
        let text = with_main("log_path = ${PGX}/log\nmetrics_path = $PGX/metrics");
        let config = load_ini(&text, "pgexporter.conf", &env).unwrap().config;
        assert_eq!(config.main.log_path, "/opt/pgx/log");
        assert_eq!(
            config.main.metrics_path.as_deref(),
            Some("/opt/pgx/metrics")
        );
        assert_eq!(
            error_text(&with_main("log_path = $MISSING/log")),
            "pgexporter.conf:5: key 'log_path': environment variable 'MISSING' is not set"
        );
    }

    #[test]
    fn unknown_and_repeated_keys_are_warnings() {
        let loaded = load(&with_main(
            "colour = blue\nlog_level = warn\nlog_level = error",
        ))
        .unwrap();
        assert_eq!(loaded.config.main.log_level, LogLevel::Error);
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            vec![
                "pgexporter.conf:5: key 'colour': unknown key, ignored".to_owned(),
                "pgexporter.conf:7: key 'log_level': given again (first at line 6); the last value is used"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn every_error_names_file_line_and_key() {
        let cases = [
            (
                with_main("metrics_query_timeout = 5x"),
                "pgexporter.conf:5: key 'metrics_query_timeout': invalid duration '5x' (expected digits with optional unit ms, s, m, h, d or w)",
            ),
            (
                with_main("metrics_query_timeout = 10ms"),
                "pgexporter.conf:5: key 'metrics_query_timeout': 10ms is out of range (expected 0 (off) or 50ms to 2147483647ms)",
            ),
            (
                with_main("metrics_cache_max_size = 2M"),
                "pgexporter.conf:5: key 'metrics_cache_max_size': 2M is out of range (expected 0 to 1M)",
            ),
            (
                with_main("keep_alive = maybe"),
                "pgexporter.conf:5: key 'keep_alive': invalid boolean 'maybe' (expected on, yes, 1, true, off, no, 0 or false)",
            ),
            (
                with_main("log_rotation_size = 10T"),
                "pgexporter.conf:5: key 'log_rotation_size': invalid size '10T' (expected digits with optional unit B, K, KB, M, MB, G or GB)",
            ),
            (
                with_main("management = 5002"),
                "pgexporter.conf:5: key 'management': port 5002 is already used by 'metrics'",
            ),
            (
                with_main("bridge_json = 5010"),
                "pgexporter.conf:5: key 'bridge_json': needs 'bridge' to be set",
            ),
            (
                with_main("backlog = 0"),
                "pgexporter.conf:5: key 'backlog': invalid number '0' (expected a positive whole number)",
            ),
            (
                "[pgexporter]\nhost = *\nmetrics = 5002\n[primary]\nhost = h\nport = 1\nuser = u\n".to_owned(),
                "pgexporter.conf:1: key 'unix_socket_dir': required in section [pgexporter]",
            ),
            (
                "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\n[p]\nhost = h\nport = 1\nuser = u\n".to_owned(),
                "pgexporter.conf:1: at least one of 'metrics' or 'bridge' must be set",
            ),
            (
                format!("{HEAD}[p]\nhost = h\nport = 5432\n"),
                "pgexporter.conf:5: key 'user': required in section [p]",
            ),
            (
                format!("{HEAD}[p]\nhost = h\nport = 65536\nuser = u\n"),
                "pgexporter.conf:7: key 'port': invalid port '65536' (expected a number from 1 to 65535)",
            ),
            (
                format!("{HEAD}[p]\nhost = h\nport = 0\nuser = u\n"),
                "pgexporter.conf:7: key 'port': invalid port '0' (expected a number from 1 to 65535)",
            ),
            (
                format!("{HEAD}[p]\nport = 1\nuser = u\n"),
                "pgexporter.conf:5: key 'host': required in section [p]",
            ),
            (
                format!("{HEAD}[p]\nhost = h\nport = 1\nuser = u\n[p]\n"),
                "pgexporter.conf:9: duplicate section [p] (first at line 5)",
            ),
            (
                format!("{HEAD}[pgexporter]\n"),
                "pgexporter.conf:5: duplicate section [pgexporter] (first at line 1)",
            ),
            (
                format!("{HEAD}[all]\nhost = h\n"),
                "pgexporter.conf:5: section name 'all' is reserved",
            ),
            (
                HEAD.to_owned(),
                "pgexporter.conf:1: no server sections (at least one is needed unless 'bridge' is set)",
            ),
            (
                "[p]\nhost = h\nport = 1\nuser = u\n".to_owned(),
                "pgexporter.conf: missing [pgexporter] section",
            ),
            (
                format!("{HEAD}oops\n"),
                "pgexporter.conf:5: expected 'key = value', a '[section]' header or a comment",
            ),
            (
                format!("{HEAD}tls = 'on\n"),
                "pgexporter.conf:5: unterminated quoted value",
            ),
            (
                format!("{HEAD}log_level = verbose\n"),
                "pgexporter.conf:5: key 'log_level': invalid log level 'verbose' (expected fatal, error, warn, info, debug or debug1 to debug5)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(load(&text).unwrap_err().to_string(), expected, "{text}");
        }
    }

    #[test]
    fn at_most_64_servers() {
        let mut text = HEAD.to_owned();
        for index in 0..=MAX_SERVERS {
            text.push_str(&format!("[s{index}]\nhost = h\nport = 5432\nuser = u\n"));
        }
        let err = load(&text).unwrap_err();
        assert_eq!(
            err.kind,
            super::super::error::Problem::TooManyServers.into()
        );
        assert_eq!(err.line, Some(5 + 4 * MAX_SERVERS));
    }

    #[test]
    fn a_bridge_needs_no_servers() {
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nbridge = 5003\nbridge_endpoints = a:5002\n";
        let config = load(text).unwrap().config;
        assert!(config.servers.is_empty());
        assert_eq!(config.main.bridge, Some(5003));
    }

    #[test]
    fn syntax_variations_give_the_same_config() {
        let plain = load(SAMPLE).unwrap().config;
        let decorated = "; leading comment\n# another\n\n  [pgexporter]   # main\n\thost\t=\t\"*\"\n\
            metrics = 5002 # port\n  log_type = 'file'\nlog_level=info\n\
            log_path = \"/tmp/pgexporter.log\"   \nunix_socket_dir = /tmp/ ; # trailing\n\n[primary]\n\
            host = localhost\nport = \"5432\"\nuser = pgexporter\n";
        let with_semicolon = load(decorated).unwrap().config;
        assert_eq!(
            with_semicolon.main.unix_socket_dir, "/tmp/ ;",
            "a ';' inside a value is not a comment"
        );
        let decorated = decorated.replace("/tmp/ ; # trailing", "/tmp/ # trailing");
        assert_eq!(load(&decorated).unwrap().config, plain);
    }

    #[test]
    fn empty_values() {
        let config = load(&with_main("metrics_path =\nextensions = \"\""))
            .unwrap()
            .config;
        assert_eq!(config.main.metrics_path, None);
        assert_eq!(config.main.extensions, None);
        assert_eq!(
            error_text(&with_main("log_level =")),
            "pgexporter.conf:5: key 'log_level': invalid log level '' (expected fatal, error, warn, info, debug or debug1 to debug5)"
        );
    }
}
