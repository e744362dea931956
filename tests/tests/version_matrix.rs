//! The version matrix: PostgreSQL 13, 14, 15, 16, 17 and 18, each as a primary and a streaming
//! replica, scraped by the daemon as a `pg_monitor` role. On every version and role every
//! built-in query runs without error, and every family of the reference's list for that
//! version and role is there with the reference's labels in order (`shared/fixtures/
//! reference-families/pgNN-<role>.tsv`; a missing family fails with its name).
//!
//! The majors run in parallel, one thread each; the servers come from Debian (15) and from
//! `scripts/install-postgresql-matrix.sh` (the others).

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_core::exposition::Format;
use pgexporter_core::exposition::strict_parser::{ParsedFamily, parse};
use pgexporter_core::metrics::MetricSet;
use pgexporter_tests::PgCluster;
use pgexporter_tests::cluster::{ClusterOptions, MATRIX_MAJORS, MONITOR_USER};
use pgexporter_tests::exporter::{Exporter, ExporterHome, eventually, sample_value};
use pgexporter_tests::reference::{
    DeclaredFamily, ReferenceFamily, Role, SETTINGS_FAMILIES, declared_families, families,
    readme_type_differences,
};

/// How long a server may take to answer its first scrape, with every major starting at once.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Families that have samples only while something happens that the matrix does not stage,
/// with what that is. Without samples, their labels are checked against the declaration.
const CONDITIONAL: [(&str, &str); 6] = [
    ("pgexporter_pg_stat_progress_vacuum_", "a VACUUM is running"),
    (
        "pgexporter_pg_stat_progress_analyze_",
        "an ANALYZE is running",
    ),
    ("pgexporter_pg_blocked_vacuum_", "a vacuum waits for a lock"),
    (
        "pgexporter_pg_long_running_transactions_",
        "a transaction has been open for five minutes",
    ),
    ("pgexporter_pg_aios_", "asynchronous I/O is in flight"),
    (
        "pgexporter_pg_stat_replication",
        "the server streams WAL to a standby (the replica has none)",
    ),
];

/// The objects the reference's lists were measured with, made on the primary: a table with an
/// index and a sequence, a function, a materialized view, a view, a second database, a
/// publication with a subscription, and a logical replication slot.
const PRIMARY_SETUP: [&str; 6] = [
    "CREATE TABLE matrix_table (id serial PRIMARY KEY, payload text); \
     INSERT INTO matrix_table (payload) SELECT md5(i::text) FROM generate_series(1, 1000) AS i; \
     CREATE FUNCTION matrix_function() RETURNS int LANGUAGE plpgsql AS 'BEGIN RETURN 1; END'; \
     CREATE MATERIALIZED VIEW matrix_matview AS SELECT * FROM matrix_table; \
     CREATE VIEW matrix_view AS SELECT * FROM matrix_table; \
     CREATE PUBLICATION matrix_publication FOR TABLE matrix_table",
    "CREATE DATABASE matrix_db",
    "CREATE SUBSCRIPTION matrix_subscription CONNECTION 'dbname=postgres' \
     PUBLICATION matrix_publication WITH (connect = false)",
    "SELECT pg_create_logical_replication_slot('matrix_logical', 'pgoutput')",
    "ANALYZE",
    "CHECKPOINT",
];

/// Activity on each server, whose statistics are its own: a function call and an index scan.
const ACTIVITY: &str = "SELECT matrix_function(); SET enable_seqscan = off; \
                        SELECT count(*) FROM matrix_table WHERE id = 1";

#[test]
fn every_reference_family_is_there_on_every_version_and_role() {
    let set = MetricSet::builtin().expect("the built-in set loads");
    let results: Vec<(u32, Result<Report, String>)> = thread::scope(|scope| {
        let runs: Vec<_> = MATRIX_MAJORS
            .iter()
            .map(|&major| {
                let set = &set;
                (major, scope.spawn(move || check_major(major, set)))
            })
            .collect();
        runs.into_iter()
            .map(|(major, run)| {
                let outcome = run.join().map_err(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned())
                });
                (major, outcome)
            })
            .collect()
    });
    let mut problems = Vec::new();
    for (major, outcome) in results {
        match outcome {
            Ok(report) => {
                for line in &report.summaries {
                    println!("{line}");
                }
                problems.extend(report.problems);
            }
            Err(panic) => problems.push(format!("PostgreSQL {major}: {panic}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What checking one major or one server found.
#[derive(Default)]
struct Report {
    /// One line per server: how many reference families were found.
    summaries: Vec<String>,
    /// One line per problem, naming the version, the role and the family.
    problems: Vec<String>,
}

/// Starts PostgreSQL `major` as a primary and a replica and scrapes each with its own daemon.
fn check_major(major: u32, set: &MetricSet) -> Report {
    let (primary, replica) = PgCluster::start_primary_and_replica(ClusterOptions {
        major: Some(major),
        settings: vec!["track_functions = 'pl'".to_owned()],
        ..ClusterOptions::default()
    });
    for sql in PRIMARY_SETUP {
        primary.psql(sql);
    }
    eventually("the replica replays the setup", || {
        replica
            .psql("SELECT count(*) FROM pg_class WHERE relname = 'matrix_matview'")
            .trim()
            == "1"
    });
    eventually("the replica streams", || primary.replica_streams());
    let mut report = Report::default();
    for (role, cluster) in [(Role::Primary, &primary), (Role::Replica, &replica)] {
        cluster.psql(ACTIVITY);
        let _idle = cluster.idle_session();
        let server = check_server(major, role, cluster, set);
        report.summaries.extend(server.summaries);
        report.problems.extend(server.problems);
    }
    report
}

/// Scrapes `cluster` with a daemon logged in as the `pg_monitor` role and holds the scrape to
/// the reference's list for `major` and `role`.
fn check_server(major: u32, role: Role, cluster: &PgCluster, set: &MetricSet) -> Report {
    let place = format!("PostgreSQL {major} {}", role.word());
    // Optional definitions need more than pg_monitor; they are left out so that any error
    // counted is one of a query that must run.
    let mut optional: Vec<&str> = set
        .definitions()
        .iter()
        .filter(|definition| definition.optional)
        .map(|definition| definition.collector.as_str())
        .collect();
    optional.dedup();
    let home = ExporterHome::new();
    let port = home.write_config(
        cluster,
        &format!("exclude_collectors = {}", optional.join(",")),
    );
    let exporter = Exporter::start(&home, port, &[]);
    let mut body = String::new();
    let started = Instant::now();
    while sample_value(&body, "pgexporter_postgresql_active{server=\"primary\"}") != Some(1.0) {
        assert!(
            started.elapsed() < ANSWER_TIMEOUT,
            "{place}: the server answered no scrape:\n{}",
            exporter.log()
        );
        body = exporter.scrape();
    }
    let mut report = Report::default();
    if sample_value(&body, "pgexporter_query_errors_total") != Some(0.0) {
        report.problems.push(format!(
            "{place}: queries failed as {}:\n{}",
            MONITOR_USER.name,
            exporter.log()
        ));
    }
    let scraped = match parse(&body, Format::Text) {
        Ok(families) => families,
        Err(error) => {
            report
                .problems
                .push(format!("{place}: the scrape does not parse: {error}"));
            return report;
        }
    };
    let declared = declared_families(set, major, role);
    let differences = readme_type_differences();
    let reference = families(major, role);
    let wrong: Vec<String> = reference
        .iter()
        .filter_map(|family| check_family(family, &scraped, &declared, &differences))
        .map(|problem| format!("{place}: {problem}"))
        .collect();
    report.summaries.push(format!(
        "{place}: {} of {} reference families found with their labels",
        reference.len() - wrong.len(),
        reference.len()
    ));
    report.problems.extend(wrong);
    report
}

/// What is wrong with `family` in the scrape, if anything.
fn check_family(
    family: &ReferenceFamily,
    scraped: &[ParsedFamily],
    declared: &[DeclaredFamily],
    differences: &std::collections::HashMap<String, (String, String)>,
) -> Option<String> {
    if family.name == SETTINGS_FAMILIES {
        let settings: Vec<&ParsedFamily> = scraped
            .iter()
            .filter(|ours| ours.name.starts_with("pgexporter_pg_settings_"))
            .collect();
        let labelled = settings.iter().all(|ours| {
            ours.samples
                .iter()
                .all(|sample| sample.labels.iter().map(|(name, _)| name).eq(["server"]))
        });
        return (settings.len() < 100 || !labelled).then(|| {
            format!(
                "{} settings families, each labelled server only: {labelled}",
                settings.len()
            )
        });
    }
    let Some(ours) = scraped.iter().find(|ours| ours.name == family.name) else {
        return Some(format!("{} is missing", family.name));
    };
    let listed = differences
        .get(&family.name)
        .is_some_and(|(reference, listed)| *reference == family.kind && *listed == ours.type_word);
    if ours.type_word != family.kind && !listed {
        return Some(format!(
            "{} is a {}, the reference's a {}",
            family.name, ours.type_word, family.kind
        ));
    }
    let labels = family.labels.as_ref()?;
    if ours.samples.is_empty() {
        let why = CONDITIONAL
            .iter()
            .find(|(prefix, _)| family.name.starts_with(prefix))
            .map(|(_, why)| *why);
        let declared_labels = declared
            .iter()
            .find(|declared| declared.name == family.name)
            .map(|declared| &declared.labels);
        return match (why, declared_labels) {
            (Some(_), Some(declared)) if declared.starts_with(labels) => None,
            (Some(why), _) => Some(format!(
                "{} (sampled only when {why}) is declared with labels {declared_labels:?}, the reference's {labels:?}",
                family.name
            )),
            (None, _) => Some(format!("{} has no sample", family.name)),
        };
    }
    let seen: HashSet<Vec<&str>> = ours
        .samples
        .iter()
        .map(|sample| {
            sample
                .labels
                .iter()
                .map(|(name, _)| name.as_str())
                .collect()
        })
        .collect();
    seen.iter()
        .find(|names| !names.starts_with(&labels.iter().map(String::as_str).collect::<Vec<_>>()))
        .map(|names| {
            format!(
                "{} has a sample labelled {names:?}, the reference {labels:?}",
                family.name
            )
        })
}
