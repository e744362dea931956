//! Reading a response body: `Content-Length`, chunked or until the end of the stream, never more
//! than a limit; and gzip, decoded within the same limit.

use std::io::Read;

use bytes::{Buf, BytesMut};

use super::ClientError;
use super::head::Framing;

/// The longest chunk-size line (size, extensions and CRLF) a chunked body may have.
const MAX_CHUNK_LINE: usize = 1024;

/// Where a chunked body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk: this many bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one, this many bytes read so far.
    Trailers(usize),
}

/// The body of one response being read.
#[derive(Debug)]
pub(super) struct Body {
    framing: Framing,
    chunked: Chunked,
    /// Bytes of a `Content-Length` body still to come.
    remaining: u64,
    bytes: BytesMut,
    limit: usize,
}

impl Body {
    /// A body framed as `framing`, at most `limit` bytes (as sent, before decoding).
    ///
    /// # Errors
    /// [`ClientError::BodyTooLarge`] when `Content-Length` says more than `limit`.
    pub(super) fn new(framing: Framing, limit: usize) -> Result<Body, ClientError> {
        let remaining = match framing {
            Framing::Length(length) if length > limit as u64 => {
                return Err(ClientError::BodyTooLarge { limit });
            }
            Framing::Length(length) => length,
            _ => 0,
        };
        Ok(Body {
            framing,
            chunked: Chunked::Size,
            remaining,
            bytes: BytesMut::new(),
            limit,
        })
    }

    /// Takes body bytes from the front of `input`; `Ok(true)` once the body is complete (bytes
    /// after it stay in `input`).
    ///
    /// # Errors
    /// A malformed chunked body, or one longer than the limit.
    pub(super) fn read(&mut self, input: &mut BytesMut) -> Result<bool, ClientError> {
        match self.framing {
            Framing::Empty => Ok(true),
            Framing::Length(_) => {
                let take = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.bytes.extend_from_slice(&input.split_to(take));
                self.remaining -= take as u64;
                Ok(self.remaining == 0)
            }
            Framing::UntilClose => {
                self.append(&input.split())?;
                Ok(false)
            }
            Framing::Chunked => self.read_chunked(input),
        }
    }

    /// The stream ended: `Ok` when that completes the body.
    ///
    /// # Errors
    /// [`ClientError::Closed`] when the body was still incomplete.
    pub(super) fn end_of_stream(&self) -> Result<(), ClientError> {
        match self.framing {
            Framing::UntilClose => Ok(()),
            _ => Err(ClientError::Closed { received: true }),
        }
    }

    /// The complete body, gunzipped when `gzip`, within the limit.
    ///
    /// # Errors
    /// A gzip stream that is corrupt or decodes to more than the limit.
    pub(super) fn finish(self, gzip: bool) -> Result<bytes::Bytes, ClientError> {
        if !gzip {
            return Ok(self.bytes.freeze());
        }
        let mut decoded = Vec::new();
        let limit = self.limit as u64;
        flate2::read::MultiGzDecoder::new(&self.bytes[..])
            .take(limit + 1)
            .read_to_end(&mut decoded)
            .map_err(|error| ClientError::Gzip(error.to_string()))?;
        if decoded.len() as u64 > limit {
            return Err(ClientError::BodyTooLarge { limit: self.limit });
        }
        Ok(decoded.into())
    }

    fn append(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if self.bytes.len() + data.len() > self.limit {
            return Err(ClientError::BodyTooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    fn read_chunked(&mut self, input: &mut BytesMut) -> Result<bool, ClientError> {
        let malformed = |what: &str| ClientError::Malformed(format!("chunked body: {what}"));
        loop {
            match self.chunked {
                Chunked::Size => {
                    let Some(line) = take_line(input, MAX_CHUNK_LINE)? else {
                        return Ok(false);
                    };
                    let size = chunk_size(&line).ok_or_else(|| malformed("bad chunk size"))?;
                    if self.bytes.len() as u64 + size > self.limit as u64 {
                        return Err(ClientError::BodyTooLarge { limit: self.limit });
                    }
                    self.chunked = if size == 0 {
                        Chunked::Trailers(0)
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.bytes.extend_from_slice(&input.split_to(take));
                    let left = left - take as u64;
                    self.chunked = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                }
                Chunked::DataEnd => {
                    if input.len() < 2 {
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(malformed("chunk data not followed by CRLF"));
                    }
                    input.advance(2);
                    self.chunked = Chunked::Size;
                }
                Chunked::Trailers(read) => {
                    let Some(line) = take_line(input, MAX_CHUNK_LINE)? else {
                        return Ok(false);
                    };
                    if line.is_empty() {
                        return Ok(true);
                    }
                    let read = read + line.len();
                    if read > self.limit.min(64 * 1024) {
                        return Err(malformed("trailers too long"));
                    }
                    self.chunked = Chunked::Trailers(read);
                }
            }
        }
    }
}

/// Takes one CRLF-terminated line from the front of `input`, without its CRLF; `None` until
/// the whole line has arrived.
fn take_line(input: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, ClientError> {
    match input.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) if end + 2 <= max => {
            let line = input.split_to(end);
            input.advance(2);
            Ok(Some(line))
        }
        None if input.len() < max => Ok(None),
        _ => Err(ClientError::Malformed(
            "chunked body: line too long".to_owned(),
        )),
    }
}

/// The size of a chunk-size line: hex digits, then optional extensions after `;`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&byte| byte == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim_matches([' ', '\t']);
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(
        framing: Framing,
        limit: usize,
        input: &[u8],
    ) -> Result<(bool, Vec<u8>), ClientError> {
        let mut body = Body::new(framing, limit)?;
        let mut buffer = BytesMut::from(input);
        let done = body.read(&mut buffer)?;
        Ok((done, body.finish(false)?.to_vec()))
    }

    #[test]
    fn chunked_bodies_split_anywhere() {
        let wire = b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: y\r\n\r\nrest";
        for split in 0..wire.len() {
            let mut body = Body::new(Framing::Chunked, 1000).unwrap();
            let mut input = BytesMut::from(&wire[..split]);
            let early = body.read(&mut input).unwrap();
            input.extend_from_slice(&wire[split..]);
            let done = early || body.read(&mut input).unwrap();
            assert!(done, "split at {split}");
            assert_eq!(&input[..], b"rest");
            assert_eq!(
                &body.finish(false).unwrap()[..],
                b"Wikipedia in \r\n\r\nchunks."
            );
        }
    }

    #[test]
    fn limits_and_malformed_chunks() {
        assert_eq!(
            read_all(Framing::Length(11), 10, b""),
            Err(ClientError::BodyTooLarge { limit: 10 })
        );
        assert_eq!(
            read_all(Framing::Chunked, 10, b"b\r\n"),
            Err(ClientError::BodyTooLarge { limit: 10 })
        );
        assert_eq!(
            read_all(Framing::UntilClose, 3, b"abcd"),
            Err(ClientError::BodyTooLarge { limit: 3 })
        );
        for bad in [
            &b"z\r\n"[..],
            b"1\r\naXY",
            b"fffffffffffffffff\r\n",
            b"\r\n",
        ] {
            assert!(
                matches!(
                    read_all(Framing::Chunked, 1 << 20, bad),
                    Err(ClientError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        let endless = vec![b'1'; MAX_CHUNK_LINE];
        assert!(matches!(
            read_all(Framing::Chunked, 1 << 20, &endless),
            Err(ClientError::Malformed(_))
        ));
        assert_eq!(
            read_all(Framing::Length(3), 10, b"abcdef"),
            Ok((true, b"abc".to_vec()))
        );
    }

    #[test]
    fn gzip_decodes_within_the_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'x'; 5000]).unwrap();
        let compressed = encoder.finish().unwrap();
        let whole = |limit| {
            let mut body = Body::new(Framing::UntilClose, limit).unwrap();
            body.read(&mut BytesMut::from(&compressed[..])).unwrap();
            body.finish(true)
        };
        assert_eq!(whole(5000).unwrap().len(), 5000);
        assert_eq!(whole(4999), Err(ClientError::BodyTooLarge { limit: 4999 }));
        let mut corrupt = Body::new(Framing::UntilClose, 100).unwrap();
        corrupt
            .read(&mut BytesMut::from(&b"\x1f\x8bnot gzip"[..]))
            .unwrap();
        assert!(matches!(corrupt.finish(true), Err(ClientError::Gzip(_))));
    }
}
