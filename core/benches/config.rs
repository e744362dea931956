//! Loading configurations: the documented minimal file and one with the most servers allowed.

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_core::config::{MAX_SERVERS, load_ini};
use std::hint::black_box;

const SAMPLE: &str = "[pgexporter]
host = *
metrics = 5002

log_type = file
log_level = info
log_path = /tmp/pgexporter.log

unix_socket_dir = /tmp/

[primary]
host = localhost
port = 5432
user = pgexporter
";

fn no_env(_: &str) -> Option<String> {
    None
}

fn many_servers() -> String {
    let mut text = SAMPLE.replace(
        "[primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n",
        "",
    );
    for index in 0..MAX_SERVERS {
        text.push_str(&format!(
            "\n[server{index}]\nhost = \"db{index}.example\" # replica\nport = 5432\nuser = pgexporter\ntls = on\n"
        ));
    }
    text
}

fn load(c: &mut Criterion) {
    c.bench_function("config/load_ini_sample", |b| {
        b.iter(|| load_ini(black_box(SAMPLE), "pgexporter.conf", &no_env))
    });
    let large = many_servers();
    c.bench_function("config/load_ini_64_servers", |b| {
        b.iter(|| load_ini(black_box(&large), "pgexporter.conf", &no_env))
    });
}

criterion_group!(benches, load);
criterion_main!(benches);
