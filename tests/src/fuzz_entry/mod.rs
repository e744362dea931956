//! The entry points of the fuzz targets, one function per target.
//!
//! The cargo-fuzz crate in `fuzz/` (nightly) calls these from its `fuzz_targets/*.rs`, and the
//! stable test `tests/fuzz_regressions.rs` replays saved inputs through the same functions, so
//! a crash found by the fuzzer is replayed by plain `cargo test`.
//!
//! Each function takes the raw bytes of one input and never panics by itself: a panic, a hang
//! or an unbounded allocation while it runs is a bug in the core. Inputs are plain bytes so
//! saved ones stay readable; where a target needs more than one message, the input is framed as
//! its function documents (a leading byte choosing how to split, or messages separated by a
//! newline).

mod documents;
mod exposition;
mod http_response;
mod management;
mod protocols;
mod scram;
mod scrape_targets;

use std::time::Duration;

pub use documents::{
    config_ini, config_toml, exposition_array, master_key, metrics_json, metrics_yaml, vault_blob,
    vault_credentials,
};
pub use exposition::exposition_strict;
pub use http_response::http_response_stream;
pub use management::{
    management_document, management_frame, management_handshake_client, management_handshake_server,
};
pub use protocols::{http_request, pg_backend, pg_connection};
pub use scram::{scram_client, scram_server};
pub use scrape_targets::{exposition_parse, http_client_response};

/// A fuzz target's entry point.
pub type Entry = fn(&[u8]);

/// Every target by name (the name of its file in `fuzz/fuzz_targets/` and of its folders under
/// `fuzz/corpus-seeds/` and `fuzz/regressions/`), with its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("pg_backend", pg_backend),
    ("pg_connection", pg_connection),
    ("scram_client", scram_client),
    ("scram_server", scram_server),
    ("http_request", http_request),
    ("http_response_stream", http_response_stream),
    ("config_ini", config_ini),
    ("config_toml", config_toml),
    ("metrics_yaml", metrics_yaml),
    ("metrics_json", metrics_json),
    ("vault_credentials", vault_credentials),
    ("vault_blob", vault_blob),
    ("master_key", master_key),
    ("exposition_array", exposition_array),
    ("exposition_strict", exposition_strict),
    ("management_frame", management_frame),
    ("management_document", management_document),
    ("management_handshake_server", management_handshake_server),
    ("management_handshake_client", management_handshake_client),
    ("exposition_parse", exposition_parse),
    ("http_client_response", http_client_response),
];

/// The timeout every machine under test is configured with; inputs never wait for it, but the
/// final `handle_timeout` call is made past it.
const MACHINE_TIMEOUT: Duration = Duration::from_secs(5);

/// Splits `data` into pieces as a network would deliver them: the first byte is a seed that
/// picks the piece lengths (0: the rest in one piece; otherwise pieces of 1 to 32 bytes from a
/// small generator), the remaining bytes are the payload.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (seed, mut payload) = data
        .split_first()
        .map_or((0, data), |(&seed, rest)| (seed, rest));
    let mut state = seed;
    std::iter::from_fn(move || {
        if payload.is_empty() {
            return None;
        }
        let len = if seed == 0 {
            payload.len()
        } else {
            // A one-byte xorshift: cheap, and deterministic for replay.
            state ^= state << 3;
            state ^= state >> 5;
            state ^= state << 1;
            usize::from(state % 32) + 1
        };
        let (piece, rest) = payload.split_at(len.min(payload.len()));
        payload = rest;
        Some(piece)
    })
}

/// `data` as text, or `None` when it is not UTF-8 (text parsers take `&str`).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_delivers_the_payload_whole() {
        let parts: Vec<&[u8]> = pieces(b"\0abc").collect();
        assert_eq!(parts, [b"abc"]);
    }

    #[test]
    fn other_seeds_split_without_losing_bytes() {
        let payload: Vec<u8> = (0..200u8).collect();
        for seed in 1..=255u8 {
            let mut data = vec![seed];
            data.extend_from_slice(&payload);
            let parts: Vec<&[u8]> = pieces(&data).collect();
            assert!(parts.iter().all(|part| (1..=32).contains(&part.len())));
            assert_eq!(parts.concat(), payload, "seed {seed}");
        }
    }

    #[test]
    fn empty_input_has_no_pieces() {
        assert_eq!(pieces(b"").count(), 0);
        assert_eq!(pieces(b"\x07").count(), 0);
    }

    #[test]
    fn target_names_are_unique() {
        let mut names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TARGETS.len());
    }
}
