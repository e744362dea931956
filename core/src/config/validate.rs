//! Rules that span keys: required keys, listeners, limits. Validation knows no files; it says
//! which section and key break a rule, and the caller adds the place.

use super::error::Problem;
use super::model::{
    Config, MAX_EXTENSIONS_TOP_STATEMENTS, MAX_METRICS_CACHE_MAX_SIZE, MAX_SERVERS,
    MIN_METRICS_QUERY_TIMEOUT, MainConfig, ServerConfig, ServerType,
};

/// A broken rule and where: the server index (`None` for `[pgexporter]`) and the key, when one
/// key is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index into `Config::servers`, or `None` for the main section.
    pub server: Option<usize>,
    /// The key to blame; `None` when the rule is about the section or the file.
    pub key: Option<&'static str>,
    /// The rule.
    pub problem: Problem,
}

fn main_violation(key: Option<&'static str>, problem: Problem) -> Violation {
    Violation {
        server: None,
        key,
        problem,
    }
}

fn missing(section: &str) -> Problem {
    Problem::MissingKey {
        section: section.to_owned(),
    }
}

/// The TCP listeners that must not share a port, by key.
fn listeners(main: &MainConfig) -> [(&'static str, Option<u16>); 6] {
    [
        ("metrics", main.metrics),
        ("management", main.management),
        ("bridge", main.bridge),
        ("bridge_json", main.bridge_json),
        ("console", main.console),
        ("history", main.history),
    ]
}

fn validate_main(main: &MainConfig) -> Result<(), Violation> {
    if main.host.is_empty() {
        return Err(main_violation(Some("host"), missing("pgexporter")));
    }
    if main.unix_socket_dir.is_empty() {
        return Err(main_violation(
            Some("unix_socket_dir"),
            missing("pgexporter"),
        ));
    }
    if main.metrics.is_none() && main.bridge.is_none() {
        return Err(main_violation(None, Problem::NoListener));
    }
    if main.bridge_json.is_some() && main.bridge.is_none() {
        return Err(main_violation(
            Some("bridge_json"),
            Problem::BridgeJsonWithoutBridge,
        ));
    }
    let ports = listeners(main);
    for (index, (key, port)) in ports.iter().enumerate() {
        let Some(port) = port else { continue };
        if let Some((other, _)) = ports[..index].iter().find(|(_, p)| *p == Some(*port)) {
            return Err(main_violation(
                Some(key),
                Problem::PortConflict { port: *port, other },
            ));
        }
    }
    if main.metrics_cache_max_size > MAX_METRICS_CACHE_MAX_SIZE {
        return Err(main_violation(
            Some("metrics_cache_max_size"),
            Problem::CacheTooLarge(main.metrics_cache_max_size),
        ));
    }
    if main.extensions_top_statements > MAX_EXTENSIONS_TOP_STATEMENTS {
        return Err(main_violation(
            Some("extensions_top_statements"),
            Problem::TopStatementsTooMany(main.extensions_top_statements),
        ));
    }
    let timeout = main.metrics_query_timeout;
    if !timeout.is_zero() && timeout < MIN_METRICS_QUERY_TIMEOUT {
        return Err(main_violation(
            Some("metrics_query_timeout"),
            Problem::QueryTimeoutTooShort,
        ));
    }
    Ok(())
}

fn validate_server(index: usize, server: &ServerConfig) -> Result<(), Violation> {
    let blame = |key| Violation {
        server: Some(index),
        key: Some(key),
        problem: missing(&server.name),
    };
    if server.host.is_empty() {
        return Err(blame("host"));
    }
    if server.port == 0 {
        return Err(blame("port"));
    }
    if server.server_type == ServerType::Postgresql && server.user.is_none() {
        return Err(blame("user"));
    }
    Ok(())
}

/// Checks every rule that a single key's syntax cannot: required keys, at least one of
/// `metrics`/`bridge`, distinct listener ports, `bridge_json` needing `bridge`, the limits of
/// `metrics_cache_max_size` and `metrics_query_timeout`, at most 64 servers, and at least one
/// server unless `bridge` is set (a bridge-only exporter aggregates other exporters). Returns
/// the first rule broken.
pub fn validate(config: &Config) -> Result<(), Violation> {
    validate_main(&config.main)?;
    if config.servers.len() > MAX_SERVERS {
        return Err(Violation {
            server: Some(MAX_SERVERS),
            key: None,
            problem: Problem::TooManyServers,
        });
    }
    if config.servers.is_empty() && config.main.bridge.is_none() {
        return Err(main_violation(None, Problem::NoServers));
    }
    for (index, server) in config.servers.iter().enumerate() {
        validate_server(index, server)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn valid() -> Config {
        let mut server = ServerConfig::new("primary");
        server.host = "localhost".into();
        server.port = 5432;
        server.user = Some("pgexporter".into());
        Config {
            main: MainConfig {
                host: "*".into(),
                unix_socket_dir: "/tmp".into(),
                metrics: Some(5002),
                ..MainConfig::default()
            },
            servers: vec![server],
        }
    }

    fn problem_of(config: &Config) -> (Option<usize>, Option<&'static str>, Problem) {
        let v = validate(config).unwrap_err();
        (v.server, v.key, v.problem)
    }

    #[test]
    fn a_minimal_configuration_is_valid() {
        assert_eq!(validate(&valid()), Ok(()));
    }

    #[test]
    fn required_keys() {
        let mut config = valid();
        config.main.host.clear();
        assert_eq!(
            problem_of(&config),
            (None, Some("host"), missing("pgexporter"))
        );
        let mut config = valid();
        config.servers[0].user = None;
        assert_eq!(
            problem_of(&config),
            (Some(0), Some("user"), missing("primary"))
        );
        config.servers[0].server_type = ServerType::Prometheus;
        assert_eq!(validate(&config), Ok(()));
        config.servers[0].port = 0;
        assert_eq!(problem_of(&config).1, Some("port"));
    }

    #[test]
    fn listeners() {
        let mut config = valid();
        config.main.metrics = None;
        assert_eq!(problem_of(&config).2, Problem::NoListener);
        config.main.bridge = Some(5002);
        assert_eq!(validate(&config), Ok(()));
        config.main.bridge_json = Some(5002);
        assert_eq!(
            problem_of(&config),
            (
                None,
                Some("bridge_json"),
                Problem::PortConflict {
                    port: 5002,
                    other: "bridge"
                }
            )
        );
        config.main.bridge = None;
        config.main.metrics = Some(5001);
        assert_eq!(problem_of(&config).2, Problem::BridgeJsonWithoutBridge);
    }

    #[test]
    fn limits() {
        let mut config = valid();
        config.main.metrics_cache_max_size = (1 << 20) + 1;
        assert_eq!(problem_of(&config).2, Problem::CacheTooLarge((1 << 20) + 1));
        let mut config = valid();
        config.main.extensions_top_statements = 1001;
        assert_eq!(problem_of(&config).2, Problem::TopStatementsTooMany(1001));
        config.main.extensions_top_statements = 1000;
        assert_eq!(validate(&config), Ok(()));
        let mut config = valid();
        config.main.metrics_query_timeout = Duration::from_millis(49);
        assert_eq!(problem_of(&config).2, Problem::QueryTimeoutTooShort);
        config.main.metrics_query_timeout = Duration::from_millis(50);
        assert_eq!(validate(&config), Ok(()));
    }

    #[test]
    fn servers_count() {
        let mut config = valid();
        let template = config.servers[0].clone();
        config.servers = vec![template; MAX_SERVERS + 1];
        assert_eq!(problem_of(&config).2, Problem::TooManyServers);
        config.servers.clear();
        assert_eq!(problem_of(&config).2, Problem::NoServers);
        config.main.bridge = Some(5003);
        assert_eq!(validate(&config), Ok(()));
    }
}
