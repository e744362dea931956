//! Prints the README's table of built-in metric families (`cargo run -p pgexporter-tests
//! --example metric-table`); `tests/readme.rs` checks that the README holds exactly this table.

use pgexporter_core::metrics::{MetricSet, family_table};

fn main() {
    let set = MetricSet::builtin().expect("the built-in set validates");
    print!("{}", family_table(&set));
}
