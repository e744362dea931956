//! The blocking client against a real PostgreSQL (a throwaway cluster): one query per round
//! trip against twenty pipelined in one, over TCP and TLS, and a 10,000-row result.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_core::pg::TlsMode;
use pgexporter_tests::client::{connect, tcp};
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::pg_client::PgClient;
use pgexporter_tests::{ClusterOptions, PgCluster};

const BATCH: usize = 20;

fn twenty_one_by_one(client: &mut PgClient) {
    for i in 0..BATCH {
        black_box(client.query(&format!("SELECT {i}")).expect("query"));
    }
}

fn twenty_pipelined(client: &mut PgClient, queries: &[&str]) {
    for result in client.pipeline(queries) {
        black_box(result.expect("query"));
    }
}

fn client_benches(c: &mut Criterion) {
    let cluster = PgCluster::start(ClusterOptions {
        ssl: true,
        ..ClusterOptions::default()
    });
    let owned: Vec<String> = (0..BATCH).map(|i| format!("SELECT {i}")).collect();
    let queries: Vec<&str> = owned.iter().map(String::as_str).collect();
    for (label, tls) in [("tcp", TlsMode::Off), ("tls", TlsMode::On)] {
        let mut client = connect(&tcp(&cluster), MONITOR_USER, tls, None);
        c.bench_function(&format!("{label}: 20 queries one by one"), |b| {
            b.iter(|| twenty_one_by_one(&mut client))
        });
        c.bench_function(&format!("{label}: 20 queries pipelined"), |b| {
            b.iter(|| twenty_pipelined(&mut client, &queries))
        });
        c.bench_function(&format!("{label}: 10,000 rows of 3 columns"), |b| {
            b.iter(|| {
                let result = client
                    .query("SELECT n, n * 2, 'label ' || n FROM generate_series(1, 10000) n")
                    .expect("query");
                black_box(result.rows.len())
            })
        });
    }
    c.bench_function("connect with SCRAM over TCP", |b| {
        b.iter(|| {
            connect(&tcp(&cluster), MONITOR_USER, TlsMode::Off, None)
                .close()
                .expect("close")
        })
    });
}

criterion_group!(benches, client_benches);
criterion_main!(benches);
