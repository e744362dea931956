//! A full SCRAM-SHA-256 exchange between the client and the server at 4096 iterations (the
//! server's verifier is derived once, as a server stores it).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_core::scram::{ClientFirst, ScramServer, ScramVerifier};
use pgexporter_core::secret::Secret;

fn bench_exchange(c: &mut Criterion) {
    let password = Secret::from("correct horse battery staple");
    let verifier =
        ScramVerifier::derive(&password, b"0123456789abcdef", 4096).expect("valid parameters");
    c.bench_function("scram_exchange_4096_iterations", |b| {
        b.iter(|| {
            let client =
                ClientFirst::new("", &password, "clientnonceclientnonce").expect("valid nonce");
            let server = ScramServer::new(verifier.clone(), "servernonceservernonce")
                .expect("valid nonce")
                .handle_client_first(client.message())
                .expect("valid client-first");
            let client = client
                .handle_server_first(server.message())
                .expect("valid server-first");
            let server_final = server
                .handle_client_final(client.message())
                .expect("right proof");
            client
                .verify_server_final(black_box(&server_final))
                .expect("right signature");
        })
    });
}

criterion_group!(benches, bench_exchange);
criterion_main!(benches);
