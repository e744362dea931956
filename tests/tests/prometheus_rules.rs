//! The Prometheus alerting rules shipped in `contrib/prometheus/alerts.yml`: promtool accepts
//! them, their unit tests (`alerts_test.yml`) pass, and every family they read is one the
//! exporter writes.

use std::collections::BTreeSet;

use pgexporter_core::metrics::{FIXED_FAMILIES, MetricSet};
use pgexporter_tests::promtool;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/prometheus");

/// The settings families, one per numeric setting: `pgexporter_pg_settings_<name>`.
const SETTINGS_PREFIX: &str = "pgexporter_pg_settings_";

fn succeeds(args: &[&str]) {
    let report = promtool::run(args);
    assert_eq!(
        report.code,
        Some(0),
        "promtool {args:?}:\n{}",
        report.output
    );
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    succeeds(&["check", "rules", &format!("{DIR}/alerts.yml")]);
    succeeds(&["test", "rules", &format!("{DIR}/alerts_test.yml")]);
}

#[test]
fn the_rules_read_families_the_exporter_writes() {
    let rules = std::fs::read_to_string(format!("{DIR}/alerts.yml")).unwrap();
    let expressions: String = rules
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.contains("summary:"))
        .collect::<Vec<_>>()
        .join("\n");
    let read: BTreeSet<&str> = expressions
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("pgexporter_"))
        .collect();
    assert!(read.len() >= 7, "{read:?}");
    let set = MetricSet::builtin().unwrap();
    let written: BTreeSet<String> = set
        .definitions()
        .iter()
        .flat_map(|definition| definition.family_names())
        .chain(FIXED_FAMILIES.iter().map(|name| (*name).to_owned()))
        .collect();
    for family in read {
        assert!(
            written.contains(family) || family.starts_with(SETTINGS_PREFIX),
            "alerts.yml reads {family}, which the exporter does not write"
        );
    }
}
