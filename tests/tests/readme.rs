//! The README stays true: its Quick start has exactly two commands, and its table of built-in
//! families is the one the metric set generates.

use pgexporter_core::metrics::{MetricSet, family_table};

const README: &str = include_str!("../../README.md");
const TABLE_START: &str = "<!-- metric-table:start -->\n";
const TABLE_END: &str = "<!-- metric-table:end -->";

#[test]
fn the_metric_table_matches_the_builtin_set() {
    let start = README.find(TABLE_START).expect("the table's start marker") + TABLE_START.len();
    let end = README.find(TABLE_END).expect("the table's end marker");
    let expected = family_table(&MetricSet::builtin().unwrap());
    assert!(
        README[start..end] == expected,
        "README.md's metric table is stale: regenerate it with \
         `cargo run -q -p pgexporter-tests --example metric-table`"
    );
}

#[test]
fn the_quick_start_has_exactly_two_commands() {
    let section = README
        .split("## Quick start")
        .nth(1)
        .expect("a Quick start section");
    let block = section.split("```").nth(1).expect("a code block");
    let commands: Vec<&str> = block
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        ["bash scripts/quickstart.sh", "bash scripts/test.sh"]
    );
}
