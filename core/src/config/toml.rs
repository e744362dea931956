//! The same configuration written as TOML.
//!
//! Shape: a `[pgexporter]` table with the keys of the main section, and one
//! `[servers.<name>]` table per server:
//!
//! ```toml
//! [pgexporter]
//! host = "*"
//! metrics = 5002
//! unix_socket_dir = "/tmp/"
//! collectors = ["db", "locks"]
//!
//! [servers.primary]
//! host = "localhost"
//! port = 5432
//! user = "pgexporter"
//! ```
//!
//! Every value is turned into the text the INI file would hold — strings as they are,
//! integers in decimal, booleans as `on`/`off`, arrays joined with commas — and then read by
//! the same loader, so a TOML file and an INI file with the same settings give equal
//! configurations. Durations and sizes are strings (`"30s"`, `"256K"`) or plain integers
//! (seconds, bytes). Servers keep the order in which they appear in the file.

use ::toml::Spanned;
use ::toml::de::{DeTable, DeValue};

use super::error::{ConfigError, ErrorKind, Warning, WarningKind};
use super::ini::{Entry, Section};
use super::load::{Loaded, MAIN_SECTION, build};
use super::values::EnvLookup;

/// The top-level table that holds the server tables.
pub const SERVERS_TABLE: &str = "servers";

const SCALAR_EXPECTED: &str = "a string, integer, boolean or array of them";

/// Converts byte offsets of the text into 1-based line numbers.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(text.match_indices('\n').map(|(offset, _)| offset).collect())
    }

    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|newline| *newline < offset) + 1
    }
}

fn shape_error(found: &str, expected: &'static str) -> ErrorKind {
    ErrorKind::TomlShape {
        found: found.to_owned(),
        expected,
    }
}

fn scalar_text(value: &DeValue<'_>) -> Result<String, ErrorKind> {
    match value {
        DeValue::String(text) => Ok(text.to_string()),
        DeValue::Integer(integer) => i128::from_str_radix(integer.as_str(), integer.radix())
            .map(|n| n.to_string())
            .map_err(|_| shape_error("integer out of range", SCALAR_EXPECTED)),
        DeValue::Boolean(flag) => Ok(if *flag { "on" } else { "off" }.to_owned()),
        other => Err(shape_error(other.type_str(), SCALAR_EXPECTED)),
    }
}

fn value_text(value: &DeValue<'_>) -> Result<String, ErrorKind> {
    match value {
        DeValue::Array(items) => {
            let texts = items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::Array(_) => Err(shape_error("nested array", SCALAR_EXPECTED)),
                    scalar => scalar_text(scalar),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(texts.join(","))
        }
        scalar => scalar_text(scalar),
    }
}

/// Reads one table of keys as a section named `name`.
fn section(
    name: &str,
    line: usize,
    table: &DeTable<'_>,
    lines: &Lines,
    file: &str,
) -> Result<Section, ConfigError> {
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table {
        let line = lines.of(key.span().start);
        let value = value_text(value.get_ref()).map_err(|kind| ConfigError {
            file: file.to_owned(),
            line: Some(line),
            key: Some(key.get_ref().to_string()),
            kind,
        })?;
        entries.push(Entry {
            key: key.get_ref().to_string(),
            value,
            line,
        });
    }
    entries.sort_by_key(|entry| entry.line);
    Ok(Section {
        name: name.to_owned(),
        line,
        entries,
    })
}

fn as_table<'a, 'i>(
    value: &'a Spanned<DeValue<'i>>,
    expected: &'static str,
    line: usize,
    file: &str,
) -> Result<&'a DeTable<'i>, ConfigError> {
    value.get_ref().as_table().ok_or_else(|| ConfigError {
        file: file.to_owned(),
        line: Some(line),
        key: None,
        kind: shape_error(value.get_ref().type_str(), expected),
    })
}

/// Parses and validates TOML text with the shape described in the module documentation.
/// `file` is used only in messages; `env` resolves `$VAR` in path keys. Top-level keys other
/// than `pgexporter` and `servers` are warnings.
pub fn load_toml(text: &str, file: &str, env: EnvLookup<'_>) -> Result<Loaded, ConfigError> {
    let lines = Lines::new(text);
    let document = DeTable::parse(text).map_err(|err| ConfigError {
        file: file.to_owned(),
        line: err.span().map(|span| lines.of(span.start)),
        key: None,
        kind: ErrorKind::Toml(err.message().to_owned()),
    })?;
    let mut sections = Vec::new();
    let mut warnings = Vec::new();
    for (key, value) in document.get_ref() {
        let line = lines.of(key.span().start);
        match key.get_ref().as_ref() {
            MAIN_SECTION => {
                let table = as_table(value, "a table of keys", line, file)?;
                sections.push(section(MAIN_SECTION, line, table, &lines, file)?);
            }
            SERVERS_TABLE => {
                let servers = as_table(value, "a table of server tables", line, file)?;
                for (name, server) in servers {
                    let line = lines.of(name.span().start);
                    if name.get_ref() == MAIN_SECTION {
                        return Err(ConfigError {
                            file: file.to_owned(),
                            line: Some(line),
                            key: None,
                            kind: ErrorKind::ReservedSection(MAIN_SECTION.to_owned()),
                        });
                    }
                    let table = as_table(server, "a table of server keys", line, file)?;
                    sections.push(section(name.get_ref(), line, table, &lines, file)?);
                }
            }
            other => warnings.push(Warning {
                file: file.to_owned(),
                line,
                key: other.to_owned(),
                kind: WarningKind::UnknownKey,
            }),
        }
    }
    sections.sort_by_key(|section| section.line);
    let mut loaded = build(&sections, file, env)?;
    warnings.append(&mut loaded.warnings);
    warnings.sort_by_key(|warning| warning.line);
    loaded.warnings = warnings;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_ini;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const INI: &str = "[pgexporter]
host = *
metrics = 5002
unix_socket_dir = /tmp/
log_type = file
log_path = /tmp/pgexporter.log
metrics_cache_max_age = 30
metrics_cache_max_size = 512K
metrics_query_timeout = 100ms
keep_alive = off
collectors = db,locks
bridge = 5003
bridge_endpoints = a:5002,http://b:5002/metrics

[zulu]
host = z
port = 5432
user = pgexporter
tls = on

[alpha]
host = /run/postgresql
port = 5433
type = prometheus
extensions = a,b
";

    const TOML: &str = r#"[pgexporter]
host = "*"
metrics = 5002
unix_socket_dir = "/tmp/"
log_type = "file"
log_path = "/tmp/pgexporter.log"
metrics_cache_max_age = 30
metrics_cache_max_size = "512K"
metrics_query_timeout = "100ms"
keep_alive = false
collectors = ["db", "locks"]
bridge = 0x138b
bridge_endpoints = ["a:5002", "http://b:5002/metrics"]

[servers.zulu]
host = "z"
port = 5432
user = "pgexporter"
tls = true

[servers.alpha]
host = "/run/postgresql"
port = 5433
type = "prometheus"
extensions = ["a", "b"]
"#;

    #[test]
    fn toml_and_ini_give_equal_configs() {
        let from_ini = load_ini(INI, "c.conf", &no_env).unwrap();
        let from_toml = load_toml(TOML, "c.toml", &no_env).unwrap();
        assert_eq!(from_toml.config, from_ini.config);
        assert!(from_toml.warnings.is_empty());
        let kinds = |loaded: &Loaded| -> Vec<(String, WarningKind)> {
            loaded
                .warnings
                .iter()
                .map(|warning| (warning.key.clone(), warning.kind.clone()))
                .collect()
        };
        assert_eq!(kinds(&from_toml), kinds(&from_ini));
        assert_eq!(
            from_toml.config.servers[0].name, "zulu",
            "file order is kept"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "[pgexporter]\nhost = \"*\"\nunix_socket_dir = \"/tmp\"\nmetrics = 5002\n\
                    blocking_timeout = \"5x\"\n[servers.p]\nhost = \"h\"\nport = 1\nuser = \"u\"\n";
        let err = load_toml(text, "c.toml", &no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:5: key 'blocking_timeout': invalid duration '5x' (expected digits with optional unit ms, s, m, h, d or w)"
        );
        let text = text.replace("blocking_timeout = \"5x\"", "blocking_timeout = 1.5");
        let err = load_toml(&text, "c.toml", &no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:5: key 'blocking_timeout': unexpected float (expected a string, integer, boolean or array of them)"
        );
        let err = load_toml("[pgexporter]\nhost = \n", "c.toml", &no_env).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(matches!(err.kind, ErrorKind::Toml(_)));
        let err = load_toml("servers = 1\n", "c.toml", &no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:1: unexpected integer (expected a table of server tables)"
        );
    }

    /// The configuration written as TOML with every value as a string.
    fn as_toml_strings(config: &crate::config::Config) -> String {
        let quoted = |text: String| ::toml::Value::String(text).to_string();
        let mut out = String::from("[pgexporter]\n");
        for info in crate::config::MAIN_KEYS {
            let value = config.string_value(info.name).unwrap();
            out.push_str(&format!("{} = {}\n", info.name, quoted(value)));
        }
        for server in &config.servers {
            out.push_str(&format!("[servers.{}]\n", quoted(server.name.clone())));
            for info in crate::config::SERVER_KEYS {
                let value = crate::config::server_value(server, info.name).unwrap();
                out.push_str(&format!("{} = {}\n", info.name, quoted(value)));
            }
        }
        out
    }

    #[test]
    fn every_key_reads_the_same_from_toml() {
        let ini = INI.replace(
            "metrics = 5002\n",
            "metrics = 5002\nlog_line_prefix = '%H \\ \"%M\" # x'\nlog_level = debug2\n\
             hugepage = on\nalerts = on\npidfile = /run/p\nlog_rotation_size = 1G\n",
        );
        let config = load_ini(&ini, "c.conf", &no_env).unwrap().config;
        assert_eq!(config.main.log_line_prefix, "%H \\ \"%M\" # x");
        let toml = as_toml_strings(&config);
        let loaded = load_toml(&toml, "c.toml", &no_env).unwrap();
        assert!(loaded.warnings.is_empty());
        assert_eq!(loaded.config, config);
    }

    #[test]
    fn line_numbers_of_offsets() {
        let lines = Lines::new("a\nbc\n\nd");
        let found: Vec<usize> = [0, 1, 2, 4, 5, 6, 7]
            .map(|offset| lines.of(offset))
            .to_vec();
        assert_eq!(found, vec![1, 1, 2, 2, 3, 4, 4]);
    }

    #[test]
    fn reserved_server_names() {
        for name in ["pgexporter", "all"] {
            let text = TOML.replace("servers.alpha", &format!("servers.{name}"));
            let err = load_toml(&text, "c.toml", &no_env).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("c.toml:21: section name '{name}' is reserved")
            );
        }
    }

    #[test]
    fn unknown_top_level_keys_are_warnings() {
        let text = format!("title = \"x\"\n{TOML}");
        let loaded = load_toml(&text, "c.toml", &no_env).unwrap();
        let warnings = &loaded.warnings;
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 1);
        assert_eq!(warnings[0].key, "title");
    }
}
