//! What each key of the key tables means, for the manual page `pgexporter.conf(5)` and for
//! `pgexporter-config`. A test holds these lists to [`MAIN_KEYS`] and [`SERVER_KEYS`], so a
//! key cannot be added without its description.

#[cfg(test)]
use super::keys::{MAIN_KEYS, SERVER_KEYS};

/// The description of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key.
    pub name: &'static str,
    /// What its value is: `port`, `duration`, `size`, `bool`, `path`, `list`, `count`,
    /// `text`, or the keywords it takes.
    pub value: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

const fn doc(name: &'static str, value: &'static str, meaning: &'static str) -> KeyDoc {
    KeyDoc {
        name,
        value,
        meaning,
    }
}

/// The keys of `[pgexporter]`, in the order of [`MAIN_KEYS`].
pub const MAIN_KEY_DOCS: &[KeyDoc] = &[
    doc(
        "host",
        "text",
        "Address the TCP listeners bind to; * is every interface, IPv4 and IPv6. Required.",
    ),
    doc(
        "unix_socket_dir",
        "path",
        "Directory of the management socket .s.pgexporter. Required.",
    ),
    doc(
        "metrics",
        "port",
        "Port of the Prometheus endpoint /metrics.",
    ),
    doc(
        "metrics_path",
        "path",
        "A custom metrics YAML or JSON file, or a directory of them, added to the built-in set.",
    ),
    doc(
        "metrics_cache_max_age",
        "duration",
        "How long a /metrics answer is served again to later scrapes; 0 is off.",
    ),
    doc(
        "metrics_cache_max_size",
        "size",
        "Largest /metrics body kept in the cache (at most 1M).",
    ),
    doc(
        "metrics_query_timeout",
        "duration",
        "statement_timeout of every PostgreSQL connection; 0 is off, else at least 50ms.",
    ),
    doc(
        "management",
        "port",
        "Port of remote management (SCRAM-SHA-256 against the admins file); 0 is off.",
    ),
    doc(
        "bridge",
        "port",
        "Port of the bridge, which merges the /metrics of bridge_endpoints.",
    ),
    doc(
        "bridge_endpoints",
        "list",
        "The exporters the bridge fetches: host:port, optionally http://host:port/metrics.",
    ),
    doc(
        "bridge_cache_max_age",
        "duration",
        "How long a bridge answer is served again.",
    ),
    doc(
        "bridge_cache_max_size",
        "size",
        "Largest bridge body kept in the cache.",
    ),
    doc(
        "bridge_json",
        "port",
        "Port of the JSON view of the bridge (needs bridge).",
    ),
    doc(
        "bridge_json_cache_max_size",
        "size",
        "Largest JSON view body kept in the cache.",
    ),
    doc("console", "port", "Port of the web console."),
    doc(
        "history",
        "port",
        "Port of the history API; setting it turns history on.",
    ),
    doc(
        "history_interval",
        "duration",
        "Least time between two automatic history snapshots; 0 stores them on scrapes only.",
    ),
    doc(
        "history_retention",
        "duration",
        "History snapshots older than this are removed.",
    ),
    doc("history_backend", "sqlite", "Storage of the history."),
    doc(
        "history_path",
        "path",
        "The history's SQLite database file.",
    ),
    doc(
        "history_cert_file",
        "path",
        "Certificate of HTTPS on the history port.",
    ),
    doc(
        "history_key_file",
        "path",
        "Private key of HTTPS on the history port.",
    ),
    doc(
        "history_ca_file",
        "path",
        "CA of the client certificates the history port then requires.",
    ),
    doc(
        "bridge_history",
        "port",
        "Port of the history API over bridge scrapes (stored in bridge_history_path).",
    ),
    doc(
        "bridge_history_interval",
        "duration",
        "As history_interval, for bridge scrapes.",
    ),
    doc(
        "bridge_history_retention",
        "duration",
        "As history_retention, for bridge scrapes.",
    ),
    doc(
        "bridge_history_backend",
        "sqlite",
        "As history_backend, for bridge scrapes.",
    ),
    doc(
        "bridge_history_path",
        "path",
        "The SQLite database file of bridge scrapes.",
    ),
    doc(
        "metrics_openmetrics",
        "bool",
        "Answer OpenMetrics when the scraper's Accept header prefers it; off always answers the text format 0.0.4.",
    ),
    doc("alerts", "bool", "Produce the pgexporter_alert_* families."),
    doc(
        "alerts_path",
        "path",
        "Alert definitions: new alerts and changes to the built-in ones.",
    ),
    doc(
        "log_type",
        "console, file, syslog",
        "Where the log goes: standard error, log_path, or syslog.",
    ),
    doc(
        "log_level",
        "fatal, error, warn, info, debug, debug1 to debug5",
        "The least severe level logged.",
    ),
    doc(
        "log_path",
        "path",
        "The log file; strftime patterns are expanded when it is opened.",
    ),
    doc(
        "log_rotation_age",
        "duration",
        "Open the next log file after this long; 0 is off.",
    ),
    doc(
        "log_rotation_size",
        "size",
        "Open the next log file past this size; 0 is off.",
    ),
    doc(
        "log_line_prefix",
        "text",
        "strftime pattern, on local time, that starts every log line.",
    ),
    doc(
        "log_mode",
        "append, create",
        "Append to the log file, or truncate it when it is opened.",
    ),
    doc(
        "blocking_timeout",
        "duration",
        "Accepted for compatibility.",
    ),
    doc(
        "authentication_timeout",
        "duration",
        "Time a client has to send an HTTP request head or a management request.",
    ),
    doc("tls", "bool", "TLS on the remote management port."),
    doc(
        "tls_cert_file",
        "path",
        "Certificate of remote management TLS.",
    ),
    doc(
        "tls_key_file",
        "path",
        "Private key of remote management TLS.",
    ),
    doc(
        "tls_ca_file",
        "path",
        "CA of the client certificates remote management then requires.",
    ),
    doc(
        "metrics_cert_file",
        "path",
        "Certificate of HTTPS on the metrics port.",
    ),
    doc(
        "metrics_key_file",
        "path",
        "Private key of HTTPS on the metrics port.",
    ),
    doc(
        "metrics_ca_file",
        "path",
        "CA of the client certificates the metrics port then requires.",
    ),
    doc("keep_alive", "bool", "Accepted for compatibility."),
    doc("nodelay", "bool", "Accepted for compatibility."),
    doc("non_blocking", "bool", "Accepted for compatibility."),
    doc(
        "backlog",
        "count",
        "Pending connections each listener queues.",
    ),
    doc("hugepage", "off, try, on", "Accepted for compatibility."),
    doc("ev_backend", "text", "Accepted for compatibility."),
    doc(
        "pidfile",
        "path",
        "File the process id is written to at start and removed from at exit.",
    ),
    doc(
        "update_process_title",
        "never, off, strict, minimal, verbose, full",
        "Accepted for compatibility.",
    ),
    doc(
        "extensions",
        "list",
        "Extensions whose metrics are collected; unset collects every installed one.",
    ),
    doc(
        "extensions_path",
        "path",
        "A directory of extension definition files that add to or replace the shipped ones, per extension.",
    ),
    doc(
        "extensions_top_statements",
        "count",
        "How many statements the per-statement extension families report (at most 1000).",
    ),
    doc(
        "max_connections_per_server",
        "count",
        "The most PostgreSQL connections held to one server (1 to 1000); databases beyond it take turns.",
    ),
    doc(
        "collectors",
        "list",
        "Collectors to run; unset runs all. -C replaces it.",
    ),
    doc(
        "exclude_collectors",
        "list",
        "Collectors to leave out. -X replaces it.",
    ),
];

/// The keys of a server section, in the order of [`SERVER_KEYS`].
pub const SERVER_KEY_DOCS: &[KeyDoc] = &[
    doc(
        "host",
        "text",
        "Host name or address of the server; a value starting with / is a Unix socket directory. Required.",
    ),
    doc("port", "port", "Port of the server. Required."),
    doc(
        "user",
        "text",
        "The role to log in as; its password comes from the users file. Required.",
    ),
    doc(
        "type",
        "postgresql, prometheus",
        "A PostgreSQL server, or a Prometheus endpoint whose samples are appended.",
    ),
    doc(
        "tls",
        "off, try, on",
        "TLS to the server: never, when it accepts, or required.",
    ),
    doc(
        "tls_cert_file",
        "path",
        "Client certificate for TLS to the server.",
    ),
    doc(
        "tls_key_file",
        "path",
        "Private key of the client certificate.",
    ),
    doc(
        "tls_ca_file",
        "path",
        "CA the server's certificate must chain to; unset, it is not verified.",
    ),
    doc(
        "extensions",
        "list",
        "Extensions whose metrics are collected on this server; unset, the global list applies.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_tables_is_described_in_order() {
        let documented: Vec<&str> = MAIN_KEY_DOCS.iter().map(|doc| doc.name).collect();
        let keys: Vec<&str> = MAIN_KEYS.iter().map(|info| info.name).collect();
        assert_eq!(documented, keys);
        let documented: Vec<&str> = SERVER_KEY_DOCS.iter().map(|doc| doc.name).collect();
        let keys: Vec<&str> = SERVER_KEYS.iter().map(|info| info.name).collect();
        assert_eq!(documented, keys);
        for doc in MAIN_KEY_DOCS.iter().chain(SERVER_KEY_DOCS) {
            assert!(doc.meaning.ends_with('.'), "{}", doc.name);
        }
    }
}
