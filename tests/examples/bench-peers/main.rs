//! This exporter against the Go `prometheus-postgres-exporter` on the same PostgreSQL 15, one
//! after the other, in rounds that alternate their order. Run by `scripts/bench-peers.sh`,
//! which builds the release binaries and points `PGEXPORTER_BIN_DIR` at them:
//!
//! `bench-peers [realistic|databases|servers] [rounds]`
//!
//! - `realistic` (the default): four databases of 40 tables (two indexes, 1,000 rows each)
//!   besides `postgres`;
//! - `databases`: 100 databases of 100 tables on one server (ours also with a cap of 1000
//!   connections, to show what the default cap costs);
//! - `servers`: 20 servers (separate clusters), each with one database of 10 tables.
//!
//! For each exporter and round it prints the samples of one answer, the p50 and p90 of
//! sequential scrapes, the CPU time PostgreSQL spent serving the exporter per scrape (its
//! sessions, the sessions that ended and the postmaster, from /proc) and the executor time
//! `pg_stat_statements` counts, the exporter's CPU per scrape, the connections it holds
//! (`pg_stat_activity` and the process list), concurrent clients' throughput and failures,
//! and its RSS; then the medians over the rounds and the ratios of ours to the Go exporter's.

mod report;
mod round;
mod scenario;
mod subject;

use round::measure;
use scenario::{Load, SCENARIOS, Scenario};

/// Rounds when the command line names none.
const DEFAULT_ROUNDS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("realistic", String::as_str);
    let scenario = Scenario::named(name).unwrap_or_else(|| {
        let names: Vec<&str> = SCENARIOS.iter().map(|scenario| scenario.name).collect();
        eprintln!("unknown scenario {name:?}; known: {}", names.join(", "));
        std::process::exit(2);
    });
    let rounds = match args.get(1).map(|rounds| rounds.parse::<usize>()) {
        None => DEFAULT_ROUNDS,
        Some(Ok(rounds)) if rounds > 0 => rounds,
        Some(_) => {
            eprintln!("rounds must be a positive number, not {:?}", args[1]);
            std::process::exit(2);
        }
    };
    println!(
        "scenario {}: {} PostgreSQL 15 cluster(s), {} database(s) of {} tables ({} rows) each \
         besides postgres; {} sequential scrapes and {} clients x {} scrapes per exporter and round",
        scenario.name,
        scenario.clusters,
        scenario.databases,
        scenario.tables,
        scenario.rows,
        scenario.sequential,
        round::CLIENTS,
        scenario.per_client
    );
    let clusters = scenario.start();
    let _load: Vec<Load> = clusters.iter().map(Load::start).collect();
    let mut results = report::Results::default();
    for number in 0..rounds {
        // Each round starts with the next exporter, so that none always goes first.
        let kinds = scenario.kinds;
        for offset in 0..kinds.len() {
            let kind = kinds[(number + offset) % kinds.len()];
            let (figures, top) = match measure(kind, &scenario, &clusters, number == 0) {
                Ok(measured) => measured,
                Err(error) => {
                    println!(
                        "round {} {}: failed its warm-up scrape ({error}), not measured",
                        number + 1,
                        kind.name()
                    );
                    continue;
                }
            };
            report::print_round(number + 1, kind, &figures);
            if let Some(top) = top {
                println!("  costliest statements per scrape:\n{}", indent(&top));
            }
            results.add(kind, figures);
        }
    }
    results.print_summary();
}

fn indent(lines: &str) -> String {
    lines
        .lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
