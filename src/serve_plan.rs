//! Turning the loaded configuration, vault and metric set into the plan a runtime serves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pgexporter_core::config::{self, Config, ServerType};
use pgexporter_core::http::HttpConfig;
use pgexporter_core::metrics::{CollectorFilter, MetricSet};
use pgexporter_core::pg::TlsMode;
use pgexporter_core::scrape::{CollectorSettings, ServerSpec};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::FileKind;
use pgexporter_net::pg::PgTarget;
use pgexporter_net::serve::{LogSource, PgEndpoint, ServePlan, listen_addresses};
use pgexporter_net::tls::{TlsClientFiles, TlsServerFiles, client_config, server_config};
use rustls::pki_types::ServerName;

use crate::vault_files;

/// How long a scrape may take when Prometheus does not say: its own default scrape timeout.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a shutdown waits for HTTP requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Shown in `pg_stat_activity.application_name`.
pub const APPLICATION_NAME: &str = "pgexporter";

/// The passwords of the roles the servers log in as, from the users file.
///
/// The master key is read (and its 600,000-iteration derivation paid) only when the users file
/// has an entry for one of those roles. A role without an entry gets no password: the server
/// may trust it.
///
/// # Errors
/// A message naming the file at fault: unreadable, malformed, wrong master key.
pub fn server_passwords(
    config: &Config,
    users_file: Option<&Path>,
) -> Result<HashMap<String, Secret>, String> {
    let Some(path) = users_file else {
        return Ok(HashMap::new());
    };
    let Some(users) =
        vault_files::read_credentials(path, FileKind::Users).map_err(|error| error.to_string())?
    else {
        return Ok(HashMap::new());
    };
    let roles: Vec<&str> = config
        .servers
        .iter()
        .filter_map(|server| server.user.as_deref())
        .collect();
    let wanted: Vec<_> = users
        .entries()
        .filter(|entry| roles.contains(&entry.user))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let home = vault_files::home_dir().map_err(|error| error.to_string())?;
    let master_key = vault_files::read_master_key(&vault_files::master_key_path(&home))
        .map_err(|error| error.to_string())?
        .derive();
    wanted
        .into_iter()
        .map(|entry| {
            let password = entry
                .decrypt(&master_key)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            Ok((entry.user.to_owned(), password))
        })
        .collect()
}

/// The plan for `config`: listeners, servers with their passwords and TLS, metrics, timeouts.
///
/// # Errors
/// A message naming the key or file at fault (an address that does not resolve, a TLS file that
/// cannot be read, no metrics port).
pub fn build(
    config: &Config,
    passwords: &HashMap<String, Secret>,
    metrics: MetricSet,
    logs: LogSource,
) -> Result<ServePlan, String> {
    let main = &config.main;
    let port = main
        .metrics
        .ok_or("the metrics port is not set: only the Prometheus endpoint is served so far")?;
    let metrics_listeners = listen_addresses(&main.host, port)
        .map_err(|error| format!("host '{}': {error}", main.host))?;
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    for server in &config.servers {
        if server.server_type != ServerType::Postgresql {
            tracing::warn!(
                "server '{}': type prometheus is not collected yet; skipped",
                server.name
            );
            continue;
        }
        let user = server.user.clone().unwrap_or_default();
        servers.push(ServerSpec {
            name: server.name.clone(),
            password: passwords.get(&user).cloned(),
            user,
            tls: match server.tls {
                config::TlsMode::Off => TlsMode::Off,
                config::TlsMode::Try => TlsMode::Try,
                config::TlsMode::On => TlsMode::On,
            },
        });
        let files = TlsClientFiles {
            ca_file: server.tls_ca_file.as_ref().map(PathBuf::from),
            cert_file: server.tls_cert_file.as_ref().map(PathBuf::from),
            key_file: server.tls_key_file.as_ref().map(PathBuf::from),
        };
        let tls =
            client_config(&files).map_err(|error| format!("server '{}': {error}", server.name))?;
        let target = PgTarget::new(&server.host, server.port);
        // A Unix socket has no name to check; the certificate check ignores names anyway.
        let server_name = ServerName::try_from(server.host.clone())
            .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid name"));
        endpoints.push(PgEndpoint {
            target,
            tls,
            server_name,
        });
    }
    let metrics_tls = match (&main.metrics_cert_file, &main.metrics_key_file) {
        (None, None) => None,
        (Some(cert_file), Some(key_file)) => {
            let files = TlsServerFiles {
                cert_file: PathBuf::from(cert_file),
                key_file: PathBuf::from(key_file),
                client_ca_file: main.metrics_ca_file.as_ref().map(PathBuf::from),
            };
            Some(server_config(&files).map_err(|error| format!("metrics TLS: {error}"))?)
        }
        _ => return Err("metrics_cert_file and metrics_key_file must be set together".to_owned()),
    };
    let collectors = main.collectors.clone().unwrap_or_default();
    let excluded = main.exclude_collectors.clone().unwrap_or_default();
    Ok(ServePlan {
        metrics_listeners,
        http: HttpConfig::new(main.authentication_timeout),
        metrics_tls,
        servers,
        endpoints,
        metrics: Arc::new(metrics),
        filter: CollectorFilter::new(&collectors, &excluded),
        collector: CollectorSettings {
            query_timeout: (!main.metrics_query_timeout.is_zero())
                .then_some(main.metrics_query_timeout),
            connect_timeout: main.blocking_timeout,
            application_name: APPLICATION_NAME.to_owned(),
            cache_max_age: main.metrics_cache_max_age,
            default_scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
        },
        shutdown_grace: SHUTDOWN_GRACE,
        backlog: main.backlog,
        logs,
    })
}
