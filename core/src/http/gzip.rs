//! A gzip member written incrementally, with the compressor kept for the next response.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The fixed gzip member header: magic, deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// Room added to the output before each compression step.
const STEP: usize = 4096;

/// Compresses one body at a time into gzip format (RFC 1952).
///
/// Call [`GzipStream::begin`], then [`GzipStream::write`] for each piece of the body, then
/// [`GzipStream::finish`]; every call appends the bytes that are ready to `out`, which may be
/// none for small pieces. The deflate state is reset, not reallocated, between bodies.
#[derive(Debug)]
pub(super) struct GzipStream {
    compress: Compress,
    crc: Crc,
}

impl GzipStream {
    /// A compressor at `level` (0 none … 9 best; values above 9 count as 9).
    pub fn new(level: u32) -> Self {
        GzipStream {
            compress: Compress::new(Compression::new(level.min(9)), false),
            crc: Crc::new(),
        }
    }

    /// Starts a new body: resets the state and appends the gzip header.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        self.compress.reset();
        self.crc.reset();
        out.extend_from_slice(&HEADER);
    }

    /// Compresses `input`, appending whatever compressed bytes are ready.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.crc.update(input);
        let mut rest = input;
        while !rest.is_empty() {
            out.reserve(STEP.max(rest.len() / 2));
            let before = self.compress.total_in();
            // Deflate reports errors only for a corrupted state, which safe code cannot make.
            if self
                .compress
                .compress_vec(rest, out, FlushCompress::None)
                .is_err()
            {
                break;
            }
            let consumed = usize::try_from(self.compress.total_in() - before).unwrap_or(0);
            rest = rest.get(consumed..).unwrap_or_default();
        }
    }

    /// Ends the body: appends the remaining compressed bytes and the gzip trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        loop {
            out.reserve(STEP);
            match self.compress.compress_vec(&[], out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
    }
}

/// `body` as one gzip member, compressed at `level` (0 none … 9 best; above 9 counts as 9).
pub fn gzip_body(body: &[u8], level: u32) -> Vec<u8> {
    let mut stream = GzipStream::new(level);
    let mut out = Vec::new();
    stream.begin(&mut out);
    stream.write(body, &mut out);
    stream.finish(&mut out);
    out
}

/// The body a gzip member holds (tests only: a bad member panics).
#[cfg(test)]
pub(crate) fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
        .expect("a valid gzip member");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_decompress_to_the_whole() {
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut stream = GzipStream::new(1);
        let mut out = Vec::new();
        stream.begin(&mut out);
        for piece in body.chunks(7_000) {
            stream.write(piece, &mut out);
        }
        stream.finish(&mut out);
        assert_eq!(gunzip(&out), body);
    }

    #[test]
    fn stream_is_reusable_and_empty_bodies_work() {
        let mut stream = GzipStream::new(6);
        for body in [&b"first body"[..], b"", b"third"] {
            let mut out = Vec::new();
            stream.begin(&mut out);
            stream.write(body, &mut out);
            stream.finish(&mut out);
            assert_eq!(gunzip(&out), body);
        }
    }
}
