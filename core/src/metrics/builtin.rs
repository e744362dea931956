//! The built-in metric set, embedded in the binary as YAML.
//!
//! Each file groups the metrics of one area; the SQL of every query was written from the
//! PostgreSQL documentation of the view it reads, with one variant per server version where
//! the view's columns changed (13 to 18).

use super::error::DefinitionError;
use super::parse::{Source, SourceFormat};
use super::set::MetricSet;

/// The built-in definition files: a name for messages and the YAML text.
pub const BUILTIN_SOURCES: [(&str, &str); 6] = [
    (
        "builtin/database.yaml",
        include_str!("builtin/database.yaml"),
    ),
    (
        "builtin/activity.yaml",
        include_str!("builtin/activity.yaml"),
    ),
    ("builtin/stats.yaml", include_str!("builtin/stats.yaml")),
    ("builtin/tables.yaml", include_str!("builtin/tables.yaml")),
    (
        "builtin/replication.yaml",
        include_str!("builtin/replication.yaml"),
    ),
    ("builtin/server.yaml", include_str!("builtin/server.yaml")),
];

impl MetricSet {
    /// The built-in set, used when no custom metrics file replaces it (`-Y`/`-J`).
    ///
    /// The embedded files are checked by this crate's tests, so an error here means the
    /// binary was built from edited files that no longer validate.
    pub fn builtin() -> Result<MetricSet, DefinitionError> {
        let sources: Vec<Source<'_>> = BUILTIN_SOURCES
            .iter()
            .map(|(name, text)| Source::new(name, text, SourceFormat::Yaml))
            .collect();
        MetricSet::from_sources(&sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_validates() {
        let set = MetricSet::builtin().unwrap();
        assert!(set.definitions().len() >= 40, "{}", set.definitions().len());
    }

    /// A sample of the reference's families, each produced by some built-in definition (the
    /// tests package checks every family of the reference against the set).
    #[test]
    fn every_documented_family_is_defined() {
        let set = MetricSet::builtin().unwrap();
        let families: Vec<String> = set
            .definitions()
            .iter()
            .flat_map(|definition| definition.family_names())
            .collect();
        let documented = [
            "pgexporter_pg_database_size",
            "pgexporter_pg_locks_count",
            "pgexporter_pg_replication_slots_active",
            "pgexporter_pg_replication_slots_temporary",
            "pgexporter_pg_stat_bgwriter_buffers_alloc",
            "pgexporter_pg_stat_checkpointer_num_timed",
            "pgexporter_pg_process_idle_seconds",
            "pgexporter_pg_available_extensions",
            "pgexporter_pg_installed_extensions",
            "pgexporter_pg_file_settings",
            "pgexporter_pg_indexes",
            "pgexporter_pg_matviews",
            "pgexporter_pg_role",
            "pgexporter_pg_rule",
            "pgexporter_pg_shadow",
            "pgexporter_pg_usr_evt_trigger",
            "pgexporter_pg_db_conn",
            "pgexporter_pg_db_conn_ssl",
            "pgexporter_pg_statio_all_tables_heap_blks_read",
            "pgexporter_pg_statio_all_sequences_blks_read",
            "pgexporter_pg_stat_user_functions_calls",
            "pgexporter_pg_stat_replication",
            "pgexporter_pg_stat_archiver_archived_count",
            "pgexporter_pg_db_vacuum_age",
            "pgexporter_pg_db_vacuum_age_datminmxid",
            "pgexporter_pg_view_vacuum_age",
            "pgexporter_pg_blocked_vacuum_blocked_duration_seconds",
            "pgexporter_pg_wal_last_received",
            "pgexporter_pg_stat_walreceiver_received_tli",
            "pgexporter_pg_shmem_allocations",
            "pgexporter_pg_stat_progress_vacuum_heap_blks_scanned",
            "pgexporter_pg_stat_progress_analyze_sample_blks_scanned",
            "pgexporter_pg_stat_user_tables_vacuum_n_dead_tup",
            "pgexporter_pg_table_bloat_bloat_ratio_pct",
            "pgexporter_pg_mem_ctx_total_bytes",
            "pgexporter_pg_stat_backend_io_reads",
            "pgexporter_pg_aios_total_operations",
            "pgexporter_pg_wait_events_count",
            "pgexporter_pg_table_ratio_ratio_read",
            "pgexporter_pg_stat_wal_wal_bytes",
            "pgexporter_pg_stat_database_xact_commit",
            "pgexporter_pg_stat_database_conflicts_confl_lock",
            "pgexporter_pg_stat_all_indexes_idx_scans",
            "pgexporter_pg_stat_subscription_stats_apply_error_count",
            "pgexporter_pg_stat_io_reads",
            "pgexporter_pg_wait_event_count",
            "pgexporter_pg_long_running_transactions_age_seconds",
        ];
        for family in documented {
            assert!(
                families.iter().any(|known| known == family),
                "{family} is not defined"
            );
        }
    }

    #[test]
    fn version_specific_views_are_gated() {
        let set = MetricSet::builtin().unwrap();
        let by_tag = |tag: &str| {
            set.definitions()
                .iter()
                .find(|definition| definition.tag == tag)
                .unwrap()
        };
        assert!(by_tag("pg_stat_checkpointer").variant_for(16).is_none());
        assert!(by_tag("pg_stat_checkpointer").variant_for(17).is_some());
        assert!(by_tag("pg_stat_io").variant_for(15).is_none());
        assert!(by_tag("pg_stat_wal").variant_for(13).is_none());
        let bgwriter = by_tag("pg_stat_bgwriter");
        assert!(
            bgwriter
                .variant_for(16)
                .unwrap()
                .sql
                .contains("checkpoints_timed")
        );
        assert!(
            !bgwriter
                .variant_for(17)
                .unwrap()
                .sql
                .contains("checkpoints_timed")
        );
        let io = by_tag("pg_stat_io");
        assert!(!io.variant_for(17).unwrap().sql.contains("read_bytes"));
        assert!(io.variant_for(18).unwrap().sql.contains("read_bytes"));
    }
}
