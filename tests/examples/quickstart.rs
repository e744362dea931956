//! The quick start: a throwaway PostgreSQL cluster with a monitoring role, a vault and a
//! configuration for it, and the exporter serving its metrics, its alerts and its web console.
//! Everything is removed when Enter is pressed, standard input ends, or the process is
//! interrupted (the fixture's watchdog cleans up the cluster then). Run by `scripts/quickstart.sh`, which builds the binaries first.

use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};
use pgexporter_tests::{ClusterOptions, PgCluster};

fn main() {
    let cluster = PgCluster::start(ClusterOptions {
        ssl: true,
        ..ClusterOptions::default()
    });
    let version = cluster.psql("SHOW server_version");
    let home = ExporterHome::new();
    let console = free_port();
    let port = home.write_config(&cluster, &format!("console = {console}\nalerts = on"));
    let exporter = Exporter::start(&home, port, &[]);
    let families = exporter
        .scrape()
        .lines()
        .filter(|line| line.starts_with("# TYPE "))
        .count();
    println!(
        "PostgreSQL {} is running on 127.0.0.1:{} (throwaway cluster, TLS on), monitored as `{}`.",
        version.trim(),
        cluster.port(),
        MONITOR_USER.name
    );
    println!("pgexporter is serving {families} metric families.");
    println!();
    println!(
        "  Scrape:         curl http://{}/metrics",
        exporter.address()
    );
    println!("  Overview:       http://{}/", exporter.address());
    println!("  Web console:    http://127.0.0.1:{console}/");
    println!("  Configuration:  {}", home.config_file().display());
    println!("  Users file:     {}", home.users_file().display());
    println!();
    println!("Press Enter to stop the exporter and remove the cluster.");
    let mut line = String::new();
    // End of input or a read error both mean: stop now.
    let _ = std::io::stdin().read_line(&mut line);
}
