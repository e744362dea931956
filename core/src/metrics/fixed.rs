//! The families the exporter writes itself on every scrape (SPEC §6.2), whatever the metric
//! set: a metric definition may not produce one of them.

/// Prefix of the one-family-per-setting families (`pgexporter_pg_settings_<name>`).
pub const SETTINGS_PREFIX: &str = "pgexporter_pg_settings_";

/// Collector of the `pgexporter_pg_settings_*` families.
pub const SETTINGS_COLLECTOR: &str = "settings";

/// Collector of `pgexporter_postgresql_primary`.
pub const PRIMARY_COLLECTOR: &str = "primary";

/// Collector of `pgexporter_postgresql_extension_info`.
pub const EXTENSION_INFO_COLLECTOR: &str = "extensions_list";

/// The family of each collector's query time, per server.
pub const COLLECTOR_DURATION: &str = "pgexporter_collector_duration_seconds";

/// The family of each collector's success, per server.
pub const COLLECTOR_SUCCESS: &str = "pgexporter_collector_success";

/// The family of each collector's series, per server.
pub const COLLECTOR_SERIES: &str = "pgexporter_collector_series";

/// Every fixed family name; `pgexporter_pg_settings_*` stands for one family per setting.
pub const FIXED_FAMILIES: [&str; 20] = [
    "pgexporter_state",
    "pgexporter_version",
    "pgexporter_fips",
    "pgexporter_logging_info",
    "pgexporter_logging_warn",
    "pgexporter_logging_error",
    "pgexporter_logging_fatal",
    "pgexporter_query_executions_total",
    "pgexporter_query_errors_total",
    "pgexporter_query_timeouts_total",
    "pgexporter_postgresql_active",
    "pgexporter_postgresql_version",
    "pgexporter_postgresql_uptime",
    "pgexporter_postgresql_primary",
    "pgexporter_postgresql_fips",
    "pgexporter_postgresql_extension_info",
    COLLECTOR_DURATION,
    COLLECTOR_SUCCESS,
    COLLECTOR_SERIES,
    "pgexporter_pg_settings_*",
];

/// Whether `family` is written by the exporter itself (a name of [`FIXED_FAMILIES`], or a
/// settings family).
///
/// ```
/// use pgexporter_core::metrics::is_fixed_family;
/// assert!(is_fixed_family("pgexporter_postgresql_primary"));
/// assert!(is_fixed_family("pgexporter_pg_settings_max_connections"));
/// assert!(!is_fixed_family("pgexporter_pg_database_size"));
/// ```
pub fn is_fixed_family(family: &str) -> bool {
    family.starts_with(SETTINGS_PREFIX) || FIXED_FAMILIES.contains(&family)
}
