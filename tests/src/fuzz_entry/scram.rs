//! Targets for SCRAM-SHA-256: the server's messages to the client, the client's to the server.
//!
//! Both use the RFC 7677 example (user `user`, password `pencil`, its nonces, salt and 4096
//! iterations), so the RFC's messages are valid inputs. An input holds two messages separated
//! by the first newline (which no SCRAM message contains): the first one and the final one.

use std::sync::OnceLock;

use pgexporter_core::scram::{ClientFirst, ScramServer, ScramVerifier};
use pgexporter_core::secret::Secret;

/// The client nonce of RFC 7677.
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
/// The server's part of the nonce in RFC 7677.
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const PASSWORD: &str = "pencil";
/// The salt of RFC 7677 (`W22ZaJ0SNY7soEsUEjb6gQ==`).
const SALT: [u8; 16] = [
    0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81,
];
/// The iteration count of RFC 7677, and the most a fuzzed server-first may ask for: larger
/// counts only make the key derivation slower, they reach no other code.
const ITERATIONS: u32 = 4096;

/// `scram_client`: a client whose first message was sent gets the first part of the input as
/// server-first and, when that is accepted, the second part as server-final.
pub fn scram_client(data: &[u8]) {
    let (server_first, server_final) = split_messages(data);
    if asks_for_too_many_iterations(server_first) {
        return;
    }
    let client = ClientFirst::new("user", &Secret::from(PASSWORD), CLIENT_NONCE)
        .expect("the RFC 7677 client nonce is valid");
    let Ok(client_final) = client.handle_server_first(server_first) else {
        return;
    };
    if let Some(server_final) = server_final {
        let _ = client_final.verify_server_final(server_final);
    }
}

/// `scram_server`: a server for the RFC 7677 password gets the first part of the input as
/// client-first and, when that is accepted, the second part as client-final.
pub fn scram_server(data: &[u8]) {
    let (client_first, client_final) = split_messages(data);
    let server = ScramServer::new(verifier().clone(), SERVER_NONCE)
        .expect("the RFC 7677 server nonce is valid");
    let Ok(server_first) = server.handle_client_first(client_first) else {
        return;
    };
    if let Some(client_final) = client_final {
        let _ = server_first.handle_client_final(client_final);
    }
}

/// The verifier of the RFC 7677 password, derived once per process.
fn verifier() -> &'static ScramVerifier {
    static VERIFIER: OnceLock<ScramVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        ScramVerifier::derive(&Secret::from(PASSWORD), &SALT, ITERATIONS)
            .expect("the RFC 7677 salt and iteration count are valid")
    })
}

/// The first message and, after the first newline, the final one.
fn split_messages(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&byte| byte == b'\n') {
        Some(newline) => (&data[..newline], Some(&data[newline + 1..])),
        None => (data, None),
    }
}

/// Whether `bytes` hold an `i=` attribute (the digits right after it, whatever follows them)
/// with a count above [`ITERATIONS`]. Works on a bare server-first message and on whole
/// server byte streams that carry one.
pub(super) fn asks_for_too_many_iterations(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair == b"i=")
        .any(|(start, _)| {
            bytes[start + 2..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .try_fold(0u32, |count, digit| {
                    count.checked_mul(10)?.checked_add(u32::from(digit - b'0'))
                })
                .is_none_or(|count| count > ITERATIONS)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_counts_above_the_limit_are_spotted() {
        assert!(!asks_for_too_many_iterations(b"r=abc,s=c2FsdA==,i=4096"));
        assert!(asks_for_too_many_iterations(b"r=abc,s=c2FsdA==,i=4097"));
        assert!(asks_for_too_many_iterations(b"R\0\0i=1000000R\0"));
        assert!(asks_for_too_many_iterations(b"i=99999999999999"));
        assert!(!asks_for_too_many_iterations(b"i=12x i=0"));
    }
}
