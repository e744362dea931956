//! Encoding speed of a realistic scrape: 200 families, 5,000 samples, a few histograms, in
//! both formats, and the same body through the HTTP connection as a gzip'd chunked stream.
use pgexporter_core::machine::Machine;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgexporter_core::exposition::{Encoder, Format, Histogram, MetricType};
use pgexporter_core::http::{Event, HttpConfig, HttpConnection, Status};

const FAMILIES: usize = 200;
const SAMPLES_PER_FAMILY: usize = 25;
const HISTOGRAM_EVERY: usize = 40;

struct Family {
    name: String,
    help: String,
    metric_type: MetricType,
    rows: Vec<Row>,
}

struct Row {
    labels: Vec<(String, String)>,
    value: f64,
}

const BOUNDS: [f64; 6] = [1.0, 5.0, 30.0, 60.0, 300.0, 3600.0];
const COUNTS: [f64; 6] = [3.0, 8.0, 12.0, 20.0, 24.0, 25.0];

fn scrape() -> Vec<Family> {
    (0..FAMILIES)
        .map(|f| {
            let metric_type = match f % 3 {
                0 => MetricType::Counter,
                1 => MetricType::Gauge,
                _ => MetricType::Untyped,
            };
            let suffix = if metric_type == MetricType::Counter {
                "_total"
            } else {
                ""
            };
            Family {
                name: format!("pgexporter_pg_stat_collector_{f}_column{suffix}"),
                help: format!("Column {f} of pg_stat_collector, as \"reported\" by PostgreSQL."),
                metric_type,
                rows: (0..SAMPLES_PER_FAMILY)
                    .map(|r| Row {
                        labels: vec![
                            ("server".into(), "primary".into()),
                            ("database".into(), format!("app_{}", r % 5)),
                            ("relname".into(), format!("public.table_{r}")),
                        ],
                        value: if r % 4 == 0 {
                            r as f64 * 1234.5
                        } else {
                            (r * 1_000_003) as f64
                        },
                    })
                    .collect(),
            }
        })
        .collect()
}

fn encode(encoder: &Encoder, families: &[Family], out: &mut BytesMut) {
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(4);
    for (index, family) in families.iter().enumerate() {
        if index % HISTOGRAM_EVERY == 0 {
            let mut writer = encoder.histogram_family(out, &family.name, &family.help);
            for row in &family.rows {
                labels.clear();
                labels.extend(row.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                let histogram = Histogram {
                    upper_bounds: &BOUNDS,
                    cumulative_counts: &COUNTS,
                    sum: row.value,
                    count: 25.0,
                };
                writer
                    .histogram(&labels, &histogram)
                    .expect("matching lengths");
            }
        } else {
            let mut writer = encoder.family(out, &family.name, &family.help, family.metric_type);
            for row in &family.rows {
                labels.clear();
                labels.extend(row.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                writer.sample(&labels, row.value);
            }
        }
    }
    encoder.finish(out);
}

fn bench_formats(c: &mut Criterion) {
    let families = scrape();
    let mut group = c.benchmark_group("exposition");
    for (label, format) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
        let encoder = Encoder::new(format);
        let mut out = BytesMut::new();
        encode(&encoder, &families, &mut out);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                out.clear();
                encode(&encoder, black_box(&families), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// The text body streamed through an HTTP connection in 16 KiB pieces, gzip'd and chunked.
fn bench_gzip_stream(c: &mut Criterion) {
    let families = scrape();
    let encoder = Encoder::new(Format::Text);
    let mut body = BytesMut::new();
    encode(&encoder, &families, &mut body);
    let now = Instant::now();
    let mut connection = HttpConnection::new(HttpConfig::new(Duration::from_secs(5)), now);
    let request = b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n";
    let mut wire = BytesMut::new();
    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("gzip_chunked_text", |b| {
        b.iter(|| {
            connection.handle_input(now, request);
            assert!(matches!(connection.poll_event(), Some(Event::Request(_))));
            connection
                .respond_streaming(Status::Ok, Format::Text.content_type(), true)
                .expect("pending request");
            for piece in body.chunks(16 * 1024) {
                connection.send_body_chunk(piece).expect("open stream");
            }
            connection.finish_body(now).expect("open stream");
            wire.clear();
            while connection.poll_transmit(&mut wire) {}
            black_box(wire.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_formats, bench_gzip_stream);
criterion_main!(benches);
