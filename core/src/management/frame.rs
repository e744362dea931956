//! The management frame (SPEC §4.1): compression byte, encryption byte, big-endian `u32`
//! payload length, payload.
//!
//! The payload is compact UTF-8 JSON when both bytes are 0; otherwise it is the base64 text of
//! `encrypt(compress(JSON))`, where "encrypt" is the vault blob format keyed from the master key
//! (compression only: base64 of the compressed bytes).
//!
//! - [`decode`] takes one whole frame off the front of a buffer (`Ok(None)`: need more bytes).
//! - [`open`] turns a frame's payload back into the JSON bytes.
//! - [`encode`] writes a frame for some JSON bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::compress::{self, Compression, DecompressError};
use crate::vault::{self, BlobError, Cipher, MasterKey};

/// Bytes before the payload: compression, encryption, length.
pub const HEADER_LEN: usize = 6;
/// The largest payload length a frame may declare (16 MiB); a longer one is refused before
/// anything is allocated.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// The largest JSON document a payload may expand to (16 MiB).
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024 * 1024;

/// The encryption byte of a frame (SPEC §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// 0: not encrypted.
    None,
    /// 1: AES-256-GCM.
    Aes256,
    /// 2: AES-192-GCM.
    Aes192,
    /// 3: AES-128-GCM.
    Aes128,
}

impl Encryption {
    /// Every variant, in wire-code order.
    pub const ALL: [Encryption; 4] = [
        Encryption::None,
        Encryption::Aes256,
        Encryption::Aes192,
        Encryption::Aes128,
    ];

    /// The wire code (0–3).
    pub fn code(self) -> u8 {
        match self {
            Encryption::None => 0,
            Encryption::Aes256 => 1,
            Encryption::Aes192 => 2,
            Encryption::Aes128 => 3,
        }
    }

    /// The variant of a wire code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Encryption> {
        Encryption::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The vault cipher, `None` for [`Encryption::None`].
    pub fn cipher(self) -> Option<Cipher> {
        match self {
            Encryption::None => None,
            Encryption::Aes256 => Some(Cipher::Aes256),
            Encryption::Aes192 => Some(Cipher::Aes192),
            Encryption::Aes128 => Some(Cipher::Aes128),
        }
    }
}

/// One frame as read off the wire; the payload is still compressed and encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The compression byte.
    pub compression: Compression,
    /// The encryption byte.
    pub encryption: Encryption,
    /// The payload as sent.
    pub payload: Bytes,
}

/// The peer sent a frame that cannot be read. The connection cannot continue after one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The compression byte is not 0–4.
    #[error("unknown compression code {0}")]
    UnknownCompression(u8),
    /// The encryption byte is not 0–3.
    #[error("unknown encryption code {0}")]
    UnknownEncryption(u8),
    /// The declared payload length is over [`MAX_PAYLOAD_LEN`].
    #[error("frame declares {len} payload bytes, over the limit of {limit}")]
    TooLong {
        /// The declared length.
        len: u32,
        /// [`MAX_PAYLOAD_LEN`].
        limit: usize,
    },
}

/// A frame's payload could not be turned back into JSON.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The payload of a compressed or encrypted frame is not base64 text.
    #[error("payload is not base64 text")]
    BadBase64,
    /// The encrypted payload does not decrypt (wrong master key, altered or malformed).
    #[error("payload does not decrypt: {0}")]
    Decrypt(BlobError),
    /// The compressed payload does not expand.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The frame is encrypted but this side has no master key.
    #[error("payload is encrypted but no master key is available")]
    NoMasterKey,
}

/// Why [`encode`] refused (a caller error, not bad data).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Encryption was asked for without a master key.
    #[error("encryption needs a master key")]
    NoMasterKey,
    /// The payload would be longer than [`MAX_PAYLOAD_LEN`] (or the JSON longer than
    /// [`MAX_DOCUMENT_LEN`]).
    #[error("payload of {len} bytes is over the limit of {limit}")]
    TooLong {
        /// The length that was refused.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
}

/// The key material to encrypt one frame: the master key and fresh random salt and IV.
#[derive(Debug, Clone, Copy)]
pub struct Sealing<'a> {
    /// The master key both sides share.
    pub master_key: &'a MasterKey,
    /// 16 fresh random bytes.
    pub salt: [u8; vault::blob::SALT_LEN],
    /// 12 fresh random bytes.
    pub iv: [u8; vault::blob::IV_LEN],
}

/// Takes one whole frame off the front of `buf`.
///
/// Returns `Ok(None)`, leaving `buf` untouched, while the frame is incomplete. The header is
/// checked as soon as its six bytes are there: an unknown code or a declared length over
/// [`MAX_PAYLOAD_LEN`] is an error before anything is reserved for the payload.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    let Some(&compression_code) = buf.first() else {
        return Ok(None);
    };
    let compression = Compression::from_code(compression_code)
        .ok_or(FrameError::UnknownCompression(compression_code))?;
    let Some(&encryption_code) = buf.get(1) else {
        return Ok(None);
    };
    let encryption = Encryption::from_code(encryption_code)
        .ok_or(FrameError::UnknownEncryption(encryption_code))?;
    let Some(len_bytes) = buf.get(2..HEADER_LEN) else {
        return Ok(None);
    };
    let declared = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let len = usize::try_from(declared)
        .ok()
        .filter(|len| *len <= MAX_PAYLOAD_LEN)
        .ok_or(FrameError::TooLong {
            len: declared,
            limit: MAX_PAYLOAD_LEN,
        })?;
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(Frame {
        compression,
        encryption,
        payload: buf.split_to(len).freeze(),
    }))
}

/// The JSON bytes a frame carries: the payload itself when neither compressed nor encrypted,
/// else base64-decoded, decrypted with `master_key` and decompressed (at most
/// [`MAX_DOCUMENT_LEN`] bytes).
pub fn open(frame: &Frame, master_key: Option<&MasterKey>) -> Result<Vec<u8>, OpenError> {
    if frame.compression == Compression::None && frame.encryption == Encryption::None {
        return Ok(frame.payload.to_vec());
    }
    let text = std::str::from_utf8(&frame.payload).map_err(|_| OpenError::BadBase64)?;
    let compressed = match frame.encryption.cipher() {
        None => STANDARD.decode(text).map_err(|_| OpenError::BadBase64)?,
        Some(cipher) => {
            let key = master_key.ok_or(OpenError::NoMasterKey)?;
            let plain = vault::decrypt(key, text, cipher).map_err(|error| match error {
                BlobError::BadBase64 => OpenError::BadBase64,
                other => OpenError::Decrypt(other),
            })?;
            plain.expose().to_vec()
        }
    };
    Ok(compress::decompress(
        frame.compression,
        &compressed,
        MAX_DOCUMENT_LEN,
    )?)
}

/// Appends a frame carrying `json` to `out`, compressed and encrypted as asked.
///
/// `sealing` must be given when `encryption` is not [`Encryption::None`]; it is ignored
/// otherwise. Errors (caller misuse): [`EncodeError::NoMasterKey`], [`EncodeError::TooLong`].
/// Nothing is appended on error.
pub fn encode(
    out: &mut BytesMut,
    json: &[u8],
    compression: Compression,
    encryption: Encryption,
    sealing: Option<Sealing<'_>>,
) -> Result<(), EncodeError> {
    if json.len() > MAX_DOCUMENT_LEN {
        return Err(EncodeError::TooLong {
            len: json.len(),
            limit: MAX_DOCUMENT_LEN,
        });
    }
    let payload: Vec<u8> = if compression == Compression::None && encryption == Encryption::None {
        json.to_vec()
    } else {
        let compressed = compress::compress(compression, json);
        match encryption.cipher() {
            None => STANDARD.encode(compressed).into_bytes(),
            Some(cipher) => {
                let sealing = sealing.ok_or(EncodeError::NoMasterKey)?;
                vault::encrypt(
                    sealing.master_key,
                    &compressed,
                    sealing.salt,
                    sealing.iv,
                    cipher,
                )
                .map_err(|_| EncodeError::TooLong {
                    len: compressed.len(),
                    limit: vault::blob::MAX_PLAINTEXT_LEN,
                })?
                .into_bytes()
            }
        }
    };
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len as usize <= MAX_PAYLOAD_LEN)
        .ok_or(EncodeError::TooLong {
            len: payload.len(),
            limit: MAX_PAYLOAD_LEN,
        })?;
    out.reserve(HEADER_LEN + payload.len());
    out.put_u8(compression.code());
    out.put_u8(encryption.code());
    out.put_u32(len);
    out.put_slice(&payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PING: &[u8] = br#"{"Header":{"Command":5}}"#;

    fn key() -> MasterKey {
        MasterKey::from_bytes([42; 64])
    }

    fn sealing(key: &MasterKey) -> Sealing<'_> {
        Sealing {
            master_key: key,
            salt: [1; 16],
            iv: [2; 12],
        }
    }

    fn frame_bytes(json: &[u8], compression: Compression, encryption: Encryption) -> BytesMut {
        let key = key();
        let mut out = BytesMut::new();
        encode(&mut out, json, compression, encryption, Some(sealing(&key))).unwrap();
        out
    }

    #[test]
    fn plain_frame_golden_bytes() {
        let out = frame_bytes(PING, Compression::None, Encryption::None);
        let mut expected = vec![0, 0, 0, 0, 0, PING.len() as u8];
        expected.extend_from_slice(PING);
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn every_compression_and_encryption_round_trips() {
        let key = key();
        for compression in Compression::ALL {
            for encryption in Encryption::ALL {
                let mut buf = frame_bytes(PING, compression, encryption);
                assert_eq!(buf[0], compression.code());
                assert_eq!(buf[1], encryption.code());
                let frame = decode(&mut buf).unwrap().unwrap();
                assert!(buf.is_empty());
                assert_eq!(frame.compression, compression);
                assert_eq!(frame.encryption, encryption);
                assert_eq!(open(&frame, Some(&key)).unwrap(), PING);
                if (compression, encryption) != (Compression::None, Encryption::None) {
                    assert!(frame.payload.iter().all(|b| b.is_ascii_graphic()));
                }
            }
        }
    }

    #[test]
    fn encrypted_frames_need_the_right_key() {
        let mut buf = frame_bytes(PING, Compression::Gzip, Encryption::Aes128);
        let frame = decode(&mut buf).unwrap().unwrap();
        assert_eq!(open(&frame, None), Err(OpenError::NoMasterKey));
        let other = MasterKey::from_bytes([7; 64]);
        assert!(matches!(
            open(&frame, Some(&other)),
            Err(OpenError::Decrypt(BlobError::Authentication))
        ));
    }

    #[test]
    fn encryption_without_a_key_is_a_caller_error() {
        let mut out = BytesMut::new();
        let result = encode(&mut out, PING, Compression::None, Encryption::Aes256, None);
        assert_eq!(result, Err(EncodeError::NoMasterKey));
        assert!(out.is_empty());
    }

    #[test]
    fn a_huge_declared_length_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&[0u8, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            decode(&mut buf),
            Err(FrameError::TooLong {
                len: u32::MAX,
                limit: MAX_PAYLOAD_LEN
            })
        );
        assert!(buf.capacity() < 1024);
        let mut buf = BytesMut::from(&[0u8, 0, 0x01, 0, 0, 1][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::TooLong { .. })));
    }

    #[test]
    fn unknown_codes_are_refused_at_once() {
        assert_eq!(
            decode(&mut BytesMut::from(&[5u8][..])),
            Err(FrameError::UnknownCompression(5))
        );
        assert_eq!(
            decode(&mut BytesMut::from(&[0u8, 4][..])),
            Err(FrameError::UnknownEncryption(4))
        );
    }

    #[test]
    fn a_frame_split_at_every_offset_waits_then_decodes() {
        let whole = frame_bytes(PING, Compression::Zstd, Encryption::Aes256);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
            buf.extend_from_slice(&whole[cut..]);
            let frame = decode(&mut buf).unwrap().unwrap();
            assert_eq!(open(&frame, Some(&key())).unwrap(), PING);
        }
    }

    #[test]
    fn bad_payloads_are_open_errors() {
        let frame = |compression, encryption, payload: &'static [u8]| Frame {
            compression,
            encryption,
            payload: Bytes::from_static(payload),
        };
        assert_eq!(
            open(&frame(Compression::Gzip, Encryption::None, b"!!"), None),
            Err(OpenError::BadBase64)
        );
        assert_eq!(
            open(&frame(Compression::None, Encryption::Aes256, b"\xff"), None),
            Err(OpenError::BadBase64)
        );
        assert!(matches!(
            open(&frame(Compression::Bzip2, Encryption::None, b"AAAA"), None),
            Err(OpenError::Decompress(_))
        ));
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(
            json in proptest::collection::vec(any::<u8>(), 0..2048),
            compression in 0u8..5,
            encryption in 0u8..4,
        ) {
            let compression = Compression::from_code(compression).unwrap();
            let encryption = Encryption::from_code(encryption).unwrap();
            let mut buf = frame_bytes(&json, compression, encryption);
            let frame = decode(&mut buf).unwrap().unwrap();
            prop_assert!(buf.is_empty());
            prop_assert_eq!(open(&frame, Some(&key())).unwrap(), json);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            if let Ok(Some(frame)) = decode(&mut buf) {
                let _ = open(&frame, Some(&key()));
            }
        }
    }
}
