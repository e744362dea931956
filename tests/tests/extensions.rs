//! End-to-end tests of extension metrics: the built daemon against a PostgreSQL 15 cluster with
//! real extensions (contrib's pg_stat_statements, pg_buffercache, pgstattuple and pgcrypto;
//! Debian's pg_stat_kcache, pg_qualstats, pg_wait_sampling and PostGIS), under some load.
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::thread;
use std::time::Duration;

use pgexporter_core::exposition::Format;
use pgexporter_core::exposition::strict_parser::{self, ParsedFamily};
use pgexporter_core::metrics::{DEFAULT_TOP_STATEMENTS, ExtensionVersion};
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::promtool::assert_valid_exposition;
use pgexporter_tests::reference_extensions::{
    contrib_settings, expected_at, expected_families, installed_extensions,
    missing_extension_families, reference_families, run_contrib_workload,
};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Extensions that need `shared_preload_libraries`.
const PRELOADED: [&str; 3] = ["pg_stat_kcache", "pg_qualstats", "pg_wait_sampling"];

/// Every extension the cluster of [`with_every_extension`] installs.
const INSTALLED: [&str; 10] = [
    "pg_stat_statements",
    "pg_buffercache",
    "pgstattuple",
    "pgcrypto",
    "pg_stat_kcache",
    "pg_qualstats",
    "pg_wait_sampling",
    "postgis",
    "postgis_raster",
    "postgis_topology",
];

fn start(cluster: &PgCluster, extra_config: &str) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = home.write_config(cluster, extra_config);
    let exporter = Exporter::start(&home, port, &[]);
    (home, exporter)
}

/// The families of a body, by name, as the strict parser reads them.
fn parse(body: &str) -> BTreeMap<String, ParsedFamily> {
    strict_parser::parse(body, Format::Text)
        .unwrap_or_else(|error| panic!("{error}\n{body}"))
        .into_iter()
        .map(|family| (family.name.clone(), family))
        .collect()
}

/// The families of `extension` with at least one sample.
fn extension_families(body: &str, extension: &str) -> BTreeSet<String> {
    let prefix = format!("pgexporter_{extension}_");
    parse(body)
        .into_values()
        .filter(|family| family.name.starts_with(&prefix) && !family.samples.is_empty())
        .map(|family| family.name)
        .collect()
}

fn active(body: &str) -> bool {
    body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n")
}

#[test]
fn pg_stat_statements_created_and_dropped_while_running_changes_the_next_scrape() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("DROP EXTENSION pg_stat_statements");
    let (_home, exporter) = start(&cluster, "extensions_top_statements = 3");
    let body = exporter.scrape();
    assert!(active(&body), "{body}");
    assert!(
        extension_families(&body, "pg_stat_statements").is_empty(),
        "{body}"
    );

    cluster.psql("CREATE EXTENSION pg_stat_statements");
    cluster.psql("ALTER ROLE trust_user PASSWORD 'never-in-a-label'");
    for n in 0..10 {
        cluster.psql(&format!(
            "SELECT {n} AS n, count(*) FROM pg_class WHERE relpages > {n}"
        ));
    }
    let body = exporter.scrape();
    assert!(active(&body), "{body}");
    let families = extension_families(&body, "pg_stat_statements");
    assert!(
        families.contains("pgexporter_pg_stat_statements_most_executed_calls")
            && families.contains("pgexporter_pg_stat_statements_jit_stats_jit_functions"),
        "{families:?}"
    );
    assert!(body.contains(
        "pgexporter_postgresql_extension_info{server=\"primary\",extension=\"pg_stat_statements\",version=\"1.10\""
    ));
    assert!(
        !body.contains("never-in-a-label") && body.contains("PASSWORD '?'"),
        "quoted literals of statement texts are not shown: {body}"
    );
    let parsed = parse(&body);
    let calls = &parsed["pgexporter_pg_stat_statements_most_executed_calls"];
    assert_eq!(calls.samples.len(), 3, "extensions_top_statements = 3");
    assert_valid_exposition(&body);

    cluster.psql("DROP EXTENSION pg_stat_statements");
    let body = exporter.scrape();
    assert!(
        active(&body),
        "a dropped extension costs no failed scrape: {body}"
    );
    assert!(extension_families(&body, "pg_stat_statements").is_empty());
    assert!(!body.contains("extension=\"pg_stat_statements\""));
    assert!(
        !exporter.log().contains("failed"),
        "no query failed on the way:\n{}",
        exporter.log()
    );
}

/// Creates the extensions and the objects their families describe, then generates the load
/// that fills their statistics: statements (with JIT), predicates, lock waits, parallel query,
/// sleeps, dead tuples, crypto calls, geometries, rasters and a topology.
fn with_every_extension() -> PgCluster {
    let cluster = PgCluster::start(ClusterOptions {
        preload_libraries: PRELOADED.to_vec(),
        settings: [
            contrib_settings(),
            vec!["pg_qualstats.sample_rate = 1".to_owned()],
        ]
        .concat(),
        ..ClusterOptions::default()
    });
    for extension in INSTALLED
        .iter()
        .filter(|name| **name != "pg_stat_statements")
    {
        cluster.psql(&format!("CREATE EXTENSION {extension}"));
    }
    // PostGIS lists only the spatial columns of tables the role may read.
    cluster.psql(&format!("GRANT pg_read_all_data TO {}", MONITOR_USER.name));
    cluster.psql("CREATE DATABASE app");
    cluster.psql_in("app", "CREATE EXTENSION pgstattuple");
    for database in ["postgres", "app"] {
        cluster.psql_in(
            database,
            "CREATE TABLE bloated (id int PRIMARY KEY, v text); \
             INSERT INTO bloated SELECT g, md5(g::text) FROM generate_series(1, 20000) g; \
             DELETE FROM bloated WHERE id % 3 = 0; ANALYZE bloated",
        );
    }
    cluster.psql(
        "CREATE TABLE places (id int PRIMARY KEY, geom geometry(Point, 4326), area geography(Polygon, 4326)); \
         CREATE INDEX ON places USING gist (geom); CREATE INDEX ON places USING gist (area); \
         INSERT INTO places VALUES (1, 'SRID=4326;POINT(1 2)', 'SRID=4326;POLYGON((0 0,1 0,1 1,0 0))'); \
         CREATE TABLE rasters (rid serial PRIMARY KEY, rast raster); \
         INSERT INTO rasters (rast) SELECT ST_AddBand(ST_MakeEmptyRaster(10, 10, 0, 0, 1, -1, 0, 0, 4326), '8BUI'::text, 1, 0) \
           FROM generate_series(1, 2); \
         SELECT AddRasterConstraints('rasters', 'rast'); \
         SELECT ST_CreateOverview('rasters'::regclass, 'rast', 2); \
         SELECT topology.CreateTopology('roads', 4326); \
         SELECT topology.TopoGeo_AddLineString('roads', 'SRID=4326;LINESTRING(0 0, 1 1)'::geometry)",
    );
    run_contrib_workload(&cluster);
    cluster.psql(
        "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; \
         SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; \
         SET parallel_leader_participation = off; \
         SELECT count(*) FROM bloated a, generate_series(1, 20) g WHERE a.v > 'c'; \
         CHECKPOINT; SELECT pg_sleep(0.3)",
    );
    thread::scope(|scope| {
        scope.spawn(|| {
            cluster.psql("BEGIN; LOCK TABLE bloated; SELECT pg_sleep(1); COMMIT");
        });
        thread::sleep(Duration::from_millis(300));
        cluster.psql("SELECT count(*) FROM bloated");
    });
    cluster
}

#[test]
fn every_family_of_every_installed_extension_has_samples() {
    let cluster = with_every_extension();
    let (_home, exporter) = start(&cluster, "");
    exporter.scrape();
    let body = exporter.scrape();
    assert!(active(&body), "{body}");
    assert_valid_exposition(&body);
    let installed = installed_extensions(&cluster);
    let mut problems = missing_extension_families(&body, &INSTALLED, &installed);
    for extension in INSTALLED {
        let extra: Vec<String> = extension_families(&body, extension)
            .into_iter()
            .filter(|family| !expected_families(extension, &installed).contains_key(family))
            .filter(|family| {
                !family.starts_with("pgexporter_postgis_raster_")
                    && !family.starts_with("pgexporter_postgis_topology_")
            })
            .collect();
        if !extra.is_empty() {
            problems.push(format!(
                "{extension}: families the reference lacks: {extra:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        exporter.log()
    );
    assert!(
        body.contains("pgexporter_pgstattuple_table_bloat_stats_dead_tuple_count{server=\"primary\",database=\"app\",schemaname=\"public\",tablename=\"bloated\"}"),
        "per-database extensions run in every database that has them"
    );
    assert!(!exporter.log().contains("failed"), "{}", exporter.log());
}

/// Files in the reference's format, with its keys and shapes (a comment header, `metric:`,
/// quoted versions, descriptions on label columns, trailing semicolons, a query without
/// columns), put in `extensions_path`, replace the shipped file and produce the reference's
/// family names.
#[test]
fn reference_format_files_in_extensions_path_replace_the_shipped_ones() {
    let cluster = PgCluster::start(ClusterOptions::default());
    for n in 0..5 {
        cluster.psql(&format!("SELECT {n} FROM pg_class LIMIT 1"));
    }
    let home = ExporterHome::new();
    let dir = home.dir().join("extensions");
    fs::create_dir(&dir).unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/reference-format/pg_stat_statements.yaml"
    );
    fs::copy(fixture, dir.join("pg_stat_statements.yaml")).unwrap();
    let port = home.write_config(&cluster, &format!("extensions_path = {}", dir.display()));
    let exporter = Exporter::start(&home, port, &[]);
    let body = exporter.scrape();
    assert!(active(&body), "{body}");
    let families = extension_families(&body, "pg_stat_statements");
    let file = pgexporter_core::metrics::parse_extension_source(
        &pgexporter_core::metrics::Source::new(
            fixture,
            &fs::read_to_string(fixture).unwrap(),
            pgexporter_core::metrics::SourceFormat::Yaml,
        ),
        DEFAULT_TOP_STATEMENTS,
    )
    .unwrap();
    let version = ExtensionVersion::parse("1.10").unwrap();
    let expected: BTreeSet<String> = expected_at(&reference_families(), &file, &version)
        .into_keys()
        .collect();
    assert_eq!(families, expected, "{}", exporter.log());
    assert!(
        parse(&body)["pgexporter_pg_stat_statements_most_executed_calls"].type_word == "gauge",
        "the file's types, not the shipped file's"
    );
    assert_valid_exposition(&body);
}
