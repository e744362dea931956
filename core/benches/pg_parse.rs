//! Parsing a DataRow-heavy result: 10,000 rows of 10 columns, through `Message::parse` alone
//! and through a `Connection` fed 16 KiB reads.
use pgexporter_core::machine::Machine;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgexporter_core::pg::{ConnectParams, Connection, Event, Message, TlsMode};

const ROWS: usize = 10_000;
const COLUMNS: usize = 10;
const READ_SIZE: usize = 16 * 1024;

/// Appends a backend message with type `tag` and body `body`.
fn message(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_i32(i32::try_from(body.len() + 4).expect("small message"));
    out.put_slice(body);
}

/// RowDescription, the rows, CommandComplete and ReadyForQuery of one query.
fn result_bytes() -> BytesMut {
    let mut out = BytesMut::new();
    let mut body = BytesMut::new();
    body.put_i16(COLUMNS as i16);
    for column in 0..COLUMNS {
        body.put_slice(format!("column_{column}\0").as_bytes());
        body.put_u32(0);
        body.put_i16(0);
        body.put_u32(20);
        body.put_i16(8);
        body.put_i32(-1);
        body.put_i16(0);
    }
    message(&mut out, b'T', &body);
    for row in 0..ROWS {
        body.clear();
        body.put_i16(COLUMNS as i16);
        for column in 0..COLUMNS {
            if column == COLUMNS - 1 && row % 7 == 0 {
                body.put_i32(-1);
            } else {
                let value = format!("{}", row * 1_000 + column * 37);
                body.put_i32(value.len() as i32);
                body.put_slice(value.as_bytes());
            }
        }
        message(&mut out, b'D', &body);
    }
    message(&mut out, b'C', format!("SELECT {ROWS}\0").as_bytes());
    message(&mut out, b'Z', b"I");
    out
}

fn bench_message_parse(c: &mut Criterion) {
    let bytes = result_bytes();
    let mut group = c.benchmark_group("pg_parse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("message_parse_10k_rows", |b| {
        b.iter(|| {
            let mut buf = bytes.clone();
            let mut count = 0usize;
            while let Some(message) = Message::parse(&mut buf).expect("valid stream") {
                count += usize::from(matches!(message, Message::DataRow(_)));
                black_box(message);
            }
            assert_eq!(count, ROWS);
        })
    });
    group.bench_function("connection_query_10k_rows", |b| {
        let mut login = BytesMut::new();
        message(&mut login, b'R', &0i32.to_be_bytes());
        message(&mut login, b'Z', b"I");
        b.iter(|| {
            let now = Instant::now();
            let mut connection = Connection::new(params(), now, [0; 18]);
            let mut out = BytesMut::new();
            connection.query("SELECT * FROM t");
            connection.handle_input(now, &login);
            for chunk in bytes.chunks(READ_SIZE) {
                connection.handle_input(now, chunk);
            }
            while connection.poll_transmit(&mut out) {}
            let mut rows = 0;
            while let Some(event) = connection.poll_event() {
                if let Event::QueryDone { result, .. } = event {
                    rows = result.expect("query succeeds").rows.len();
                }
            }
            assert_eq!(rows, ROWS);
        })
    });
    group.finish();
}

fn params() -> ConnectParams {
    ConnectParams {
        user: "bench".into(),
        database: "postgres".into(),
        password: None,
        application_name: "pgexporter".into(),
        tls: TlsMode::Off,
        options: Vec::new(),
        connect_timeout: Duration::from_secs(5),
    }
}

criterion_group!(benches, bench_message_parse);
criterion_main!(benches);
