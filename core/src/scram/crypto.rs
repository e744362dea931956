//! The SCRAM-SHA-256 primitives: Hi (PBKDF2), HMAC, H, and constant-time comparison.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Length of a SHA-256 output, and so of every SCRAM key, signature and proof.
pub(crate) const KEY_LEN: usize = 32;

/// `HMAC-SHA-256(key, data)`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `SHA-256(data)`.
pub(crate) fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    Sha256::digest(data).into()
}

/// `Hi(password, salt, iterations)`: PBKDF2-HMAC-SHA-256 with one output block.
pub(crate) fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// The password as SCRAM hashes it: SASLprep-normalised when it is UTF-8 and SASLprep accepts
/// it, else the raw bytes (what PostgreSQL does, so that such passwords still work).
pub(crate) fn normalize_password(password: &Secret) -> Secret {
    let prepared = password
        .expose_str()
        .and_then(|text| stringprep::saslprep(text).ok())
        .map(|text| text.into_owned().into_bytes());
    Secret::new(prepared.unwrap_or_else(|| password.expose().to_vec()))
}

/// `a XOR b`.
pub(crate) fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn saslprep_maps_and_falls_back() {
        // U+00A0 (no-break space) maps to a plain space.
        let prepared = normalize_password(&Secret::from("a\u{a0}b"));
        assert_eq!(prepared.expose(), b"a b");
        // A prohibited character (U+0007) makes SASLprep fail: the raw bytes are used.
        let raw = normalize_password(&Secret::from("a\u{7}b"));
        assert_eq!(raw.expose(), b"a\x07b");
        let not_utf8 = normalize_password(&Secret::new(vec![0xff, 0x41]));
        assert_eq!(not_utf8.expose(), [0xff, 0x41]);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac[..4],
            [0x5b, 0xdc, 0xc1, 0x46],
            "HMAC-SHA-256 test vector from RFC 4231"
        );
    }
}
