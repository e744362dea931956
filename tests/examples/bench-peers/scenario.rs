//! The PostgreSQL side of each scenario: clusters, databases of tables with indexes and rows,
//! activity recorded in their statistics, and a light load while the exporters are measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pgexporter_tests::{ClusterOptions, PgCluster};

use crate::subject::Kind;

/// What one scenario starts and how much it scrapes.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The name on the command line and in the report.
    pub name: &'static str,
    /// PostgreSQL clusters started.
    pub clusters: usize,
    /// Databases created in each cluster besides `postgres`.
    pub databases: usize,
    /// Tables in each of those databases (each with a primary key and one more index).
    pub tables: usize,
    /// Rows in each table.
    pub rows: usize,
    /// Sequential scrapes timed per exporter and round.
    pub sequential: usize,
    /// Scrapes each of the concurrent clients makes.
    pub per_client: usize,
    /// The exporters compared, in the order of the first round.
    pub kinds: &'static [Kind],
}

/// Ours and both configurations of the Go exporter.
const PEERS: &[Kind] = &[Kind::Ours, Kind::Go, Kind::GoQueries];

/// Every scenario.
pub const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "realistic",
        clusters: 1,
        databases: 4,
        tables: 40,
        rows: 1_000,
        sequential: 100,
        per_client: 25,
        kinds: PEERS,
    },
    Scenario {
        name: "databases",
        clusters: 1,
        databases: 100,
        tables: 100,
        rows: 10,
        sequential: 10,
        per_client: 2,
        kinds: &[Kind::Ours, Kind::OursUncapped, Kind::Go, Kind::GoQueries],
    },
    Scenario {
        name: "servers",
        clusters: 20,
        databases: 1,
        tables: 10,
        rows: 100,
        sequential: 20,
        per_client: 3,
        kinds: PEERS,
    },
];

/// The database every other one is copied from; dropped once they exist.
const TEMPLATE: &str = "bench_template";

impl Scenario {
    /// The scenario named `name`.
    pub fn named(name: &str) -> Option<Scenario> {
        SCENARIOS.into_iter().find(|scenario| scenario.name == name)
    }

    /// Starts the clusters (PostgreSQL 15, `pg_stat_statements` preloaded, autovacuum off so
    /// that no worker's CPU time lands in the measurement) and fills them.
    pub fn start(&self) -> Vec<PgCluster> {
        let mut settings = vec!["autovacuum = off".to_owned()];
        if self.databases > 50 {
            // Each exporter may hold a connection per database.
            settings.push(format!("max_connections = {}", 2 * self.databases + 50));
        }
        if self.clusters > 4 {
            settings.push("shared_buffers = 8MB".to_owned());
        }
        (0..self.clusters)
            .map(|_| {
                let cluster = PgCluster::start(ClusterOptions {
                    major: Some(15),
                    settings: settings.clone(),
                    ..ClusterOptions::default()
                });
                self.fill(&cluster);
                cluster
            })
            .collect()
    }

    /// Creates the databases `app1`... from one template of tables with indexes and rows,
    /// records some reads and writes in each, then analyzes them.
    fn fill(&self, cluster: &PgCluster) {
        cluster.psql(&format!("CREATE DATABASE {TEMPLATE}"));
        cluster.psql_in(TEMPLATE, &tables_sql(self.tables, self.rows));
        for number in 1..=self.databases {
            cluster.psql(&format!(
                "CREATE DATABASE app{number} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY"
            ));
            cluster.psql_in(&format!("app{number}"), &activity_sql(self.tables));
        }
        cluster.psql(&format!("DROP DATABASE {TEMPLATE}"));
        cluster.psql(
            "CREATE TABLE bench_activity (id int PRIMARY KEY, hits bigint NOT NULL); \
             INSERT INTO bench_activity SELECT g, 0 FROM generate_series(1, 100) AS g; ANALYZE",
        );
    }
}

/// Tables `t1`... with a primary key, an index on a second column and `rows` rows each.
fn tables_sql(tables: usize, rows: usize) -> String {
    format!(
        "DO $$ BEGIN FOR i IN 1..{tables} LOOP \
           EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, owner int NOT NULL, \
             note text, created timestamptz NOT NULL DEFAULT now())', i); \
           EXECUTE format('INSERT INTO t%s (id, owner, note) SELECT g, g %% 97, md5(g::text) \
             FROM generate_series(1, {rows}) AS g', i); \
           EXECUTE format('CREATE INDEX t%s_owner ON t%s (owner)', i, i); \
         END LOOP; END $$"
    )
}

/// Index scans, sequential scans and updates on every table, then `ANALYZE`.
fn activity_sql(tables: usize) -> String {
    format!(
        "DO $$ DECLARE n bigint; BEGIN FOR i IN 1..{tables} LOOP \
           EXECUTE format('SELECT count(*) FROM t%s WHERE owner = 3', i) INTO n; \
           EXECUTE format('SELECT count(*) FROM t%s WHERE note LIKE ''a%%''', i) INTO n; \
           EXECUTE format('UPDATE t%s SET note = note WHERE id <= 10', i); \
         END LOOP; END $$; ANALYZE"
    )
}

/// A session of the superuser that updates and reads a small table of `postgres` every 100 ms
/// until dropped; it stays connected, so its CPU time never counts as the exporters'.
pub struct Load {
    running: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Load {
    /// Starts the load on `cluster`.
    pub fn start(cluster: &PgCluster) -> Load {
        let mut session = cluster.idle_session();
        let running = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&running);
        let worker = thread::spawn(move || {
            let mut tick: u64 = 0;
            while flag.load(Ordering::Relaxed) {
                tick += 1;
                session.send(&format!(
                    "UPDATE bench_activity SET hits = hits + 1 WHERE id = {}; \
                     SELECT sum(hits) FROM bench_activity WHERE id <= {};",
                    tick % 100 + 1,
                    tick % 50 + 1
                ));
                thread::sleep(Duration::from_millis(100));
            }
        });
        Load {
            running,
            worker: Some(worker),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
