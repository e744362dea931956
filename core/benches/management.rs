//! Cost of a management frame: encode (compress, encrypt, frame) and decode (frame, decrypt,
//! decompress, parse) of a `status` answer for 64 servers, per compression.
//!
//! `cargo bench -p pgexporter-core --bench management`

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pgexporter_core::management::frame::{self, Sealing};
use pgexporter_core::management::{
    Command, Compression, Document, Encryption, Header, Object, Outcome, Output,
};
use pgexporter_core::vault::MasterKey;
use serde_json::json;

/// A `status` answer listing 64 servers (about 3 KiB of JSON).
fn status_answer() -> Vec<u8> {
    let servers: Vec<_> = (0..64)
        .map(|i| json!({"Active": i % 3 != 0, "Server": format!("server-{i:02}")}))
        .collect();
    let response = json!({"NumberOfServers": 64, "ServerVersion": "0.9.0", "Servers": servers});
    Document {
        header: Header::new(Command::Status, Output::Text, "20261125013000"),
        request: Object::new(),
        response: response.as_object().cloned(),
        outcome: Some(Outcome::success(Duration::ZERO)),
    }
    .to_json()
}

fn frames(c: &mut Criterion) {
    let json = status_answer();
    let key = MasterKey::from_bytes([5; 64]);
    let sealing = Sealing {
        master_key: &key,
        salt: [6; 16],
        iv: [7; 12],
    };
    let mut group = c.benchmark_group("management frame");
    group.throughput(Throughput::Bytes(json.len() as u64));
    for encryption in [Encryption::None, Encryption::Aes256] {
        for compression in Compression::ALL {
            let name = format!("{compression:?}+{encryption:?}");
            let mut encoded = BytesMut::new();
            frame::encode(&mut encoded, &json, compression, encryption, Some(sealing)).unwrap();
            group.bench_with_input(BenchmarkId::new("encode", &name), &json, |b, json| {
                b.iter(|| {
                    let mut out = BytesMut::with_capacity(4096);
                    frame::encode(
                        &mut out,
                        black_box(json),
                        compression,
                        encryption,
                        Some(sealing),
                    )
                    .unwrap();
                    out
                })
            });
            group.bench_with_input(BenchmarkId::new("decode", &name), &encoded, |b, encoded| {
                b.iter(|| {
                    let mut buf = encoded.clone();
                    let frame = frame::decode(black_box(&mut buf)).unwrap().unwrap();
                    let json = frame::open(&frame, Some(&key)).unwrap();
                    Document::parse(&json).unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
