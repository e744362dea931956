//! The key tables: for every key of `[pgexporter]` and of a server section, the field it
//! sets, how its text is parsed and rendered, and whether a reload can change it. Loading,
//! `conf get`/`conf set`, rendering and the reload diff all go through these tables, so a key
//! is described once.

use std::time::Duration;

use super::model::{
    BridgeEndpoint, HistoryBackend, Hugepage, LogLevel, LogMode, LogType, MainConfig, ProcessTitle,
    ServerConfig, ServerType, TlsMode,
};
use super::values::{self, EnvLookup, ValueError, parse_keyword, render_keyword};

/// Whether a running daemon can take a new value of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Applied by a reload (`R`).
    Live,
    /// Needs a restart (`RS`); a reload that changes it is refused.
    Restart,
}

/// A key name and its reload class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key as written in the file.
    pub name: &'static str,
    /// What a change of it needs.
    pub reload: Reload,
}

/// Keys whose value is a path: `$VAR` and `${VAR}` are expanded from the environment.
pub const PATH_KEYS: [&str; 16] = [
    "unix_socket_dir",
    "metrics_path",
    "extensions_path",
    "alerts_path",
    "log_path",
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_file",
    "metrics_cert_file",
    "metrics_key_file",
    "metrics_ca_file",
    "history_path",
    "history_cert_file",
    "history_key_file",
    "history_ca_file",
    "bridge_history_path",
];

/// Keys of `[pgexporter]` that are accepted and ignored, as the reference does.
pub const IGNORED_MAIN_KEYS: [&str; 3] = ["cache", "data_dir", "wal_dir"];

/// Keys of a server section that are accepted and ignored.
pub const IGNORED_SERVER_KEYS: [&str; 2] = ["data_dir", "wal_dir"];

/// A field type with a text form: parsing checks the syntax, rendering gives the canonical
/// text that parses back to the same value.
trait FieldText: Sized {
    fn parse_text(text: &str) -> Result<Self, ValueError>;
    fn render_text(&self) -> String;
}

impl FieldText for String {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        Ok(text.to_owned())
    }
    fn render_text(&self) -> String {
        self.clone()
    }
}

impl FieldText for Option<String> {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        Ok(values::parse_optional(text))
    }
    fn render_text(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl FieldText for bool {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_bool(text)
    }
    fn render_text(&self) -> String {
        values::render_bool(*self)
    }
}

impl FieldText for Duration {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_duration(text)
    }
    fn render_text(&self) -> String {
        values::render_duration(*self)
    }
}

/// Sizes in bytes.
impl FieldText for u64 {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_size(text)
    }
    fn render_text(&self) -> String {
        values::render_size(*self)
    }
}

/// A server port, required.
impl FieldText for u16 {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_port(text)
    }
    fn render_text(&self) -> String {
        self.to_string()
    }
}

/// A listener port, `None` when off.
impl FieldText for Option<u16> {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_listener_port(text)
    }
    fn render_text(&self) -> String {
        values::render_listener_port(*self)
    }
}

/// A positive count (`backlog`).
impl FieldText for u32 {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_positive(text)
    }
    fn render_text(&self) -> String {
        self.to_string()
    }
}

impl FieldText for Option<Vec<String>> {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        Ok(values::parse_list(text))
    }
    fn render_text(&self) -> String {
        values::render_list(self.as_deref())
    }
}

const ENDPOINT_EXPECTED: &str = "a comma list of host:port, optionally http://host:port/metrics";

fn parse_endpoint(item: &str) -> Result<BridgeEndpoint, ValueError> {
    let invalid = || ValueError::Invalid {
        what: "bridge endpoint",
        value: item.to_owned(),
        expected: ENDPOINT_EXPECTED,
    };
    let bare = item.strip_prefix("http://").unwrap_or(item);
    let bare = bare.strip_suffix("/metrics").unwrap_or(bare);
    let (host, port) = bare.rsplit_once(':').ok_or_else(invalid)?;
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(invalid());
    }
    let port = values::parse_port(port).map_err(|_| invalid())?;
    Ok(BridgeEndpoint {
        host: host.to_owned(),
        port,
    })
}

impl FieldText for Vec<BridgeEndpoint> {
    fn parse_text(text: &str) -> Result<Self, ValueError> {
        values::parse_list(text)
            .unwrap_or_default()
            .iter()
            .map(|item| parse_endpoint(item))
            .collect()
    }
    fn render_text(&self) -> String {
        let items: Vec<String> = self.iter().map(BridgeEndpoint::to_string).collect();
        items.join(",")
    }
}

macro_rules! keyword_field {
    ($($kind:ty),*) => {$(
        impl FieldText for $kind {
            fn parse_text(text: &str) -> Result<Self, ValueError> {
                parse_keyword(text)
            }
            fn render_text(&self) -> String {
                render_keyword(*self).to_owned()
            }
        }
    )*};
}

keyword_field!(
    HistoryBackend,
    LogType,
    LogLevel,
    LogMode,
    Hugepage,
    ProcessTitle,
    ServerType,
    TlsMode
);

/// Declares a key table: the list of [`KeyInfo`], a setter and a getter, all from one
/// `"key" => field: Reload` list.
macro_rules! key_table {
    ($section:ty, $keys:ident, $set:ident, $get:ident, { $($key:literal => $field:ident: $reload:ident,)* }) => {
        /// Every key of the section, in the order of the reference's documentation.
        pub const $keys: &[KeyInfo] = &[$(KeyInfo { name: $key, reload: Reload::$reload },)*];

        /// Sets `key` from `text` (already expanded). `Ok(false)` when the key is unknown.
        fn $set(section: &mut $section, key: &str, text: &str) -> Result<bool, ValueError> {
            match key {
                $($key => section.$field = FieldText::parse_text(text)?,)*
                _ => return Ok(false),
            }
            Ok(true)
        }

        /// The canonical text of `key`, `None` when the key is unknown.
        fn $get(section: &$section, key: &str) -> Option<String> {
            match key {
                $($key => Some(section.$field.render_text()),)*
                _ => None,
            }
        }
    };
}

key_table!(MainConfig, MAIN_KEYS, set_main_field, main_field, {
    "host" => host: Restart,
    "unix_socket_dir" => unix_socket_dir: Restart,
    "metrics" => metrics: Restart,
    "metrics_path" => metrics_path: Live,
    "metrics_cache_max_age" => metrics_cache_max_age: Live,
    "metrics_cache_max_size" => metrics_cache_max_size: Restart,
    "metrics_query_timeout" => metrics_query_timeout: Live,
    "management" => management: Restart,
    "bridge" => bridge: Restart,
    "bridge_endpoints" => bridge_endpoints: Live,
    "bridge_cache_max_age" => bridge_cache_max_age: Live,
    "bridge_cache_max_size" => bridge_cache_max_size: Restart,
    "bridge_json" => bridge_json: Restart,
    "bridge_json_cache_max_size" => bridge_json_cache_max_size: Restart,
    "console" => console: Restart,
    "history" => history: Restart,
    "history_interval" => history_interval: Live,
    "history_retention" => history_retention: Live,
    "history_backend" => history_backend: Restart,
    "history_path" => history_path: Restart,
    "history_cert_file" => history_cert_file: Restart,
    "history_key_file" => history_key_file: Restart,
    "history_ca_file" => history_ca_file: Restart,
    "bridge_history" => bridge_history: Restart,
    "bridge_history_interval" => bridge_history_interval: Live,
    "bridge_history_retention" => bridge_history_retention: Live,
    "bridge_history_backend" => bridge_history_backend: Restart,
    "bridge_history_path" => bridge_history_path: Restart,
    "metrics_openmetrics" => metrics_openmetrics: Live,
    "alerts" => alerts: Live,
    "alerts_path" => alerts_path: Live,
    "log_type" => log_type: Restart,
    "log_level" => log_level: Live,
    "log_path" => log_path: Restart,
    "log_rotation_age" => log_rotation_age: Live,
    "log_rotation_size" => log_rotation_size: Live,
    "log_line_prefix" => log_line_prefix: Live,
    "log_mode" => log_mode: Live,
    "blocking_timeout" => blocking_timeout: Live,
    "authentication_timeout" => authentication_timeout: Live,
    "tls" => tls: Restart,
    "tls_cert_file" => tls_cert_file: Live,
    "tls_key_file" => tls_key_file: Live,
    "tls_ca_file" => tls_ca_file: Live,
    "metrics_cert_file" => metrics_cert_file: Restart,
    "metrics_key_file" => metrics_key_file: Restart,
    "metrics_ca_file" => metrics_ca_file: Restart,
    "keep_alive" => keep_alive: Live,
    "nodelay" => nodelay: Live,
    "non_blocking" => non_blocking: Live,
    "backlog" => backlog: Live,
    "hugepage" => hugepage: Restart,
    "ev_backend" => ev_backend: Restart,
    "pidfile" => pidfile: Restart,
    "update_process_title" => update_process_title: Live,
    "extensions" => extensions: Live,
    "extensions_path" => extensions_path: Live,
    "extensions_top_statements" => extensions_top_statements: Live,
    "max_connections_per_server" => max_connections_per_server: Live,
    "collectors" => collectors: Live,
    "exclude_collectors" => exclude_collectors: Live,
});

key_table!(ServerConfig, SERVER_KEYS, set_server_field, server_field, {
    "host" => host: Restart,
    "port" => port: Restart,
    "user" => user: Live,
    "type" => server_type: Live,
    "tls" => tls: Live,
    "tls_cert_file" => tls_cert_file: Live,
    "tls_key_file" => tls_key_file: Live,
    "tls_ca_file" => tls_ca_file: Live,
    "extensions" => extensions: Live,
});

/// What setting one key from text found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Assigned {
    /// The field now holds the value.
    Set,
    /// The key is accepted and ignored (`cache`, `data_dir`, `wal_dir`).
    Ignored,
    /// No such key.
    Unknown,
}

fn expanded<'t>(
    key: &str,
    text: &'t str,
    env: EnvLookup<'_>,
) -> Result<std::borrow::Cow<'t, str>, ValueError> {
    if text.contains(['\n', '\r']) {
        return Err(ValueError::Invalid {
            what: "value",
            value: text.escape_debug().to_string(),
            expected: "a single line",
        });
    }
    if PATH_KEYS.contains(&key) {
        values::expand_env(text, env).map(Into::into)
    } else {
        Ok(text.into())
    }
}

/// Sets one `[pgexporter]` key from its text, expanding `$VAR` in path keys with `env`.
pub(crate) fn assign_main(
    main: &mut MainConfig,
    key: &str,
    text: &str,
    env: EnvLookup<'_>,
) -> Result<Assigned, ValueError> {
    if IGNORED_MAIN_KEYS.contains(&key) {
        return Ok(Assigned::Ignored);
    }
    if reload_class(false, key).is_none() {
        return Ok(Assigned::Unknown);
    }
    let known = set_main_field(main, key, &expanded(key, text, env)?)?;
    Ok(if known {
        Assigned::Set
    } else {
        Assigned::Unknown
    })
}

/// Sets one server key from its text, expanding `$VAR` in path keys with `env`.
pub(crate) fn assign_server(
    server: &mut ServerConfig,
    key: &str,
    text: &str,
    env: EnvLookup<'_>,
) -> Result<Assigned, ValueError> {
    if IGNORED_SERVER_KEYS.contains(&key) {
        return Ok(Assigned::Ignored);
    }
    if reload_class(true, key).is_none() {
        return Ok(Assigned::Unknown);
    }
    let known = set_server_field(server, key, &expanded(key, text, env)?)?;
    Ok(if known {
        Assigned::Set
    } else {
        Assigned::Unknown
    })
}

/// The canonical text of a `[pgexporter]` key; `None` for an unknown key.
pub fn main_value(main: &MainConfig, key: &str) -> Option<String> {
    main_field(main, key)
}

/// The canonical text of a server key; `None` for an unknown key.
pub fn server_value(server: &ServerConfig, key: &str) -> Option<String> {
    server_field(server, key)
}

/// The reload class of a key of the section (`server` selects the server table).
pub fn reload_class(server: bool, key: &str) -> Option<Reload> {
    let table = if server { SERVER_KEYS } else { MAIN_KEYS };
    table
        .iter()
        .find(|info| info.name == key)
        .map(|info| info.reload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_main_key_renders_and_parses_back() {
        let main = MainConfig::default();
        for info in MAIN_KEYS {
            let text = main_value(&main, info.name).unwrap();
            let mut copy = MainConfig::default();
            assert_eq!(
                assign_main(&mut copy, info.name, &text, &no_env),
                Ok(Assigned::Set),
                "{}",
                info.name
            );
            assert_eq!(copy, main, "{}", info.name);
        }
    }

    #[test]
    fn every_server_key_is_known() {
        let mut server = ServerConfig::new("s");
        for info in SERVER_KEYS {
            assert!(server_value(&server, info.name).is_some(), "{}", info.name);
        }
        assert_eq!(
            assign_server(&mut server, "type", "Prometheus", &no_env),
            Ok(Assigned::Set)
        );
        assert_eq!(server.server_type, ServerType::Prometheus);
        assert_eq!(
            assign_server(&mut server, "data_dir", "/x", &no_env),
            Ok(Assigned::Ignored)
        );
        assert_eq!(
            assign_server(&mut server, "nope", "1", &no_env),
            Ok(Assigned::Unknown)
        );
    }

    #[test]
    fn path_keys_expand_and_others_do_not() {
        let env = |name: &str| (name == "DIR").then(|| "/srv".to_owned());
        let mut main = MainConfig::default();
        assign_main(&mut main, "log_path", "$DIR/log", &env).unwrap();
        assign_main(&mut main, "log_line_prefix", "$DIR", &env).unwrap();
        assert_eq!(main.log_path, "/srv/log");
        assert_eq!(main.log_line_prefix, "$DIR");
        assert_eq!(
            assign_main(&mut main, "metrics_path", "${NOPE}", &env),
            Err(ValueError::UndefinedVariable("NOPE".into()))
        );
    }

    #[test]
    fn bridge_endpoints_accept_url_forms() {
        let mut main = MainConfig::default();
        assign_main(
            &mut main,
            "bridge_endpoints",
            "a:5001, http://b:5002/metrics,[::1]:5003",
            &no_env,
        )
        .unwrap();
        assert_eq!(
            main_value(&main, "bridge_endpoints").unwrap(),
            "a:5001,b:5002,[::1]:5003"
        );
        for bad in ["a", "a:0", ":5001", "a:b", "http://a/metrics"] {
            assert!(
                assign_main(&mut main, "bridge_endpoints", bad, &no_env).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn line_breaks_are_refused() {
        let mut main = MainConfig::default();
        assert!(assign_main(&mut main, "log_line_prefix", "a\nb", &no_env).is_err());
    }

    #[test]
    fn reload_classes_follow_the_specification() {
        assert_eq!(reload_class(false, "host"), Some(Reload::Restart));
        assert_eq!(reload_class(false, "log_level"), Some(Reload::Live));
        assert_eq!(
            reload_class(false, "metrics_cache_max_size"),
            Some(Reload::Restart)
        );
        assert_eq!(reload_class(true, "port"), Some(Reload::Restart));
        assert_eq!(reload_class(true, "user"), Some(Reload::Live));
        assert_eq!(reload_class(true, "nope"), None);
    }

    #[test]
    fn keywords_parse_every_spelling() {
        let mut main = MainConfig::default();
        for (text, level) in [
            ("FATAL", LogLevel::Fatal),
            ("warning", LogLevel::Warn),
            ("debug", LogLevel::Debug1),
            ("debug5", LogLevel::Debug5),
        ] {
            assign_main(&mut main, "log_level", text, &no_env).unwrap();
            assert_eq!(main.log_level, level);
        }
        assign_main(&mut main, "update_process_title", "full", &no_env).unwrap();
        assert_eq!(
            main_value(&main, "update_process_title").unwrap(),
            "verbose"
        );
        let err = assign_main(&mut main, "log_type", "stderr", &no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid log type 'stderr' (expected console, file or syslog)"
        );
    }
}
