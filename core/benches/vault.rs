//! Cost of opening the vault (the master key derivation) and of one encrypted value.
//!
//! `cargo bench -p pgexporter-core --bench vault`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{Cipher, MasterKey, MasterKeyFile, decrypt, encrypt};

fn derive(c: &mut Criterion) {
    let file = MasterKeyFile::new(Secret::from("bench-master"), [1; 16]).unwrap();
    let mut group = c.benchmark_group("vault");
    group.sample_size(10);
    group.bench_function("derive master key (PBKDF2 600000)", |b| {
        b.iter(|| black_box(file.derive()))
    });
    group.finish();
}

fn values(c: &mut Criterion) {
    let key = MasterKey::from_bytes([2; 64]);
    let encoded = encrypt(&key, b"monitor-secret-1", [3; 16], [4; 12], Cipher::Aes256).unwrap();
    c.bench_function("vault/encrypt password", |b| {
        b.iter(|| {
            encrypt(
                &key,
                black_box(b"monitor-secret-1"),
                [3; 16],
                [4; 12],
                Cipher::Aes256,
            )
        })
    });
    c.bench_function("vault/decrypt password", |b| {
        b.iter(|| decrypt(&key, black_box(&encoded), Cipher::Aes256))
    });
}

criterion_group!(benches, derive, values);
criterion_main!(benches);
