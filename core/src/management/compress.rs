//! The compression algorithms of management frames, each with a bound on the decompressed size.
//!
//! gzip (flate2), zstd (ruzstd), LZ4 block format without a size prefix (lz4_flex) and bzip2
//! (bzip2 on its pure Rust back end). Decompression stops as soon as the output would pass
//! the caller's limit, so a small hostile payload cannot make it allocate more than that.

use std::io::{Read, Write};

use thiserror::Error;

/// The compression byte of a frame (SPEC §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// 0: the payload is not compressed.
    None,
    /// 1: gzip.
    Gzip,
    /// 2: zstd.
    Zstd,
    /// 3: LZ4 block format.
    Lz4,
    /// 4: bzip2.
    Bzip2,
}

impl Compression {
    /// Every algorithm, in wire-code order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Lz4,
        Compression::Bzip2,
    ];

    /// The wire code (0–4).
    pub fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Zstd => 2,
            Compression::Lz4 => 3,
            Compression::Bzip2 => 4,
        }
    }

    /// The algorithm of a wire code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// Why a compressed payload could not be expanded. All of these mean the peer sent garbage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The bytes are not a valid stream of the algorithm.
    #[error("payload is not valid {0:?} data")]
    Corrupt(Compression),
    /// The expanded payload would be larger than the limit.
    #[error("decompressed payload is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was passed.
        limit: usize,
    },
}

/// Compresses `data` with `algorithm` (`Compression::None` copies it).
pub fn compress(algorithm: Compression, data: &[u8]) -> Vec<u8> {
    match algorithm {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            finish_writer(encoder.write_all(data).and_then(|()| encoder.finish()))
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        Compression::Lz4 => lz4_flex::block::compress(data),
        Compression::Bzip2 => {
            let mut encoder =
                bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            finish_writer(encoder.write_all(data).and_then(|()| encoder.finish()))
        }
    }
}

/// The output of an encoder that writes into a `Vec`, which cannot fail for lack of space.
fn finish_writer(result: std::io::Result<Vec<u8>>) -> Vec<u8> {
    // Writing into a Vec never returns an IO error; the encoders report none of their own.
    result.expect("compressing into memory cannot fail")
}

/// Expands `data` compressed with `algorithm`, refusing to produce more than `limit` bytes.
///
/// Errors: [`DecompressError::Corrupt`] for bytes that are not a valid stream,
/// [`DecompressError::TooLarge`] as soon as the output would pass `limit`.
pub fn decompress(
    algorithm: Compression,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let corrupt = || DecompressError::Corrupt(algorithm);
    match algorithm {
        Compression::None => {
            if data.len() > limit {
                return Err(DecompressError::TooLarge { limit });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), algorithm, limit),
        Compression::Zstd => {
            // The decoder reserves the declared window up front: bound it by the limit too.
            let max_window = u64::try_from(limit).unwrap_or(u64::MAX);
            let mut source = data;
            let decoder = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
                &mut source,
                max_window,
            )
            .map_err(|error| match error {
                ruzstd::decoding::errors::FrameDecoderError::WindowSizeTooBig { .. } => {
                    DecompressError::TooLarge { limit }
                }
                _ => corrupt(),
            })?;
            read_bounded(decoder, algorithm, limit)
        }
        Compression::Lz4 => lz4_block(data, limit),
        Compression::Bzip2 => read_bounded(bzip2::read::BzDecoder::new(data), algorithm, limit),
    }
}

/// Reads `reader` to its end, failing once more than `limit` bytes come out.
fn read_bounded(
    reader: impl Read,
    algorithm: Compression,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| DecompressError::Corrupt(algorithm))?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// The most an LZ4 block can expand: each input byte stands for at most 255 output bytes.
const LZ4_MAX_RATIO: usize = 255;

/// Expands an LZ4 block into a buffer no larger than `limit`.
fn lz4_block(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let room = data.len().saturating_mul(LZ4_MAX_RATIO).min(limit);
    let mut out = vec![0u8; room];
    match lz4_flex::block::decompress_into(data, &mut out) {
        Ok(len) => {
            out.truncate(len);
            Ok(out)
        }
        Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room == limit => {
            Err(DecompressError::TooLarge { limit })
        }
        Err(_) => Err(DecompressError::Corrupt(Compression::Lz4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = br#"{"Header":{"ClientVersion":"0.9.0","Command":5}}"#;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for algorithm in Compression::ALL {
            assert_eq!(Compression::from_code(algorithm.code()), Some(algorithm));
        }
        assert_eq!(Compression::from_code(5), None);
        assert_eq!(Compression::from_code(255), None);
    }

    #[test]
    fn every_algorithm_round_trips() {
        for algorithm in Compression::ALL {
            for data in [&b""[..], SAMPLE, &[7u8; 10_000][..]] {
                let packed = compress(algorithm, data);
                let unpacked = decompress(algorithm, &packed, 1 << 20).unwrap();
                assert_eq!(unpacked, data, "{algorithm:?}");
            }
        }
    }

    #[test]
    fn repetitive_data_shrinks() {
        let data = [b'a'; 100_000];
        for algorithm in &Compression::ALL[1..] {
            assert!(compress(*algorithm, &data).len() < 2_000, "{algorithm:?}");
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let data = vec![0u8; 1 << 20];
        for algorithm in Compression::ALL {
            let packed = compress(algorithm, &data);
            assert_eq!(
                decompress(algorithm, &packed, 4096),
                Err(DecompressError::TooLarge { limit: 4096 }),
                "{algorithm:?}"
            );
            assert_eq!(
                decompress(algorithm, &packed, 1 << 20).unwrap().len(),
                1 << 20
            );
        }
    }

    #[test]
    fn a_zstd_frame_declaring_a_huge_window_is_refused_before_allocating() {
        // Magic, frame header descriptor, window descriptor of 2 MiB (over the 1 MiB limit).
        let header = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0, 0, 0];
        assert_eq!(
            decompress(Compression::Zstd, &header, 1 << 20),
            Err(DecompressError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let garbage = b"\x1f\x8b\x08\x00garbage that is not compressed at all";
        for algorithm in &Compression::ALL[1..] {
            assert!(
                matches!(
                    decompress(*algorithm, garbage, 1 << 20),
                    Err(DecompressError::Corrupt(_)) | Err(DecompressError::TooLarge { .. })
                ),
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn truncated_streams_are_refused() {
        for algorithm in &Compression::ALL[1..] {
            let packed = compress(*algorithm, SAMPLE);
            let cut = &packed[..packed.len() / 2];
            match decompress(*algorithm, cut, 1 << 20) {
                Ok(out) => assert_ne!(out, SAMPLE, "{algorithm:?}"),
                Err(error) => assert!(matches!(error, DecompressError::Corrupt(_))),
            }
        }
    }
}
