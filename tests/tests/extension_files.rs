//! The shipped extension definition files against the reference's extension families
//! (`extensions.tsv`): the same family names, labels and types at every extension version that
//! PostgreSQL 13 to 18 and Debian ship, and SQL that PostgreSQL's parser accepts. The
//! extensions that cannot be installed here (citus, timescaledb, vector, pg_stat_monitor,
//! pgexporter_ext) are checked this way only; the others run for real in `extensions.rs`.

use std::collections::BTreeSet;

use pgexporter_core::metrics::{
    DEFAULT_TOP_STATEMENTS, ExtensionFile, ExtensionVersion, load_extensions,
};
use pgexporter_core::pg::TlsMode;
use pgexporter_tests::client;
use pgexporter_tests::cluster::{Role, SUPERUSER};
use pgexporter_tests::reference_extensions::{
    Families, TYPE_CORRECTIONS, expected_at, produced_at, reference_families,
};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Versions shipped with PostgreSQL 13 to 18 (contrib) or by Debian for PostgreSQL 15, besides
/// the versions the reference's variants name.
const SHIPPED_VERSIONS: [(&str, &[&str]); 8] = [
    (
        "pg_stat_statements",
        &["1.8", "1.9", "1.10", "1.11", "1.12"],
    ),
    ("pg_buffercache", &["1.3", "1.4", "1.5", "1.6"]),
    ("pgstattuple", &["1.5"]),
    ("pgcrypto", &["1.3", "1.4"]),
    ("pg_stat_kcache", &["2.2.1"]),
    ("pg_qualstats", &["2.0.4"]),
    ("pg_wait_sampling", &["1.1"]),
    ("postgis", &["3.3.2"]),
];

fn files() -> Vec<ExtensionFile> {
    load_extensions(&[], DEFAULT_TOP_STATEMENTS).expect("the shipped files load")
}

/// Every version to check for `extension`.
fn versions(extension: &str) -> BTreeSet<String> {
    let mut versions: BTreeSet<String> = reference_families()
        .into_iter()
        .filter(|row| row.extension == extension)
        .map(|row| row.version.as_str().to_owned())
        .collect();
    for (name, shipped) in SHIPPED_VERSIONS {
        if name == extension {
            versions.extend(shipped.iter().map(|v| (*v).to_owned()));
        }
    }
    versions
}

/// What differs between `expected` and `produced`, one line each; types may differ where
/// [`TYPE_CORRECTIONS`] says so.
fn differences(expected: &Families, produced: &Families) -> Vec<String> {
    let mut lines = Vec::new();
    for (family, (kind, labels)) in expected {
        match produced.get(family) {
            None => lines.push(format!("missing {family}")),
            Some((ours, our_labels)) => {
                if our_labels != labels {
                    lines.push(format!(
                        "{family}: labels {our_labels:?}, reference {labels:?}"
                    ));
                }
                let corrected = TYPE_CORRECTIONS.contains(&family.as_str());
                if (ours != kind) != corrected {
                    lines.push(format!("{family}: type {ours}, reference {kind}"));
                }
            }
        }
    }
    for family in produced
        .keys()
        .filter(|family| !expected.contains_key(*family))
    {
        lines.push(format!("extra {family}"));
    }
    lines
}

#[test]
fn every_extension_of_the_reference_has_a_shipped_file() {
    let shipped: BTreeSet<String> = files().into_iter().map(|file| file.extension).collect();
    let reference: BTreeSet<String> = reference_families()
        .into_iter()
        .map(|row| row.extension)
        .collect();
    assert_eq!(shipped, reference);
}

#[test]
fn families_labels_and_types_are_the_references_at_every_version() {
    let reference = reference_families();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in files() {
        for version in versions(&file.extension) {
            let installed = ExtensionVersion::parse(&version).unwrap();
            let expected = expected_at(&reference, &file, &installed);
            let produced = produced_at(&file, &installed);
            checked += expected.len();
            problems.extend(
                differences(&expected, &produced)
                    .into_iter()
                    .map(|line| format!("{} {version}: {line}", file.extension)),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 1000, "only {checked} families checked");
    for family in TYPE_CORRECTIONS {
        let row = reference
            .iter()
            .find(|row| row.family == family)
            .unwrap_or_else(|| panic!("{family} is not a reference family"));
        assert!(["gauge", "counter"].contains(&row.kind.as_str()));
    }
}

/// Runs every query of every variant through PostgreSQL's parser (a PL/pgSQL function body is
/// parsed when the function is created, its table and column names resolved only when it
/// runs), so that a syntax error cannot hide in a file whose extension is not installed here.
#[test]
fn every_query_of_every_variant_parses() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let superuser = Role {
        name: SUPERUSER,
        password: None,
        method: "trust",
    };
    let mut pg = client::connect(&client::tcp(&cluster), superuser, TlsMode::Off, None);
    let mut failures = Vec::new();
    let mut parsed = 0;
    for file in files() {
        for definition in &file.definitions {
            for variant in &definition.queries {
                assert!(
                    !variant.sql.contains("$check$"),
                    "{} uses the check's quote",
                    definition.tag
                );
                let check = format!(
                    "CREATE OR REPLACE FUNCTION pg_temp.syntax_check() RETURNS void LANGUAGE plpgsql \
                     AS $check$ DECLARE r record; BEGIN FOR r IN {} LOOP END LOOP; END $check$",
                    variant.sql.trim().trim_end_matches(';')
                );
                parsed += 1;
                if let Err(error) = pg.query(&check) {
                    let version = variant.extension_version.as_ref().unwrap();
                    failures.push(format!("{} {version}: {error}", definition.tag));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(parsed > 150, "only {parsed} queries parsed");
    let broken = "CREATE OR REPLACE FUNCTION pg_temp.syntax_check() RETURNS void LANGUAGE plpgsql \
                  AS $check$ DECLARE r record; BEGIN FOR r IN SELECT FROM WHERE LOOP END LOOP; END $check$";
    assert!(
        pg.query(broken).is_err(),
        "the check catches a syntax error"
    );
}
