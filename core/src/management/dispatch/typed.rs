//! Configuration values as `conf get` shows them in JSON: booleans as `true`/`false`, ports
//! and counts as numbers, durations, sizes and keywords as
//! `{"string_value":"30s","value":30}`, everything else as text.
//!
//! Durations are given in seconds (a fraction when not whole), sizes in bytes, keywords as
//! their position in the keyword's list of values.

use serde_json::{Number, Value, json};

use crate::config::values::{self, Keyword};
use crate::config::{
    Config, Hugepage, LogLevel, LogMode, LogType, MAIN_KEYS, ProcessTitle, SERVER_KEYS, ServerType,
    TlsMode,
};

use super::super::document::Object;

/// How a key's canonical text is shown.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Number,
    Duration,
    Size,
    Keyword(fn(&str) -> Option<usize>),
}

/// The kind of a `[pgexporter]` key.
fn main_kind(key: &str) -> Kind {
    match key {
        "metrics_cache_max_age"
        | "metrics_query_timeout"
        | "bridge_cache_max_age"
        | "history_interval"
        | "history_retention"
        | "log_rotation_age"
        | "blocking_timeout"
        | "authentication_timeout" => Kind::Duration,
        "metrics_cache_max_size"
        | "bridge_cache_max_size"
        | "bridge_json_cache_max_size"
        | "log_rotation_size" => Kind::Size,
        "history" | "alerts" | "tls" | "keep_alive" | "nodelay" | "non_blocking" => Kind::Bool,
        "metrics" | "management" | "bridge" | "bridge_json" | "console" | "backlog" => Kind::Number,
        "log_type" => Kind::Keyword(ordinal::<LogType>),
        "log_level" => Kind::Keyword(ordinal::<LogLevel>),
        "log_mode" => Kind::Keyword(ordinal::<LogMode>),
        "hugepage" => Kind::Keyword(ordinal::<Hugepage>),
        "update_process_title" => Kind::Keyword(ordinal::<ProcessTitle>),
        _ => Kind::Text,
    }
}

/// The kind of a server key.
fn server_kind(key: &str) -> Kind {
    match key {
        "port" => Kind::Number,
        "type" => Kind::Keyword(ordinal::<ServerType>),
        "tls" => Kind::Keyword(ordinal::<TlsMode>),
        _ => Kind::Text,
    }
}

/// The position of the value `text` names among the distinct values of `K`.
fn ordinal<K: Keyword + PartialEq>(text: &str) -> Option<usize> {
    let value = values::parse_keyword::<K>(text).ok()?;
    let mut distinct: Vec<K> = Vec::new();
    for (_, candidate) in K::NAMES {
        if !distinct.contains(candidate) {
            distinct.push(*candidate);
        }
    }
    distinct.iter().position(|candidate| *candidate == value)
}

/// `{"string_value": text, "value": value}`.
fn pair(text: &str, value: Value) -> Value {
    json!({ "string_value": text, "value": value })
}

/// The JSON form of the canonical `text` of a key of `kind`; text when it does not parse.
fn typed(kind: Kind, text: &str) -> Value {
    let shown = match kind {
        Kind::Text => None,
        Kind::Bool => values::parse_bool(text).ok().map(Value::Bool),
        Kind::Number => text.parse::<u64>().ok().map(Value::from),
        Kind::Duration => values::parse_duration(text).ok().map(|duration| {
            let value = if duration.subsec_nanos() == 0 {
                Value::from(duration.as_secs())
            } else {
                Number::from_f64(duration.as_secs_f64()).map_or(Value::Null, Value::Number)
            };
            pair(text, value)
        }),
        Kind::Size => values::parse_size(text)
            .ok()
            .map(|size| pair(text, Value::from(size))),
        Kind::Keyword(position) => position(text).map(|index| pair(text, Value::from(index))),
    };
    shown.unwrap_or_else(|| Value::String(text.to_owned()))
}

/// Every `[pgexporter]` key by name, and the servers under `"server"`, as `conf get` answers.
pub(super) fn conf_get(config: &Config, out: &mut Object) {
    for info in MAIN_KEYS {
        let text = config.string_value(info.name).unwrap_or_default();
        out.insert(info.name.to_owned(), typed(main_kind(info.name), &text));
    }
    let mut servers = Object::new();
    for server in &config.servers {
        let mut keys = Object::new();
        for info in SERVER_KEYS {
            let text = crate::config::server_value(server, info.name).unwrap_or_default();
            keys.insert(info.name.to_owned(), typed(server_kind(info.name), &text));
        }
        servers.insert(server.name.clone(), Value::Object(keys));
    }
    out.insert("server".to_owned(), Value::Object(servers));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_ini;

    fn sample() -> Config {
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                    blocking_timeout = 250ms\nlog_level = debug3\n\
                    [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\ntls = off\n";
        load_ini(text, "t.conf", &|_| None).unwrap().config
    }

    #[test]
    fn every_typed_key_parses_its_own_canonical_text() {
        let config = sample();
        for info in MAIN_KEYS {
            let text = config.string_value(info.name).unwrap();
            let kind = main_kind(info.name);
            if !matches!(kind, Kind::Text) {
                assert_ne!(
                    typed(kind, &text),
                    Value::String(text.clone()),
                    "{}",
                    info.name
                );
            }
        }
        for info in SERVER_KEYS {
            let text = config
                .string_value(&format!("primary.{}", info.name))
                .unwrap();
            let kind = server_kind(info.name);
            if !matches!(kind, Kind::Text) {
                assert_ne!(
                    typed(kind, &text),
                    Value::String(text.clone()),
                    "{}",
                    info.name
                );
            }
        }
    }

    #[test]
    fn conf_get_shapes() {
        let mut out = Object::new();
        conf_get(&sample(), &mut out);
        assert_eq!(out["host"], json!("*"));
        assert_eq!(out["metrics"], json!(5002));
        assert_eq!(out["management"], json!(0));
        assert_eq!(out["tls"], json!(false));
        assert_eq!(
            out["authentication_timeout"],
            json!({"string_value": "5s", "value": 5})
        );
        assert_eq!(
            out["blocking_timeout"],
            json!({"string_value": "250ms", "value": 0.25})
        );
        assert_eq!(
            out["metrics_cache_max_size"],
            json!({"string_value": "256K", "value": 262144})
        );
        assert_eq!(out["log_level"]["string_value"], json!("debug3"));
        assert!(out["log_level"]["value"].is_u64());
        assert_eq!(out["server"]["primary"]["port"], json!(5432));
        assert_eq!(out["server"]["primary"]["user"], json!("pgexporter"));
        assert_eq!(
            out["server"]["primary"]["tls"]["string_value"],
            json!("off")
        );
        assert_eq!(out.len(), MAIN_KEYS.len() + 1);
    }

    #[test]
    fn keyword_positions_are_distinct_values() {
        assert_eq!(ordinal::<TlsMode>("off"), ordinal::<TlsMode>("OFF"));
        assert_ne!(ordinal::<TlsMode>("off"), ordinal::<TlsMode>("on"));
        assert_eq!(ordinal::<TlsMode>("nonsense"), None);
    }
}
