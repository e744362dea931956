//! The families of the reference exporter's extension files
//! (`shared/fixtures/reference-families/extensions.tsv`), and what ours produce, for checking
//! one against the other at any installed extension version.

use std::collections::BTreeMap;
use std::fs;

use pgexporter_core::exposition::Format;
use pgexporter_core::exposition::strict_parser::{self, ParsedFamily};
use pgexporter_core::metrics::{
    ColumnKind, DEFAULT_TOP_STATEMENTS, ExtensionFile, ExtensionVersion, MetricDefinition,
    load_extensions,
};

/// Where the reference's extension families are listed.
pub const EXTENSIONS_TSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/reference-families/extensions.tsv"
);

/// Families whose type is ours, not the reference's: cumulative values the reference declares
/// as gauges (or a value that goes down declared as a counter). README.md lists them.
pub const TYPE_CORRECTIONS: [&str; 58] = [
    "pgexporter_citus_query_stats_by_executor_total_calls",
    "pgexporter_citus_query_stats_most_executed_calls",
    "pgexporter_pg_stat_statements_detailed_io_timing_blk_read_time",
    "pgexporter_pg_stat_statements_detailed_io_timing_blk_write_time",
    "pgexporter_pg_stat_statements_detailed_io_timing_temp_blk_read_time",
    "pgexporter_pg_stat_statements_detailed_io_timing_temp_blk_write_time",
    "pgexporter_pg_stat_statements_exec_time_detailed_total_exec_time",
    "pgexporter_pg_stat_statements_extension_metadata_dealloc",
    "pgexporter_pg_stat_statements_granular_io_timing_local_blk_read_time",
    "pgexporter_pg_stat_statements_granular_io_timing_local_blk_write_time",
    "pgexporter_pg_stat_statements_granular_io_timing_shared_blk_read_time",
    "pgexporter_pg_stat_statements_granular_io_timing_shared_blk_write_time",
    "pgexporter_pg_stat_statements_granular_io_timing_temp_blk_read_time",
    "pgexporter_pg_stat_statements_granular_io_timing_temp_blk_write_time",
    "pgexporter_pg_stat_statements_highest_wal_wal_bytes",
    "pgexporter_pg_stat_statements_io_stats_local_blks_read",
    "pgexporter_pg_stat_statements_io_stats_local_blks_written",
    "pgexporter_pg_stat_statements_io_stats_shared_blks_hit",
    "pgexporter_pg_stat_statements_io_stats_shared_blks_read",
    "pgexporter_pg_stat_statements_io_stats_shared_blks_written",
    "pgexporter_pg_stat_statements_io_stats_temp_blks_read",
    "pgexporter_pg_stat_statements_io_stats_temp_blks_written",
    "pgexporter_pg_stat_statements_io_timing_blk_read_time",
    "pgexporter_pg_stat_statements_io_timing_blk_write_time",
    "pgexporter_pg_stat_statements_jit_deform_stats_jit_deform_count",
    "pgexporter_pg_stat_statements_jit_deform_stats_jit_deform_time",
    "pgexporter_pg_stat_statements_jit_deform_stats_jit_functions",
    "pgexporter_pg_stat_statements_jit_deform_stats_total_jit_time",
    "pgexporter_pg_stat_statements_jit_stats_jit_emission_count",
    "pgexporter_pg_stat_statements_jit_stats_jit_emission_time",
    "pgexporter_pg_stat_statements_jit_stats_jit_functions",
    "pgexporter_pg_stat_statements_jit_stats_jit_generation_time",
    "pgexporter_pg_stat_statements_jit_stats_jit_inlining_count",
    "pgexporter_pg_stat_statements_jit_stats_jit_inlining_time",
    "pgexporter_pg_stat_statements_jit_stats_jit_optimization_count",
    "pgexporter_pg_stat_statements_jit_stats_jit_optimization_time",
    "pgexporter_pg_stat_statements_most_executed_calls",
    "pgexporter_pg_stat_statements_most_planned_plans",
    "pgexporter_pg_stat_statements_most_rows_rows",
    "pgexporter_pg_stat_statements_planning_stats_plans",
    "pgexporter_pg_stat_statements_planning_stats_total_plan_time",
    "pgexporter_pg_stat_statements_slowest_execution_total_exec_time",
    "pgexporter_pg_wait_sampling_cpu_waits_cpu_wait_samples",
    "pgexporter_pg_wait_sampling_io_waits_io_wait_samples",
    "pgexporter_pg_wait_sampling_ipc_waits_ipc_wait_samples",
    "pgexporter_pg_wait_sampling_lock_waits_lock_wait_samples",
    "pgexporter_pg_wait_sampling_process_wait_stats_total_wait_samples",
    "pgexporter_pg_wait_sampling_query_wait_profile_total_wait_samples",
    "pgexporter_pg_wait_sampling_timeout_waits_timeout_samples",
    "pgexporter_pg_wait_sampling_wait_distribution_summary_total_samples",
    "pgexporter_pg_wait_sampling_wait_event_profile_sample_count",
    "pgexporter_pg_wait_sampling_wait_events_by_type_total_samples",
    "pgexporter_pg_wait_sampling_wait_history_recent_occurrence_count",
    "pgexporter_postgis_topology_topology_edge_counts_inserted_edges",
    "pgexporter_postgis_topology_topology_face_counts_inserted_faces",
    "pgexporter_postgis_topology_topology_node_counts_deleted_nodes",
    "pgexporter_postgis_topology_topology_node_counts_inserted_nodes",
    "pgexporter_postgis_topology_topology_node_counts_updated_nodes",
];

/// One row of `extensions.tsv`.
#[derive(Debug, Clone)]
pub struct ReferenceFamily {
    /// The extension.
    pub extension: String,
    /// The extension version of the query variant that produces the family.
    pub version: ExtensionVersion,
    /// The family name.
    pub family: String,
    /// `gauge` or `counter`.
    pub kind: String,
    /// The labels, in order.
    pub labels: Vec<String>,
}

/// A family as produced at one version: its type and labels.
pub type Families = BTreeMap<String, (String, Vec<String>)>;

/// Every row of `extensions.tsv`; panics when the file is missing or malformed.
pub fn reference_families() -> Vec<ReferenceFamily> {
    let text = fs::read_to_string(EXTENSIONS_TSV)
        .unwrap_or_else(|e| panic!("cannot read {EXTENSIONS_TSV}: {e}"));
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "malformed line {line:?}");
            ReferenceFamily {
                extension: fields[0].to_owned(),
                version: ExtensionVersion::parse(fields[1]).expect("a version"),
                family: fields[2].to_owned(),
                kind: fields[3].to_owned(),
                labels: fields[4].split(',').map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// The families `file` produces for `installed`: for each metric, those of the variant chosen
/// for that version, labelled `server`, the label columns, then `database` unless a label
/// column is named so.
pub fn produced_at(file: &ExtensionFile, installed: &ExtensionVersion) -> Families {
    let mut families = Families::new();
    for definition in &file.definitions {
        let Some(index) = definition.variant_index_for_extension(installed) else {
            continue;
        };
        let variant = &definition.queries[index];
        let mut labels = vec!["server".to_owned()];
        labels.extend(variant.labels().map(|(_, name)| name.to_owned()));
        if !labels.iter().any(|label| label == "database") {
            labels.push("database".to_owned());
        }
        for (_, column) in variant.values() {
            let family = column.family_name(&definition.tag).expect("a value column");
            let kind = match column.kind {
                ColumnKind::Counter => "counter",
                ColumnKind::Histogram => "histogram",
                _ => "gauge",
            };
            families.insert(family, (kind.to_owned(), labels.clone()));
        }
    }
    families
}

/// The reference's families of `extension` at `installed`, grouped into metrics as `file`
/// groups them: for each metric, the rows of the highest variant version not above
/// `installed` among the rows of its families. Panics naming a reference family that no
/// metric of `file` produces.
pub fn expected_at(
    reference: &[ReferenceFamily],
    file: &ExtensionFile,
    installed: &ExtensionVersion,
) -> Families {
    let rows: Vec<&ReferenceFamily> = reference
        .iter()
        .filter(|row| row.extension == file.extension)
        .collect();
    let metric_of = |row: &ReferenceFamily| -> &MetricDefinition {
        file.definitions
            .iter()
            .find(|definition| definition.family_names().contains(&row.family))
            .unwrap_or_else(|| panic!("no metric of {} produces {}", file.extension, row.family))
    };
    let mut families = Families::new();
    for definition in &file.definitions {
        let own: Vec<&&ReferenceFamily> = rows
            .iter()
            .filter(|row| std::ptr::eq(metric_of(row), definition))
            .collect();
        let Some(version) = own
            .iter()
            .map(|row| &row.version)
            .filter(|version| *version <= installed)
            .max()
        else {
            continue;
        };
        for row in own.iter().filter(|row| &row.version == version) {
            families.insert(row.family.clone(), (row.kind.clone(), row.labels.clone()));
        }
    }
    families
}

/// The extensions installed in the `postgres` database of `cluster`, with their versions.
pub fn installed_extensions(cluster: &crate::PgCluster) -> BTreeMap<String, String> {
    cluster
        .psql("SELECT extname || '=' || extversion FROM pg_extension")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, version)| (name.to_owned(), version.to_owned()))
        .collect()
}

/// The reference's families of `extension` at its version in `installed`, as the shipped
/// definition file groups them.
pub fn expected_families(extension: &str, installed: &BTreeMap<String, String>) -> Families {
    let files = load_extensions(&[], DEFAULT_TOP_STATEMENTS).expect("the shipped files load");
    let file = files
        .iter()
        .find(|file| file.extension == extension)
        .unwrap_or_else(|| panic!("no shipped file for {extension}"));
    let version = installed
        .get(extension)
        .and_then(|version| ExtensionVersion::parse(version).ok())
        .unwrap_or_else(|| panic!("{extension} is not installed: {installed:?}"));
    expected_at(&reference_families(), file, &version)
}

/// What is wrong with the families of `extensions` in the exposition `body`: a reference family
/// of the installed version without a sample, or a sample whose labels are not the reference's,
/// one line each.
pub fn missing_extension_families(
    body: &str,
    extensions: &[&str],
    installed: &BTreeMap<String, String>,
) -> Vec<String> {
    let parsed: BTreeMap<String, ParsedFamily> = strict_parser::parse(body, Format::Text)
        .unwrap_or_else(|error| panic!("{error}\n{body}"))
        .into_iter()
        .map(|family| (family.name.clone(), family))
        .collect();
    let mut problems = Vec::new();
    for extension in extensions {
        let expected = expected_families(extension, installed);
        if expected.is_empty() {
            problems.push(format!(
                "{extension}: the reference has no family at this version"
            ));
        }
        for (family, (_, labels)) in &expected {
            let Some(found) = parsed.get(family).filter(|found| !found.samples.is_empty()) else {
                problems.push(format!(
                    "{extension} {}: no sample of {family}",
                    installed[*extension]
                ));
                continue;
            };
            for sample in &found.samples {
                let names: Vec<&str> = sample
                    .labels
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect();
                if names != *labels {
                    problems.push(format!("{family}: labels {names:?}, reference {labels:?}"));
                }
            }
        }
    }
    problems
}

/// The settings under which every contrib family has something to describe: function calls,
/// I/O timing and statement planning are tracked.
pub fn contrib_settings() -> Vec<String> {
    [
        "track_functions = all",
        "track_io_timing = on",
        "pg_stat_statements.track_planning = on",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Fills the contrib extensions' statistics in the `postgres` database of `cluster` (which has
/// a `bloated` table): crypto calls and statements compiled by JIT.
pub fn run_contrib_workload(cluster: &crate::PgCluster) {
    cluster.psql(
        "SELECT digest('x', 'sha256'), crypt('secret', gen_salt('bf', 4)); \
         SET jit = on; SET jit_above_cost = 0; SET jit_optimize_above_cost = 0; SET jit_inline_above_cost = 0; \
         SELECT sum(id), count(v) FROM bloated WHERE v LIKE 'a%' AND id > 100; \
         SELECT * FROM bloated a JOIN bloated b ON a.id = b.id WHERE a.id < 50",
    );
}
