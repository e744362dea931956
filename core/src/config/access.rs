//! Reading and changing one key of a loaded configuration by name, for `conf get` and
//! `conf set`, and writing a whole configuration back as INI.
//!
//! Addressing: `KEY` and `pgexporter.KEY` name a key of `[pgexporter]`; `NAME.KEY` and
//! `server.NAME.KEY` name a key of the server section `NAME`.

use std::fmt::Write as _;

use thiserror::Error;

use super::error::Problem;
use super::ini;
use super::keys::{self, Assigned, MAIN_KEYS, Reload, SERVER_KEYS};
use super::load::MAIN_SECTION;
use super::model::Config;
use super::validate::validate;
use super::values::{EnvLookup, ValueError};

/// Why `Config::set` refused a change. The configuration is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SetError {
    /// No key of that name in the addressed section.
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    /// No server section of that name.
    #[error("unknown server '{0}'")]
    UnknownServer(String),
    /// The text is not a valid value of the key.
    #[error("key '{key}': {error}")]
    InvalidValue {
        /// The key as addressed.
        key: String,
        /// What is wrong with the text.
        error: ValueError,
    },
    /// The value is valid on its own but breaks a rule of the whole configuration.
    #[error("key '{key}': {problem}")]
    Rejected {
        /// The key as addressed.
        key: String,
        /// The rule broken.
        problem: Problem,
    },
}

/// What `Config::set` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// The canonical text before the change.
    pub old_value: String,
    /// The canonical text after the change.
    pub new_value: String,
    /// Whether a running daemon needs a restart for the new value to take effect.
    pub reload: Reload,
}

impl SetOutcome {
    /// Whether the value is different from before.
    pub fn changed(&self) -> bool {
        self.old_value != self.new_value
    }
}

/// A key address resolved against a configuration.
enum Target<'a> {
    Main(&'a str),
    Server(usize, &'a str),
}

fn resolve<'a>(config: &Config, address: &'a str) -> Result<Target<'a>, SetError> {
    let Some((scope, key)) = address.rsplit_once('.') else {
        return Ok(Target::Main(address));
    };
    if scope == MAIN_SECTION {
        return Ok(Target::Main(key));
    }
    let position = |name: &str| config.servers.iter().position(|s| s.name == name);
    position(scope)
        .or_else(|| scope.strip_prefix("server.").and_then(position))
        .map(|index| Target::Server(index, key))
        .ok_or_else(|| SetError::UnknownServer(scope.to_owned()))
}

/// Appends `key = value`, quoted as needed.
fn ini_line(out: &mut String, key: &str, value: &str) -> Result<(), RenderError> {
    let quoted = ini::quote_value(value).ok_or_else(|| RenderError(key.to_owned()))?;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{key} = {quoted}");
    Ok(())
}

/// A key whose value, or a server whose name, cannot be written as INI (a line break, or a
/// `]` in a section name).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{0}' cannot be written as INI")]
pub struct RenderError(pub String);

impl Config {
    /// The canonical text of the key at `address` (`30s`, `256K`, `on`, `info`, ...), as
    /// `conf get` shows it; `None` when the key or the server does not exist.
    pub fn string_value(&self, address: &str) -> Option<String> {
        match resolve(self, address).ok()? {
            Target::Main(key) => keys::main_value(&self.main, key),
            Target::Server(index, key) => keys::server_value(self.servers.get(index)?, key),
        }
    }

    /// Sets the key at `address` from `text` with the same syntax and validation as the file;
    /// `env` expands `$VAR` in path keys. On any error the configuration is unchanged. The
    /// outcome says whether the value changed and whether it needs a restart; applying it to
    /// a running daemon is the caller's job.
    pub fn set(
        &mut self,
        address: &str,
        text: &str,
        env: EnvLookup<'_>,
    ) -> Result<SetOutcome, SetError> {
        let target = resolve(self, address)?;
        let mut candidate = self.clone();
        let (assigned, key, is_server) = match target {
            Target::Main(key) => (
                keys::assign_main(&mut candidate.main, key, text, env),
                key,
                false,
            ),
            Target::Server(index, key) => {
                let server = candidate
                    .servers
                    .get_mut(index)
                    .ok_or_else(|| SetError::UnknownServer(address.to_owned()))?;
                (keys::assign_server(server, key, text, env), key, true)
            }
        };
        let invalid = |error| SetError::InvalidValue {
            key: address.to_owned(),
            error,
        };
        if assigned.map_err(invalid)? != Assigned::Set {
            return Err(SetError::UnknownKey(address.to_owned()));
        }
        let reload = keys::reload_class(is_server, key)
            .ok_or_else(|| SetError::UnknownKey(address.to_owned()))?;
        validate(&candidate).map_err(|violation| SetError::Rejected {
            key: address.to_owned(),
            problem: violation.problem,
        })?;
        let old_value = self.string_value(address).unwrap_or_default();
        let new_value = candidate.string_value(address).unwrap_or_default();
        *self = candidate;
        Ok(SetOutcome {
            old_value,
            new_value,
            reload,
        })
    }

    /// Writes the whole configuration as INI, every key with its canonical text, so that
    /// loading the result gives an equal `Config` (path values are written expanded, so a
    /// path holding a literal `$` would be expanded again).
    pub fn to_ini(&self) -> Result<String, RenderError> {
        let mut out = format!("[{MAIN_SECTION}]\n");
        for info in MAIN_KEYS {
            let value = keys::main_value(&self.main, info.name).unwrap_or_default();
            ini_line(&mut out, info.name, &value)?;
        }
        for server in &self.servers {
            let header = ini::section_header(&server.name)
                .ok_or_else(|| RenderError(server.name.clone()))?;
            out.push_str(&format!("\n{header}\n"));
            for info in SERVER_KEYS {
                let value = keys::server_value(server, info.name).unwrap_or_default();
                ini_line(&mut out, info.name, &value)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_ini;
    use crate::config::model::{LogLevel, LogType, MainConfig, ServerConfig, ServerType, TlsMode};
    use proptest::prelude::*;
    use std::time::Duration;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn sample() -> Config {
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                    [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n";
        load_ini(text, "t.conf", &no_env).unwrap().config
    }

    #[test]
    fn string_values_by_address() {
        let config = sample();
        assert_eq!(
            config.string_value("blocking_timeout").as_deref(),
            Some("30s")
        );
        assert_eq!(
            config
                .string_value("pgexporter.metrics_cache_max_size")
                .as_deref(),
            Some("256K")
        );
        assert_eq!(config.string_value("primary.port").as_deref(), Some("5432"));
        assert_eq!(
            config.string_value("server.primary.tls").as_deref(),
            Some("try")
        );
        assert_eq!(config.string_value("nope"), None);
        assert_eq!(config.string_value("replica.port"), None);
    }

    #[test]
    fn set_reports_old_new_and_reload_class() {
        let mut config = sample();
        let outcome = config.set("log_level", "DEBUG2", &no_env).unwrap();
        assert_eq!(
            outcome,
            SetOutcome {
                old_value: "info".into(),
                new_value: "debug2".into(),
                reload: Reload::Live
            }
        );
        assert!(outcome.changed());
        assert_eq!(config.main.log_level, LogLevel::Debug2);
        let outcome = config.set("primary.port", "5433", &no_env).unwrap();
        assert_eq!(outcome.reload, Reload::Restart);
        assert_eq!(config.servers[0].port, 5433);
        let outcome = config.set("metrics", "5002", &no_env).unwrap();
        assert!(!outcome.changed());
    }

    #[test]
    fn set_refuses_and_keeps_the_config() {
        let mut config = sample();
        let before = config.clone();
        assert_eq!(
            config.set("nope", "1", &no_env),
            Err(SetError::UnknownKey("nope".into()))
        );
        assert_eq!(
            config.set("replica.port", "1", &no_env),
            Err(SetError::UnknownServer("replica".into()))
        );
        assert!(matches!(
            config.set("log_type", "screen", &no_env),
            Err(SetError::InvalidValue { .. })
        ));
        assert_eq!(
            config.set("metrics_query_timeout", "25d", &no_env),
            Err(SetError::Rejected {
                key: "metrics_query_timeout".into(),
                problem: Problem::OutOfRange {
                    value: "25d".into(),
                    range: "0 (off) or 50ms to 2147483647ms".into()
                }
            })
        );
        for (key, value) in [
            ("log_line_prefix", "%Q%"),
            ("authentication_timeout", "0"),
            ("log_rotation_size", "1"),
        ] {
            assert!(
                matches!(
                    config.set(key, value, &no_env),
                    Err(SetError::Rejected { .. })
                ),
                "{key} = {value}"
            );
        }
        assert_eq!(
            config.set("cache", "on", &no_env),
            Err(SetError::UnknownKey("cache".into()))
        );
        assert_eq!(config, before);
    }

    #[test]
    fn sample_renders_and_loads_back() {
        let config = sample();
        let text = config.to_ini().unwrap();
        assert_eq!(load_ini(&text, "r.conf", &no_env).unwrap().config, config);
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,8}"
    }

    fn list() -> impl Strategy<Value = Option<Vec<String>>> {
        proptest::option::of(proptest::collection::vec(word(), 1..4))
    }

    prop_compose! {
        fn server()(
            name in word(),
            host in "[a-z/][a-z0-9./]{0,12}",
            port in 1u16..,
            user in proptest::option::of(word()),
            prometheus in any::<bool>(),
            tls in prop_oneof![Just(TlsMode::Off), Just(TlsMode::Try), Just(TlsMode::On)],
            tls_ca_file in proptest::option::of("/[a-z]{1,8}"),
            extensions in list(),
        ) -> ServerConfig {
            let server_type = if prometheus || user.is_none() {
                ServerType::Prometheus
            } else {
                ServerType::Postgresql
            };
            ServerConfig {
                name: format!("s_{name}"),
                host,
                port,
                user,
                server_type,
                tls,
                tls_ca_file,
                extensions,
                ..ServerConfig::new("")
            }
        }
    }

    prop_compose! {
        fn config()(
            metrics in 1u16..30_000,
            cache_age in (0u64..=86_400_000).prop_map(Duration::from_millis),
            cache_size in 0u64..=(1 << 20),
            timeout in prop_oneof![Just(Duration::ZERO), (50u64..100_000).prop_map(Duration::from_millis)],
            prefix in ("[a-zA-Z0-9_ :/.#\"-]{0,16}", prop_oneof![Just(""), Just("%Y-%m-%d %T")])
                .prop_map(|(text, specifiers)| format!("{text}{specifiers}")),
            log_type in prop_oneof![Just(LogType::Console), Just(LogType::File), Just(LogType::Syslog)],
            rotation_size in prop_oneof![Just(0u64), (1u64 << 20)..],
            backlog in 1u32..=65_535,
            collectors in list(),
            exclude in list(),
            history in proptest::option::of(1u16..),
            path in proptest::option::of("/[a-z/ ]{1,12}"),
            servers in proptest::collection::vec(server(), 1..4),
        ) -> Config {
            let mut servers = servers;
            for (index, server) in servers.iter_mut().enumerate() {
                server.name = format!("{}_{index}", server.name);
            }
            Config {
                main: MainConfig {
                    host: "*".into(),
                    unix_socket_dir: "/tmp".into(),
                    metrics: Some(metrics),
                    metrics_cache_max_age: cache_age,
                    metrics_cache_max_size: cache_size,
                    metrics_query_timeout: timeout,
                    log_line_prefix: prefix,
                    log_type,
                    log_rotation_size: rotation_size,
                    backlog,
                    collectors,
                    exclude_collectors: exclude,
                    history,
                    metrics_path: path,
                    ..MainConfig::default()
                },
                servers,
            }
        }
    }

    proptest! {
        #[test]
        fn rendered_ini_loads_back_equal(config in config()) {
            let text = config.to_ini().unwrap();
            let loaded = load_ini(&text, "r.conf", &no_env).unwrap();
            prop_assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            prop_assert_eq!(loaded.config, config);
        }
    }
}
