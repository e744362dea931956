//! Starts a throwaway PostgreSQL cluster with the monitoring role, prints how to connect, and
//! removes it when Enter is pressed, standard input ends, or the process is interrupted (the
//! fixture's watchdog cleans up then). Run by `scripts/quickstart.sh`.

use pgexporter_tests::cluster::{MONITOR_USER, SUPERUSER};
use pgexporter_tests::{ClusterOptions, PgCluster};

fn main() {
    let cluster = PgCluster::start(ClusterOptions { ssl: true });
    let version = cluster.psql("SHOW server_version");
    let password = MONITOR_USER.password.unwrap_or_default();
    println!(
        "PostgreSQL {} is running (throwaway cluster, TLS on).",
        version.trim()
    );
    println!();
    println!("  host      {}", cluster.host());
    println!("  port      {}", cluster.port());
    println!("  socket    {}", cluster.socket_dir().display());
    if let Some(ca) = cluster.ca_file() {
        println!("  CA file   {}", ca.display());
    }
    println!(
        "  role      {} (password `{password}`, member of pg_monitor)",
        MONITOR_USER.name
    );
    println!();
    println!("Connect with:");
    println!(
        "  PGPASSWORD='{password}' psql -h {} -p {} -U {} postgres",
        cluster.host(),
        cluster.port(),
        MONITOR_USER.name
    );
    println!(
        "  psql -h {} -p {} -U {SUPERUSER} postgres",
        cluster.socket_dir().display(),
        cluster.port()
    );
    println!();
    println!(
        "The exporter's serving part (the /metrics endpoint) is not there yet; until it lands,\n\
         this script provides the database it will monitor and nothing more."
    );
    println!();
    println!("Press Enter to stop and remove the cluster.");
    let mut line = String::new();
    // End of input or a read error both mean: stop now.
    let _ = std::io::stdin().read_line(&mut line);
}
