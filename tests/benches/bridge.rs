//! The bridge over [`ENDPOINTS`] exporters of [`SAMPLES_PER_ENDPOINT`] samples each, through
//! the release daemon, against one direct scrape of one of them:
//! `cargo build --release --bins && cargo bench -p pgexporter-tests --bench bridge`.
//!
//! The endpoints are in-process HTTP servers (kept-alive connections, `Content-Length`) that
//! answer a fixed body shaped like a Go exporter's: families of a hundred series with three
//! labels each, HELP and TYPE. Besides criterion's timing it prints the p50 and p99 of
//! [`SCRAPES`] bridge scrapes and of as many direct scrapes of one endpoint, their ratio, the
//! bridge's body size, and the daemon's RSS idle and at its peak.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};
use pgexporter_tests::http_client;
use pgexporter_tests::measure::{percentiles_ms, rss_kib};

/// Exporters behind the bridge.
const ENDPOINTS: usize = 10;

/// Samples in each exporter's body.
const SAMPLES_PER_ENDPOINT: usize = 5_000;

/// Series per family in the bodies.
const SERIES_PER_FAMILY: usize = 100;

/// Scrapes timed for the percentiles, bridge and direct each.
const SCRAPES: usize = 200;

/// A body of [`SAMPLES_PER_ENDPOINT`] samples.
fn body() -> Arc<Vec<u8>> {
    let mut text = String::new();
    for family in 0..SAMPLES_PER_ENDPOINT / SERIES_PER_FAMILY {
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
    Arc::new(text.into_bytes())
}

/// Serves `body` on every request of every connection until the process ends; its address.
fn serve(body: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = Arc::clone(&body);
            thread::spawn(move || answer_requests(stream, &body));
        }
    });
    address
}

/// Answers each request head on `stream` with `body`, until the client closes or asks for
/// `Connection: close`.
fn answer_requests(mut stream: TcpStream, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|window| window == b"\r\n\r\n") {
            let request: Vec<u8> = pending.drain(..end + 4).collect();
            if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
                return;
            }
            if String::from_utf8_lossy(&request)
                .to_ascii_lowercase()
                .contains("connection: close")
            {
                return;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(count) => pending.extend_from_slice(&buffer[..count]),
        }
    }
}

/// `SCRAPES` timed GETs of `/metrics` on `address`.
fn timed(address: SocketAddr) -> Vec<Duration> {
    (0..SCRAPES)
        .map(|_| {
            let started = Instant::now();
            let response = http_client::get(address, "/metrics", &[]);
            assert_eq!(response.status, 200);
            started.elapsed()
        })
        .collect()
}

fn bridge(c: &mut Criterion) {
    let body = body();
    let endpoints: Vec<SocketAddr> = (0..ENDPOINTS).map(|_| serve(Arc::clone(&body))).collect();
    let list: Vec<String> = endpoints.iter().map(SocketAddr::to_string).collect();
    let home = ExporterHome::new();
    let port = free_port();
    home.write_sections(
        &format!(
            "bridge = {port}\nbridge_cache_max_age = 0\nbridge_cache_max_size = 64M\n\
             bridge_endpoints = {}\nlog_level = warn",
            list.join(", ")
        ),
        "",
    );
    let daemon = Exporter::start(&home, port, &[]);
    thread::sleep(Duration::from_secs(1));
    let idle = rss_kib(daemon.pid(), "VmRSS");
    let merged = daemon.scrape();
    let samples = merged.lines().filter(|line| !line.starts_with('#')).count();
    println!(
        "endpoint body {} bytes, {SAMPLES_PER_ENDPOINT} samples; bridge body {} bytes, {samples} \
         samples; idle RSS {idle} KiB",
        body.len(),
        merged.len()
    );

    let mut group = c.benchmark_group("bridge");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("one direct scrape", |b| {
        b.iter(|| http_client::get(endpoints[0], "/metrics", &[]))
    });
    group.bench_function("bridge over 10 endpoints of 5,000 samples", |b| {
        b.iter(|| daemon.get("/metrics", &[]))
    });
    group.finish();

    let (direct_p50, direct_p99) = percentiles_ms(&mut timed(endpoints[0]));
    let (bridge_p50, bridge_p99) = percentiles_ms(&mut timed(daemon.address()));
    println!(
        "direct: p50 {direct_p50:.2} ms, p99 {direct_p99:.2} ms; bridge: p50 {bridge_p50:.2} ms, \
         p99 {bridge_p99:.2} ms; ratio of the p50s {:.1}; peak RSS {} KiB",
        bridge_p50 / direct_p50,
        rss_kib(daemon.pid(), "VmHWM"),
    );
}

criterion_group!(benches, bridge);
criterion_main!(benches);
