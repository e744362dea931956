//! Printing the figures: a line per exporter and round, then a table of medians with the
//! spread over the rounds, and the ratios of ours to each Go configuration per round.

use std::collections::BTreeMap;

use crate::round::Figures;
use crate::subject::Kind;

/// Every round's figures, by exporter.
#[derive(Default)]
pub struct Results {
    by_kind: BTreeMap<&'static str, Vec<Figures>>,
}

impl Results {
    /// Records one round of exporter `kind`.
    pub fn add(&mut self, kind: Kind, figures: Figures) {
        self.by_kind.entry(kind.name()).or_default().push(figures);
    }

    /// Prints the medians (with the lowest and highest round) as a Markdown table, then the
    /// ratios of ours to the Go exporter's p50 and PostgreSQL CPU, round by round.
    pub fn print_summary(&self) {
        println!(
            "\n| exporter | samples | p50 ms | p90 ms | PostgreSQL CPU ms/scrape | executor ms/scrape | exporter CPU ms/scrape | connections (activity / processes / peak) | 8 clients req/s (errors) | RSS / peak MiB |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for kind in Kind::ALL {
            let Some(rounds) = self.by_kind.get(kind.name()) else {
                continue;
            };
            let errors: usize = rounds
                .iter()
                .map(|f| f.client_errors + f.sequential_errors)
                .sum();
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} ({errors}) | {:.1} / {:.1} |",
                kind.name(),
                median(rounds, |f| f.samples as f64),
                spread(rounds, |f| f.p50_ms),
                spread(rounds, |f| f.p90_ms),
                spread(rounds, |f| f.postgres_cpu_ms),
                spread(rounds, |f| f.executor_ms),
                spread(rounds, |f| f.exporter_cpu_ms),
                median(rounds, |f| f.connections as f64),
                median(rounds, |f| f.backends as f64),
                median(rounds, |f| f.peak_backends as f64),
                median(rounds, |f| f.clients_rps).round(),
                median(rounds, |f| f.rss_kib as f64) / 1024.0,
                median(rounds, |f| f.peak_rss_kib as f64) / 1024.0,
            );
        }
        let Some(ours) = self.by_kind.get(Kind::Ours.name()) else {
            return;
        };
        for peer in [Kind::Go, Kind::GoQueries] {
            let Some(theirs) = self.by_kind.get(peer.name()) else {
                continue;
            };
            let p50: Vec<f64> = ours
                .iter()
                .zip(theirs)
                .map(|(o, t)| o.p50_ms / t.p50_ms)
                .collect();
            let cpu: Vec<f64> = ours
                .iter()
                .zip(theirs)
                .map(|(o, t)| o.postgres_cpu_ms / t.postgres_cpu_ms)
                .collect();
            println!(
                "ours / {}: p50 ratio {} per round, PostgreSQL CPU ratio {} per round",
                peer.name(),
                list(&p50),
                list(&cpu)
            );
        }
    }
}

/// One exporter's round, on one line.
pub fn print_round(round: usize, kind: Kind, f: &Figures) {
    println!(
        "round {round} {}: {} samples; p50 {:.1} ms, p90 {:.1} ms ({} failed); PostgreSQL CPU \
         {:.2} ms (executor {:.2} ms), exporter CPU {:.2} ms per scrape; connections {} \
         (processes {}, peak {} under load); {CLIENTS} clients {:.0} req/s, {} of {} failed; \
         RSS {} KiB, peak {} KiB",
        kind.name(),
        f.samples,
        f.p50_ms,
        f.p90_ms,
        f.sequential_errors,
        f.postgres_cpu_ms,
        f.executor_ms,
        f.exporter_cpu_ms,
        f.connections,
        f.backends,
        f.peak_backends,
        f.clients_rps,
        f.client_errors,
        f.client_scrapes,
        f.rss_kib,
        f.peak_rss_kib,
        CLIENTS = crate::round::CLIENTS,
    );
}

fn values(rounds: &[Figures], pick: impl Fn(&Figures) -> f64) -> Vec<f64> {
    let mut values: Vec<f64> = rounds.iter().map(pick).collect();
    values.sort_by(f64::total_cmp);
    values
}

fn median(rounds: &[Figures], pick: impl Fn(&Figures) -> f64) -> f64 {
    let values = values(rounds, pick);
    values[values.len() / 2]
}

/// The median with the lowest and highest round: `12.3 (11.9-13.0)`.
fn spread(rounds: &[Figures], pick: impl Fn(&Figures) -> f64) -> String {
    let values = values(rounds, pick);
    format!(
        "{:.1} ({:.1}-{:.1})",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

fn list(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|ratio| format!("{ratio:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
