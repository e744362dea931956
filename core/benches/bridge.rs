//! What the bridge spends on each scrape besides the network: parsing ten bodies of 5,000
//! samples (shaped like a Go exporter's) and merging them into one text body.

use std::fmt::Write as _;
use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgexporter_core::exposition::Format;
use pgexporter_core::exposition::merge::{Source, write_merged};
use pgexporter_core::exposition::parse::{Exposition, SourceFormat, parse};

const ENDPOINTS: usize = 10;
const SAMPLES: usize = 5_000;
const SERIES_PER_FAMILY: usize = 100;

fn body() -> Bytes {
    let mut text = String::new();
    for family in 0..SAMPLES / SERIES_PER_FAMILY {
        let name = format!("app_requests_family_{family}_total");
        let _ = writeln!(text, "# HELP {name} Requests handled, by handler and code.");
        let _ = writeln!(text, "# TYPE {name} counter");
        for series in 0..SERIES_PER_FAMILY {
            let _ = writeln!(
                text,
                "{name}{{handler=\"/api/v1/item/{series}\",code=\"{}\",method=\"GET\"}} {}",
                200 + series % 5,
                series * 7919 + family
            );
        }
    }
    Bytes::from(text)
}

fn bench(c: &mut Criterion) {
    let body = body();
    let mut group = c.benchmark_group("bridge");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse one body of 5,000 samples", |b| {
        b.iter(|| parse(black_box(body.clone()), SourceFormat::Text).unwrap())
    });
    let expositions: Vec<Exposition> = (0..ENDPOINTS)
        .map(|_| parse(body.clone(), SourceFormat::Text).unwrap())
        .collect();
    let names: Vec<String> = (0..ENDPOINTS).map(|i| format!("10.0.0.{i}:9100")).collect();
    let sources: Vec<Source<'_>> = expositions
        .iter()
        .zip(&names)
        .map(|(exposition, name)| Source {
            label: "endpoint",
            value: name,
            exposition,
        })
        .collect();
    let mut out = BytesMut::new();
    group.throughput(Throughput::Bytes((body.len() * ENDPOINTS) as u64));
    group.bench_function("merge ten bodies", |b| {
        b.iter(|| {
            out.clear();
            write_merged(&mut out, Format::Text, &sources, &|_| false);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
