//! The running plan: what the daemon serves and collects, made from a [`Config`] in one place,
//! with every default of its own and typed errors.
//!
//! The files a plan depends on (the users file's passwords, the metric files, the admins'
//! verifiers, the master key) are read by the host and passed in as [`PlanInputs`]; the TLS
//! files are named here and read by whoever owns the TLS library. A server carries its own
//! [`Target`], so nothing that connects ever looks a server up by position.

mod target;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::alerts::AlertSet;
use crate::bridge::BridgeSettings;
use crate::config::{Config, MainConfig, ServerType};
use crate::fetch::Endpoint;
use crate::history::HistorySettings;
use crate::http::{HttpConfig, Paths};
use crate::management::handshake::AdminVerifiers;
use crate::metrics::{CollectorFilter, ExtensionFilter, MetricSet};
use crate::scrape::{CollectorSettings, Reconfiguration, ServerSpec};
use crate::secret::Secret;
use crate::serve::Site;
use crate::vault::MasterKey;

pub use target::{Address, ClientTlsFiles, ServerTlsFiles, Target};

/// How long a scrape may take when Prometheus does not say: its own default scrape timeout.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for the requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Shown in `pg_stat_activity.application_name`.
pub const APPLICATION_NAME: &str = "pgexporter";
/// The name of the management socket in `unix_socket_dir`.
pub const MANAGEMENT_SOCKET: &str = ".s.pgexporter";
/// How long a PostgreSQL connection may take to be established with `blocking_timeout = 0`
/// (off, as the reference reads it): the longest `blocking_timeout` accepted. The scrape's
/// deadline still ends a connection that is late for it.
pub const UNBOUNDED_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Why a configuration cannot be served. Each names the keys at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Nothing to serve Prometheus on.
    #[error("neither the metrics port nor the bridge port is set")]
    NoMetricsPort,
    /// One of a certificate and its key is set without the other.
    #[error("{cert} and {key} must be set together")]
    IncompleteTlsPair {
        /// The certificate key's name.
        cert: &'static str,
        /// The private key's key name.
        key: &'static str,
    },
    /// `tls = on` without the certificate and key to serve it.
    #[error("tls = on needs tls_cert_file and tls_key_file")]
    ManagementTlsWithoutFiles,
}

/// What the host read for a plan.
#[derive(Clone)]
pub struct PlanInputs {
    /// The users file's passwords, by role.
    pub passwords: HashMap<String, Secret>,
    /// The metric definitions.
    pub metrics: Arc<MetricSet>,
    /// The admins' SCRAM verifiers (read once, at start).
    pub admins: Arc<AdminVerifiers>,
    /// The master key, when the daemon has one (derived once, at start).
    pub master_key: Option<Arc<MasterKey>>,
    /// The alerts to evaluate on every scrape; `None` when alerting is off.
    pub alerts: Option<Arc<AlertSet>>,
}

/// Everything a configuration change may alter while the daemon runs.
#[derive(Clone)]
pub struct Plan {
    /// The PostgreSQL servers, in configuration order.
    pub servers: Vec<ServerSpec>,
    /// The metric definitions.
    pub metrics: Arc<MetricSet>,
    /// Which collectors run.
    pub filter: CollectorFilter,
    /// Timeouts and cache of the collector.
    pub collector: CollectorSettings,
    /// The bridge's endpoints and cache.
    pub bridge: BridgeSettings,
    /// What accepted connections are served with.
    pub served: Arc<Served>,
    /// Snapshots of `/metrics` scrapes (`history`); `None` when off.
    pub history: Option<HistorySettings>,
    /// Snapshots of bridge scrapes (`bridge_history`); `None` when off.
    pub bridge_history: Option<HistorySettings>,
}

/// What a newly accepted connection is served with: fixed for the connection's life, replaced
/// for connections accepted after a reload.
pub struct Served {
    /// Limits and timeouts of HTTP connections.
    pub http: HttpConfig,
    /// The HTTP answers of the metric set.
    pub site: Site,
    /// The section names of the configured servers: the targets `/probe` accepts.
    pub servers: Vec<String>,
    /// HTTPS on the metrics port (`metrics_cert_file`, `metrics_key_file`, client certificates
    /// with `metrics_ca_file`).
    pub metrics_tls: Option<ServerTlsFiles>,
    /// `authentication_timeout`: how long a management client may take with its request.
    pub management_timeout: Duration,
    /// TLS of remote management (`tls = on`); `None` answers `N` to an SSLRequest.
    pub management_tls: Option<ServerTlsFiles>,
    /// The admins of remote management.
    pub admins: Arc<AdminVerifiers>,
    /// Opens and seals encrypted management frames.
    pub master_key: Option<Arc<MasterKey>>,
    /// Limits, timeouts and paths of connections on the history port.
    pub history_http: HttpConfig,
    /// HTTPS on the history ports, `history` and `bridge_history` alike (`history_cert_file`,
    /// `history_key_file`, client certificates with `history_ca_file`).
    pub history_tls: Option<ServerTlsFiles>,
    /// HTTP settings of console connections (`/`, `/index.html` and `/api`).
    pub console_http: HttpConfig,
}

impl Plan {
    /// The plan of `config` with what the host read for it.
    ///
    /// # Errors
    /// A [`PlanError`] naming the keys at fault.
    pub fn new(config: &Config, inputs: PlanInputs) -> Result<Plan, PlanError> {
        let main = &config.main;
        let servers = config
            .servers
            .iter()
            .map(|server| match server.server_type {
                ServerType::Postgresql => {
                    let user = server.user.clone().unwrap_or_default();
                    ServerSpec {
                        name: server.name.clone(),
                        kind: ServerType::Postgresql,
                        password: inputs.passwords.get(&user).cloned(),
                        user,
                        target: Arc::new(Target {
                            address: Address::new(&server.host, server.port),
                            tls: server.tls,
                            tls_files: ClientTlsFiles {
                                ca_file: server.tls_ca_file.as_ref().map(PathBuf::from),
                                cert_file: server.tls_cert_file.as_ref().map(PathBuf::from),
                                key_file: server.tls_key_file.as_ref().map(PathBuf::from),
                            },
                        }),
                    }
                }
                ServerType::Prometheus => ServerSpec {
                    name: server.name.clone(),
                    kind: ServerType::Prometheus,
                    user: String::new(),
                    password: None,
                    target: Arc::new(Target::plain_tcp(&server.host, server.port)),
                },
            })
            .collect();
        let collectors = main.collectors.clone().unwrap_or_default();
        let excluded = main.exclude_collectors.clone().unwrap_or_default();
        let served = Served {
            http: HttpConfig {
                openmetrics: main.metrics_openmetrics,
                ..HttpConfig::new(main.authentication_timeout)
            },
            site: Site::new(&inputs.metrics),
            servers: config
                .servers
                .iter()
                .map(|server| server.name.clone())
                .collect(),
            metrics_tls: metrics_tls(main)?,
            management_timeout: main.authentication_timeout,
            management_tls: management_tls(main)?,
            admins: inputs.admins,
            master_key: inputs.master_key,
            history_http: HttpConfig {
                paths: Paths::History,
                ..HttpConfig::new(main.authentication_timeout)
            },
            history_tls: history_tls(main)?,
            console_http: HttpConfig {
                paths: Paths::Console,
                ..HttpConfig::new(main.authentication_timeout)
            },
        };
        Ok(Plan {
            servers,
            filter: CollectorFilter::new(&collectors, &excluded)
                .with_extensions(extension_filter(config)),
            collector: CollectorSettings {
                query_timeout: (!main.metrics_query_timeout.is_zero())
                    .then_some(main.metrics_query_timeout),
                connect_timeout: if main.blocking_timeout.is_zero() {
                    UNBOUNDED_CONNECT_TIMEOUT
                } else {
                    main.blocking_timeout
                },
                application_name: APPLICATION_NAME.to_owned(),
                cache_max_age: main.metrics_cache_max_age,
                default_scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
                max_connections_per_server: main.max_connections_per_server as usize,
                alerts: inputs.alerts,
            },
            bridge: bridge_settings(main),
            metrics: inputs.metrics,
            served: Arc::new(served),
            history: main.history.map(|_| HistorySettings {
                interval: main.history_interval,
                retention: main.history_retention,
            }),
            bridge_history: main.bridge_history.map(|_| HistorySettings {
                interval: main.bridge_history_interval,
                retention: main.bridge_history_retention,
            }),
        })
    }
}

impl Plan {
    /// The parts of the plan a running collector takes.
    pub fn reconfiguration(&self) -> Reconfiguration {
        Reconfiguration {
            servers: self.servers.clone(),
            metrics: Arc::clone(&self.metrics),
            filter: self.filter.clone(),
            settings: self.collector.clone(),
        }
    }
}

/// The bridge's endpoints, cache and limits.
fn bridge_settings(main: &MainConfig) -> BridgeSettings {
    let size = |bytes: u64| usize::try_from(bytes).unwrap_or(usize::MAX);
    BridgeSettings {
        endpoints: main
            .bridge_endpoints
            .iter()
            .map(|endpoint| Endpoint::new(&endpoint.host, endpoint.port))
            .collect(),
        cache_max_age: main.bridge_cache_max_age,
        cache_max_size: size(main.bridge_cache_max_size),
        json_max_size: size(main.bridge_json_cache_max_size),
        default_timeout: DEFAULT_SCRAPE_TIMEOUT,
    }
}

/// Which extensions' metrics run on each server: its `extensions` list, else the global one.
fn extension_filter(config: &Config) -> ExtensionFilter {
    let per_server: Vec<(&str, &[String])> = config
        .servers
        .iter()
        .filter_map(|server| Some((server.name.as_str(), server.extensions.as_deref()?)))
        .collect();
    ExtensionFilter::new(config.main.extensions.as_deref(), &per_server)
}

/// HTTPS on the metrics port: `metrics_cert_file` and `metrics_key_file` together.
fn metrics_tls(main: &MainConfig) -> Result<Option<ServerTlsFiles>, PlanError> {
    https_files(
        ("metrics_cert_file", &main.metrics_cert_file),
        ("metrics_key_file", &main.metrics_key_file),
        &main.metrics_ca_file,
    )
}

/// HTTPS on the history port: `history_cert_file` and `history_key_file` together.
fn history_tls(main: &MainConfig) -> Result<Option<ServerTlsFiles>, PlanError> {
    https_files(
        ("history_cert_file", &main.history_cert_file),
        ("history_key_file", &main.history_key_file),
        &main.history_ca_file,
    )
}

/// The files of an HTTPS port: a certificate and its key (named by their keys), both or none,
/// and the CA of client certificates.
fn https_files(
    (cert, cert_file): (&'static str, &Option<String>),
    (key, key_file): (&'static str, &Option<String>),
    client_ca_file: &Option<String>,
) -> Result<Option<ServerTlsFiles>, PlanError> {
    match (cert_file, key_file) {
        (None, None) => Ok(None),
        (Some(cert_file), Some(key_file)) => Ok(Some(ServerTlsFiles {
            cert_file: PathBuf::from(cert_file),
            key_file: PathBuf::from(key_file),
            client_ca_file: client_ca_file.as_ref().map(PathBuf::from),
        })),
        _ => Err(PlanError::IncompleteTlsPair { cert, key }),
    }
}

/// The TLS of remote management: `None` unless `tls = on`.
fn management_tls(main: &MainConfig) -> Result<Option<ServerTlsFiles>, PlanError> {
    if !main.tls {
        return Ok(None);
    }
    let (Some(cert_file), Some(key_file)) = (&main.tls_cert_file, &main.tls_key_file) else {
        return Err(PlanError::ManagementTlsWithoutFiles);
    };
    Ok(Some(ServerTlsFiles {
        cert_file: PathBuf::from(cert_file),
        key_file: PathBuf::from(key_file),
        client_ca_file: main.tls_ca_file.as_ref().map(PathBuf::from),
    }))
}

/// The listeners the daemon opens at start (every listener key needs a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// `host`: what the TCP listeners bind to (`*` for every interface).
    pub host: String,
    /// The TCP listeners: a kind of service on a port.
    pub ports: Vec<(ListenerKind, u16)>,
    /// Whether the metrics port speaks HTTPS.
    pub metrics_tls: bool,
    /// Whether the history ports (`history`, `bridge_history`) speak HTTPS.
    pub history_tls: bool,
    /// The management socket, `<unix_socket_dir>/.s.pgexporter`.
    pub unix_socket: PathBuf,
    /// `backlog`: pending connections per listener.
    pub backlog: u32,
}

/// What a listener serves: the kind of connection each accepted socket becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// The Prometheus endpoint (`metrics`).
    Metrics,
    /// Remote management (`management`).
    RemoteManagement,
    /// The management socket.
    LocalManagement,
    /// The history API (`history`).
    History,
    /// The history API over bridge scrapes (`bridge_history`).
    BridgeHistory,
    /// The bridge (`bridge`).
    Bridge,
    /// The bridge's JSON view (`bridge_json`).
    BridgeJson,
    /// The web console (`console`).
    Console,
}

impl Listeners {
    /// The log line that says a listener of `kind` serves on `address`; `None` for the
    /// management socket, which has its own.
    pub fn describe(&self, kind: ListenerKind, address: &dyn std::fmt::Display) -> Option<String> {
        let scheme = |https: bool| if https { "https" } else { "http" };
        match kind {
            ListenerKind::Metrics => Some(format!(
                "serving metrics on {}://{address}/metrics",
                scheme(self.metrics_tls)
            )),
            ListenerKind::RemoteManagement => Some(format!("remote management on {address}")),
            ListenerKind::History => Some(format!(
                "serving history on {}://{address}/history/",
                scheme(self.history_tls)
            )),
            ListenerKind::BridgeHistory => Some(format!(
                "serving the bridge's history on {}://{address}/history/",
                scheme(self.history_tls)
            )),
            ListenerKind::Bridge => Some(format!("serving the bridge on http://{address}/metrics")),
            ListenerKind::BridgeJson => Some(format!(
                "serving the bridge's JSON view on http://{address}/"
            )),
            ListenerKind::Console => Some(format!("web console on http://{address}/")),
            ListenerKind::LocalManagement => None,
        }
    }
}

impl Listeners {
    /// The listeners of `config`.
    ///
    /// # Errors
    /// [`PlanError::NoMetricsPort`] when there is nothing to serve.
    pub fn new(config: &Config) -> Result<Listeners, PlanError> {
        let main = &config.main;
        if main.metrics.is_none() && main.bridge.is_none() {
            return Err(PlanError::NoMetricsPort);
        }
        let ports = [
            (ListenerKind::Metrics, main.metrics),
            (ListenerKind::RemoteManagement, main.management),
            (ListenerKind::Bridge, main.bridge),
            (ListenerKind::BridgeJson, main.bridge_json),
            (ListenerKind::History, main.history),
            (ListenerKind::BridgeHistory, main.bridge_history),
            (ListenerKind::Console, main.console),
        ]
        .into_iter()
        .filter_map(|(kind, port)| Some((kind, port.filter(|&port| port != 0)?)))
        .collect();
        Ok(Listeners {
            host: main.host.clone(),
            ports,
            metrics_tls: main.metrics_cert_file.is_some(),
            history_tls: main.history_cert_file.is_some(),
            unix_socket: PathBuf::from(&main.unix_socket_dir).join(MANAGEMENT_SOCKET),
            backlog: main.backlog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_ini;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n{extra}\n\
             [primary]\nhost = /var/run/postgresql\nport = 5432\nuser = pgexporter\n\
             [remote]\nhost = db1\nport = 5433\nuser = monitor\ntls = on\ntls_ca_file = /ca.pem\n\
             [other]\nhost = m1\nport = 9100\nuser = x\ntype = prometheus\n"
        );
        load_ini(&text, "t.conf", &|_| None).unwrap().config
    }

    fn inputs() -> PlanInputs {
        PlanInputs {
            passwords: HashMap::from([("monitor".to_owned(), Secret::from("pw"))]),
            metrics: Arc::new(MetricSet::builtin().unwrap()),
            admins: Arc::new(AdminVerifiers::new()),
            master_key: None,
            alerts: None,
        }
    }

    #[test]
    fn servers_carry_their_targets_and_passwords() {
        let plan = Plan::new(&config(""), inputs()).unwrap();
        assert_eq!(plan.servers.len(), 3);
        assert_eq!(plan.served.servers, ["primary", "remote", "other"]);
        let other = &plan.servers[2];
        assert_eq!(other.kind, ServerType::Prometheus);
        assert_eq!(other.target.address.to_string(), "m1:9100");
        assert_eq!(other.target.tls, crate::pg::TlsMode::Off);
        let primary = &plan.servers[0];
        assert_eq!(primary.name, "primary");
        assert!(primary.password.is_none());
        assert_eq!(
            primary.target.address.to_string(),
            "/var/run/postgresql/.s.PGSQL.5432"
        );
        let remote = &plan.servers[1];
        assert_eq!(remote.password, Some(Secret::from("pw")));
        assert_eq!(remote.target.tls, crate::pg::TlsMode::On);
        assert_eq!(remote.target.tls_name(), "db1");
        assert_eq!(
            remote.target.tls_files.ca_file,
            Some(PathBuf::from("/ca.pem"))
        );
        assert_eq!(
            plan.collector.default_scrape_timeout,
            DEFAULT_SCRAPE_TIMEOUT
        );
        assert!(plan.collector.query_timeout.is_none());
    }

    #[test]
    fn tls_keys_come_in_pairs() {
        let half = Plan::new(&config("metrics_cert_file = /c.pem"), inputs());
        assert!(matches!(
            half,
            Err(PlanError::IncompleteTlsPair {
                cert: "metrics_cert_file",
                ..
            })
        ));
        let bare = Plan::new(&config("tls = on"), inputs());
        assert!(matches!(bare, Err(PlanError::ManagementTlsWithoutFiles)));
        let https = Plan::new(
            &config("metrics_cert_file = /c.pem\nmetrics_key_file = /k.pem"),
            inputs(),
        )
        .unwrap();
        assert_eq!(
            https.served.metrics_tls.as_ref().unwrap().key_file,
            PathBuf::from("/k.pem")
        );
    }

    #[test]
    fn history_is_a_listener_with_its_own_https_and_settings() {
        let plan = Plan::new(&config("history_interval = 0"), inputs()).unwrap();
        assert!(plan.history.is_none(), "no port, no history");
        let text = "history = 5004\nhistory_interval = 0\nhistory_retention = 1h\n\
                    history_cert_file = /c.pem\nhistory_key_file = /k.pem\nhistory_ca_file = /ca.pem";
        let plan = Plan::new(&config(text), inputs()).unwrap();
        let settings = plan.history.unwrap();
        assert_eq!(settings.interval, Duration::ZERO);
        assert_eq!(settings.retention, Duration::from_secs(3600));
        assert!(plan.bridge_history.is_none());
        let tls = plan.served.history_tls.as_ref().unwrap();
        assert_eq!(tls.client_ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(plan.served.history_http.paths, Paths::History);
        assert!(plan.served.metrics_tls.is_none());
        let half = Plan::new(
            &config("history = 5004\nhistory_key_file = /k.pem"),
            inputs(),
        );
        assert!(matches!(
            half,
            Err(PlanError::IncompleteTlsPair {
                cert: "history_cert_file",
                ..
            })
        ));
    }

    #[test]
    fn listeners_of_a_configuration() {
        let listeners =
            Listeners::new(&config("management = 5003\nhistory = 5004\nconsole = 5005")).unwrap();
        assert_eq!(
            listeners.ports,
            vec![
                (ListenerKind::Metrics, 5002),
                (ListenerKind::RemoteManagement, 5003),
                (ListenerKind::History, 5004),
                (ListenerKind::Console, 5005)
            ]
        );
        assert_eq!(listeners.unix_socket, PathBuf::from("/tmp/.s.pgexporter"));
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nbridge = 5010\n\
                    bridge_json = 5011\nbridge_endpoints = a:1, http://[::1]:2/metrics\n";
        let bridge_only = load_ini(text, "t.conf", &|_| None).unwrap().config;
        assert_eq!(
            Listeners::new(&bridge_only).unwrap().ports,
            vec![
                (ListenerKind::Bridge, 5010),
                (ListenerKind::BridgeJson, 5011)
            ]
        );
        let bridge = Plan::new(&bridge_only, inputs()).unwrap().bridge;
        let names: Vec<&str> = bridge.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a:1", "[::1]:2"]);
        assert_eq!(bridge.cache_max_age, Duration::from_secs(300));
    }
}
