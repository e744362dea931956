//! The shipped extension definition files, embedded in the binary.
//!
//! Each file was written from its extension's documentation; the family names and labels are
//! the reference exporter's, with one query variant per extension version where the
//! extension's views changed.

/// One file per extension: a name for messages and the YAML text.
pub const BUILTIN_EXTENSION_SOURCES: [(&str, &str); 15] = [
    ("extensions/citus.yaml", include_str!("files/citus.yaml")),
    (
        "extensions/pg_buffercache.yaml",
        include_str!("files/pg_buffercache.yaml"),
    ),
    (
        "extensions/pg_qualstats.yaml",
        include_str!("files/pg_qualstats.yaml"),
    ),
    (
        "extensions/pg_stat_kcache.yaml",
        include_str!("files/pg_stat_kcache.yaml"),
    ),
    (
        "extensions/pg_stat_monitor.yaml",
        include_str!("files/pg_stat_monitor.yaml"),
    ),
    (
        "extensions/pg_stat_statements.yaml",
        include_str!("files/pg_stat_statements.yaml"),
    ),
    (
        "extensions/pg_wait_sampling.yaml",
        include_str!("files/pg_wait_sampling.yaml"),
    ),
    (
        "extensions/pgcrypto.yaml",
        include_str!("files/pgcrypto.yaml"),
    ),
    (
        "extensions/pgexporter_ext.yaml",
        include_str!("files/pgexporter_ext.yaml"),
    ),
    (
        "extensions/pgstattuple.yaml",
        include_str!("files/pgstattuple.yaml"),
    ),
    (
        "extensions/postgis.yaml",
        include_str!("files/postgis.yaml"),
    ),
    (
        "extensions/postgis_raster.yaml",
        include_str!("files/postgis_raster.yaml"),
    ),
    (
        "extensions/postgis_topology.yaml",
        include_str!("files/postgis_topology.yaml"),
    ),
    (
        "extensions/timescaledb.yaml",
        include_str!("files/timescaledb.yaml"),
    ),
    ("extensions/vector.yaml", include_str!("files/vector.yaml")),
];
