//! Encrypted values: base64 of `salt(16) ‖ iv(12) ‖ ciphertext ‖ tag(16)`.
//!
//! Each value has its own key, `PBKDF2-HMAC-SHA256(master key, salt, 1 iteration, 44 bytes)`, of
//! which the first 32, 24 or 16 bytes are the AES-GCM key; the IV is the stored one and there is
//! no associated data. The users and admins files hold AES-256 values; the 192- and 128-bit
//! variants serve encrypted management payloads.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;

use super::master_key::MasterKey;
use crate::secret::Secret;

/// Bytes of the per-value salt at the start of a blob.
pub const SALT_LEN: usize = 16;
/// Bytes of the AES-GCM IV that follows the salt.
pub const IV_LEN: usize = 12;
/// Bytes of the AES-GCM authentication tag at the end of a blob.
pub const TAG_LEN: usize = 16;
/// Smallest decoded blob: salt, IV and tag around an empty ciphertext.
pub const MIN_BLOB_LEN: usize = SALT_LEN + IV_LEN + TAG_LEN;
/// Largest plaintext [`encrypt`] accepts and [`decrypt`] can return (16 MiB).
pub const MAX_PLAINTEXT_LEN: usize = 16 * 1024 * 1024;
/// Length of the per-value key derived from the master key; the AES key is a prefix of it.
const ENTRY_KEY_LEN: usize = 44;

/// The AES-GCM variant of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// AES-256-GCM: the users and admins files, and management encryption 1.
    Aes256,
    /// AES-192-GCM: management encryption 2.
    Aes192,
    /// AES-128-GCM: management encryption 3.
    Aes128,
}

impl Cipher {
    /// Length of the AES key in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes256 => 32,
            Cipher::Aes192 => 24,
            Cipher::Aes128 => 16,
        }
    }
}

/// Why an encrypted value could not be decrypted. The secret never appears in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The base64 text is longer than any value this module produces; it was not decoded.
    #[error("encrypted value is {len} characters long, over the limit of {limit}")]
    TooLong {
        /// Length of the base64 text.
        len: usize,
        /// Longest accepted base64 text.
        limit: usize,
    },
    /// The text is not standard padded base64.
    #[error("encrypted value is not valid base64")]
    BadBase64,
    /// The decoded value cannot even hold a salt, an IV and a tag.
    #[error(
        "encrypted value is {len} bytes long, shorter than the {min} bytes of salt, IV and tag"
    )]
    TooShort {
        /// Decoded length.
        len: usize,
        /// Smallest valid decoded length.
        min: usize,
    },
    /// The tag does not match: a wrong master key, or a value that was altered or truncated.
    #[error(
        "encrypted value does not authenticate: the master key is not the one it was written \
         with, or the value was altered or truncated"
    )]
    Authentication,
}

/// Why [`encrypt`] refused its input (a caller error, not bad data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext is over [`MAX_PLAINTEXT_LEN`].
    #[error("value of {len} bytes is over the limit of {limit} bytes")]
    PlaintextTooLong {
        /// Plaintext length.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        limit: usize,
    },
}

/// Longest base64 text [`decrypt`] accepts: the encoding of the largest blob.
pub const fn max_encoded_len() -> usize {
    encoded_len(MAX_PLAINTEXT_LEN)
}

/// Length of the base64 text that [`encrypt`] produces for a plaintext of `plaintext_len` bytes.
pub const fn encoded_len(plaintext_len: usize) -> usize {
    (MIN_BLOB_LEN + plaintext_len).div_ceil(3) * 4
}

/// Encrypts `plaintext` under `master_key` with the given fresh random `salt` and `iv`, and
/// returns the base64 text of `salt ‖ iv ‖ ciphertext ‖ tag`.
///
/// The caller supplies `salt` and `iv` from a cryptographic random source and never reuses them.
/// Fails only when `plaintext` is over [`MAX_PLAINTEXT_LEN`].
pub fn encrypt(
    master_key: &MasterKey,
    plaintext: &[u8],
    salt: [u8; SALT_LEN],
    iv: [u8; IV_LEN],
    cipher: Cipher,
) -> Result<String, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(EncryptError::PlaintextTooLong {
            len: plaintext.len(),
            limit: MAX_PLAINTEXT_LEN,
        });
    }
    let key = entry_key(master_key, &salt);
    let sealed = match cipher {
        Cipher::Aes256 => seal::<Aes256Gcm>(&key, cipher, &iv, plaintext),
        Cipher::Aes192 => seal::<AesGcm<Aes192, U12>>(&key, cipher, &iv, plaintext),
        Cipher::Aes128 => seal::<Aes128Gcm>(&key, cipher, &iv, plaintext),
    };
    let mut blob = Vec::with_capacity(SALT_LEN + IV_LEN + sealed.len());
    blob.extend_from_slice(&salt);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&sealed);
    Ok(STANDARD.encode(blob))
}

/// Decrypts the base64 text `encoded` written by [`encrypt`] with the same `cipher`.
///
/// Errors say what is wrong with the value ([`BlobError`]); a wrong master key and a tampered
/// or truncated value are indistinguishable by design and both give
/// [`BlobError::Authentication`].
pub fn decrypt(master_key: &MasterKey, encoded: &str, cipher: Cipher) -> Result<Secret, BlobError> {
    let blob = decode(encoded)?;
    let (salt, rest) = blob.split_at(SALT_LEN);
    let (iv, sealed) = rest.split_at(IV_LEN);
    let key = entry_key(master_key, salt);
    let opened = match cipher {
        Cipher::Aes256 => open::<Aes256Gcm>(&key, cipher, iv, sealed),
        Cipher::Aes192 => open::<AesGcm<Aes192, U12>>(&key, cipher, iv, sealed),
        Cipher::Aes128 => open::<Aes128Gcm>(&key, cipher, iv, sealed),
    };
    opened.map(Secret::new).ok_or(BlobError::Authentication)
}

/// Decodes `encoded` and checks that it is long enough to be a blob, without any key.
///
/// Used by [`decrypt`] and by file parsers that reject malformed values before a key is known.
pub fn decode(encoded: &str) -> Result<Vec<u8>, BlobError> {
    let limit = max_encoded_len();
    if encoded.len() > limit {
        return Err(BlobError::TooLong {
            len: encoded.len(),
            limit,
        });
    }
    let blob = STANDARD.decode(encoded).map_err(|_| BlobError::BadBase64)?;
    if blob.len() < MIN_BLOB_LEN {
        return Err(BlobError::TooShort {
            len: blob.len(),
            min: MIN_BLOB_LEN,
        });
    }
    Ok(blob)
}

/// The 44-byte key of one value: PBKDF2-HMAC-SHA256 of the master key with the value's salt.
fn entry_key(master_key: &MasterKey, salt: &[u8]) -> Secret {
    let mut key = vec![0u8; ENTRY_KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(master_key.expose(), salt, 1, &mut key);
    Secret::new(key)
}

/// Encrypts with the AES-GCM variant `C`, returning `ciphertext ‖ tag`.
fn seal<C>(key: &Secret, cipher: Cipher, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8>
where
    C: Aead + AeadCore<NonceSize = U12> + KeyInit,
{
    let aead = new_aead::<C>(key, cipher);
    // Encryption fails only for plaintexts near 64 GiB; `encrypt` bounds them far below that.
    aead.encrypt(&(*iv).into(), plaintext)
        .expect("plaintext length is bounded by MAX_PLAINTEXT_LEN")
}

/// Decrypts `ciphertext ‖ tag` with the AES-GCM variant `C`; `None` when it does not authenticate.
fn open<C>(key: &Secret, cipher: Cipher, iv: &[u8], sealed: &[u8]) -> Option<Vec<u8>>
where
    C: Aead + AeadCore<NonceSize = U12> + KeyInit,
{
    let iv: [u8; IV_LEN] = iv.try_into().ok()?;
    new_aead::<C>(key, cipher).decrypt(&iv.into(), sealed).ok()
}

/// The AES-GCM instance keyed with the prefix of `key` that `cipher` needs.
fn new_aead<C: KeyInit>(key: &Secret, cipher: Cipher) -> C {
    let aes_key = &key.expose()[..cipher.key_len()];
    C::new_from_slice(aes_key).expect("the key length matches the cipher")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn test_key() -> MasterKey {
        MasterKey::from_bytes([7u8; 64])
    }

    const ALL: [Cipher; 3] = [Cipher::Aes256, Cipher::Aes192, Cipher::Aes128];

    #[test]
    fn round_trips_with_every_key_size() {
        let key = test_key();
        for cipher in ALL {
            let encoded = encrypt(&key, b"monitor-secret", [1; 16], [2; 12], cipher).unwrap();
            assert_eq!(encoded.len(), encoded_len(14));
            let plain = decrypt(&key, &encoded, cipher).unwrap();
            assert_eq!(plain.expose(), b"monitor-secret");
        }
    }

    #[test]
    fn the_key_size_is_part_of_the_format() {
        let key = test_key();
        let encoded = encrypt(&key, b"x", [1; 16], [2; 12], Cipher::Aes192).unwrap();
        assert_eq!(
            decrypt(&key, &encoded, Cipher::Aes256),
            Err(BlobError::Authentication)
        );
    }

    #[test]
    fn layout_is_salt_iv_ciphertext_tag() {
        let encoded = encrypt(&test_key(), b"abc", [9; 16], [8; 12], Cipher::Aes256).unwrap();
        let blob = STANDARD.decode(encoded).unwrap();
        assert_eq!(&blob[..16], &[9; 16]);
        assert_eq!(&blob[16..28], &[8; 12]);
        assert_eq!(blob.len(), MIN_BLOB_LEN + 3);
    }

    #[test]
    fn wrong_key_tampering_and_truncation_fail_authentication() {
        let key = test_key();
        let encoded = encrypt(&key, b"secret", [1; 16], [2; 12], Cipher::Aes256).unwrap();
        let other = MasterKey::from_bytes([8u8; 64]);
        assert_eq!(
            decrypt(&other, &encoded, Cipher::Aes256),
            Err(BlobError::Authentication)
        );

        let mut blob = STANDARD.decode(&encoded).unwrap();
        for index in [0, 16, 30, blob.len() - 1] {
            blob[index] ^= 1;
            let tampered = STANDARD.encode(&blob);
            assert_eq!(
                decrypt(&key, &tampered, Cipher::Aes256),
                Err(BlobError::Authentication),
                "byte {index}"
            );
            blob[index] ^= 1;
        }
        let truncated = STANDARD.encode(&blob[..blob.len() - 1]);
        assert_eq!(
            decrypt(&key, &truncated, Cipher::Aes256),
            Err(BlobError::Authentication)
        );
    }

    #[test]
    fn malformed_text_is_told_apart() {
        let key = test_key();
        assert_eq!(
            decrypt(&key, "not base64!", Cipher::Aes256),
            Err(BlobError::BadBase64)
        );
        assert_eq!(
            decrypt(&key, &STANDARD.encode([0u8; 43]), Cipher::Aes256),
            Err(BlobError::TooShort { len: 43, min: 44 })
        );
        let huge = "A".repeat(max_encoded_len() + 4);
        assert!(matches!(
            decrypt(&key, &huge, Cipher::Aes256),
            Err(BlobError::TooLong { .. })
        ));
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
        assert_eq!(
            encrypt(&test_key(), &big, [0; 16], [0; 12], Cipher::Aes128),
            Err(EncryptError::PlaintextTooLong {
                len: MAX_PLAINTEXT_LEN + 1,
                limit: MAX_PLAINTEXT_LEN
            })
        );
    }

    #[test]
    fn errors_never_show_the_plaintext() {
        let key = test_key();
        let encoded = encrypt(&key, b"hunter2", [1; 16], [2; 12], Cipher::Aes256).unwrap();
        let plain = decrypt(&key, &encoded, Cipher::Aes256).unwrap();
        assert_eq!(format!("{plain:?}"), "<redacted>");
    }

    proptest! {
        #[test]
        fn any_plaintext_round_trips(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            salt in any::<[u8; 16]>(),
            iv in any::<[u8; 12]>(),
            which in 0usize..3,
        ) {
            let key = test_key();
            let cipher = ALL[which];
            let encoded = encrypt(&key, &plaintext, salt, iv, cipher).unwrap();
            prop_assert_eq!(encoded.len(), encoded_len(plaintext.len()));
            let plain = decrypt(&key, &encoded, cipher).unwrap();
            prop_assert_eq!(plain.expose(), &plaintext[..]);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = decrypt(&test_key(), &text, Cipher::Aes256);
        }
    }
}
