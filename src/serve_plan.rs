//! Turning the loaded configuration, vault and metric set into the plan a runtime serves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pgexporter_core::config::{self, Config, MainConfig, ServerType};
use pgexporter_core::http::HttpConfig;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::metrics::{CollectorFilter, MetricSet};
use pgexporter_core::pg::TlsMode;
use pgexporter_core::scrape::{CollectorSettings, ServerSpec};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{FileKind, MasterKey};
use pgexporter_net::control::{Control, LivePlan};
use pgexporter_net::pg::PgTarget;
use pgexporter_net::random;
use pgexporter_net::serve::{
    LogSource, MANAGEMENT_SOCKET, PgEndpoint, ServePlan, listen_addresses,
};
use pgexporter_net::tls::{TlsClientFiles, TlsServerFiles, client_config, server_config};
use rustls::ServerConfig;
use rustls::pki_types::ServerName;

use crate::vault_files;

/// How long a scrape may take when Prometheus does not say: its own default scrape timeout.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a shutdown waits for HTTP requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Shown in `pg_stat_activity.application_name`.
pub const APPLICATION_NAME: &str = "pgexporter";

/// The master key, when `~/.pgexporter/master.key` exists: its 600,000-iteration derivation
/// is paid once, at start. It decrypts the users and admins files and seals encrypted
/// management frames.
///
/// # Errors
/// A message naming the file when it exists but cannot be used (loose permissions, malformed).
pub fn master_key() -> Result<Option<Arc<MasterKey>>, String> {
    let home = vault_files::home_dir().map_err(|error| error.to_string())?;
    match vault_files::read_master_key(&vault_files::master_key_path(&home)) {
        Ok(file) => Ok(Some(Arc::new(file.derive()))),
        Err(vault_files::VaultFileError::NoMasterKey { .. }) => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

/// The passwords of the roles the servers log in as, from the users file. A role without an
/// entry gets no password: the server may trust it.
///
/// # Errors
/// A message naming the file at fault: unreadable, malformed, no or a wrong master key.
pub fn server_passwords(
    config: &Config,
    users_file: Option<&Path>,
    master_key: Option<&MasterKey>,
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
    users
        .entries()
        .filter(|entry| roles.contains(&entry.user))
        .map(|entry| {
            let key = master_key.ok_or_else(|| {
                format!("{}: decrypting needs the master key file", path.display())
            })?;
            let password = entry
                .decrypt(key)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            Ok((entry.user.to_owned(), password))
        })
        .collect()
}

/// The SCRAM verifiers of the admins in the admins file, for remote management; empty without
/// the file.
///
/// # Errors
/// A message naming the file at fault: unreadable, malformed, no or a wrong master key.
pub fn admin_verifiers(
    admins_file: Option<&Path>,
    master_key: Option<&MasterKey>,
) -> Result<AdminVerifiers, String> {
    let mut verifiers = AdminVerifiers::new();
    let Some(path) = admins_file else {
        return Ok(verifiers);
    };
    let Some(admins) =
        vault_files::read_credentials(path, FileKind::Admins).map_err(|error| error.to_string())?
    else {
        return Ok(verifiers);
    };
    for entry in admins.entries() {
        let key = master_key
            .ok_or_else(|| format!("{}: decrypting needs the master key file", path.display()))?;
        let password = entry
            .decrypt(key)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        verifiers
            .insert(entry.user, &password, random::bytes())
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(verifiers)
}

/// What a reload may change, for `config`: the servers with their passwords and TLS, the
/// metric set, collector and HTTP settings, and the remote management TLS.
///
/// # Errors
/// A message naming the key or file at fault (a TLS file that cannot be read).
pub fn live_plan(
    config: &Config,
    passwords: &HashMap<String, Secret>,
    metrics: Arc<MetricSet>,
) -> Result<LivePlan, String> {
    let main = &config.main;
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
    let collectors = main.collectors.clone().unwrap_or_default();
    let excluded = main.exclude_collectors.clone().unwrap_or_default();
    Ok(LivePlan {
        servers,
        endpoints,
        metrics,
        filter: CollectorFilter::new(&collectors, &excluded),
        collector: CollectorSettings {
            query_timeout: (!main.metrics_query_timeout.is_zero())
                .then_some(main.metrics_query_timeout),
            connect_timeout: main.blocking_timeout,
            application_name: APPLICATION_NAME.to_owned(),
            cache_max_age: main.metrics_cache_max_age,
            default_scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
        },
        http: HttpConfig {
            openmetrics: main.metrics_openmetrics,
            ..HttpConfig::new(main.authentication_timeout)
        },
        management_timeout: main.authentication_timeout,
        management_tls: management_tls(main)?,
    })
}

/// The TLS configuration of remote management: `None` unless `tls = on`.
fn management_tls(main: &MainConfig) -> Result<Option<Arc<ServerConfig>>, String> {
    if !main.tls {
        return Ok(None);
    }
    let (Some(cert_file), Some(key_file)) = (&main.tls_cert_file, &main.tls_key_file) else {
        return Err("tls = on needs tls_cert_file and tls_key_file".to_owned());
    };
    let files = TlsServerFiles {
        cert_file: PathBuf::from(cert_file),
        key_file: PathBuf::from(key_file),
        client_ca_file: main.tls_ca_file.as_ref().map(PathBuf::from),
    };
    server_config(&files)
        .map(Some)
        .map_err(|error| format!("management TLS: {error}"))
}

/// The plan for `config`: listeners, the management socket, the live plan and the control.
///
/// # Errors
/// A message naming the key or file at fault (an address that does not resolve, a TLS file that
/// cannot be read, no metrics port).
pub fn build(
    config: &Config,
    live: LivePlan,
    admins: AdminVerifiers,
    control: Control,
    logs: LogSource,
) -> Result<ServePlan, String> {
    let main = &config.main;
    let port = main
        .metrics
        .ok_or("the metrics port is not set: only the Prometheus endpoint is served so far")?;
    let resolve = |port| {
        listen_addresses(&main.host, port).map_err(|error| format!("host '{}': {error}", main.host))
    };
    let metrics_listeners = resolve(port)?;
    let management_listeners = match main.management {
        Some(port) if port != 0 => resolve(port)?,
        _ => Vec::new(),
    };
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
    Ok(ServePlan {
        metrics_listeners,
        metrics_tls,
        unix_socket: Path::new(&main.unix_socket_dir).join(MANAGEMENT_SOCKET),
        management_listeners,
        admins: Arc::new(admins),
        live,
        control,
        shutdown_grace: SHUTDOWN_GRACE,
        backlog: main.backlog,
        logs,
    })
}
