//! The contrib extensions that every PostgreSQL of the version matrix carries
//! (pg_stat_statements, pg_buffercache, pgstattuple, pgcrypto), on every major from 13 to 18:
//! each family the reference defines for the installed version has samples with the
//! reference's labels, and no query of them fails. The metric set does not depend on the
//! runtime: this runs against the default build only.
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does).

use std::thread;

use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::reference_extensions::{
    contrib_settings, installed_extensions, missing_extension_families, run_contrib_workload,
};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// The majors of the version matrix.
const MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

/// The contrib extensions checked on every major.
const CONTRIB: [&str; 4] = [
    "pg_stat_statements",
    "pg_buffercache",
    "pgstattuple",
    "pgcrypto",
];

/// Starts `major` with the contrib extensions and some work for them to describe, scrapes it
/// through the daemon, and says what is wrong.
fn check_major(major: u32) -> Vec<String> {
    let cluster = PgCluster::start(ClusterOptions {
        major: Some(major),
        settings: contrib_settings(),
        ..ClusterOptions::default()
    });
    for extension in CONTRIB.iter().filter(|name| **name != "pg_stat_statements") {
        cluster.psql(&format!("CREATE EXTENSION {extension}"));
    }
    cluster.psql(
        "CREATE TABLE bloated (id int PRIMARY KEY, v text); \
         INSERT INTO bloated SELECT g, md5(g::text) FROM generate_series(1, 20000) g; \
         DELETE FROM bloated WHERE id % 3 = 0; ANALYZE bloated",
    );
    run_contrib_workload(&cluster);
    let home = ExporterHome::new();
    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &[]);
    exporter.scrape();
    let body = exporter.scrape();
    // The version matrix's builds of 13, 14 and 16-18 come without LLVM: statements are never
    // compiled there, so families of JIT statistics have nothing to show.
    let can_jit = cluster.psql("SELECT pg_jit_available()").trim() == "t";
    let mut problems: Vec<String> =
        missing_extension_families(&body, &CONTRIB, &installed_extensions(&cluster))
            .into_iter()
            .filter(|problem| can_jit || !problem.contains("_jit_"))
            .map(|problem| format!("PostgreSQL {major}: {problem}"))
            .collect();
    if major == 15 && !can_jit {
        problems.push("PostgreSQL 15 (Debian's, with LLVM) cannot compile statements".to_owned());
    }
    if !body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n") {
        problems.push(format!("PostgreSQL {major}: the server is not active"));
    }
    let log = exporter.log();
    problems.extend(
        log.lines()
            .filter(|line| line.contains("query failed"))
            .map(|line| format!("PostgreSQL {major}: {line}")),
    );
    problems
}

#[test]
fn contrib_extensions_have_their_reference_families_on_every_major() {
    let problems: Vec<String> = thread::scope(|scope| {
        let checks: Vec<_> = MAJORS
            .iter()
            .map(|&major| scope.spawn(move || check_major(major)))
            .collect();
        checks
            .into_iter()
            .flat_map(|check| check.join().expect("a major's check"))
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
