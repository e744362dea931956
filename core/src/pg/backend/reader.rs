//! A cursor over one message body that never reads past its end.

use bytes::{Buf, Bytes};

use super::ProtocolError;

/// Reads the fields of one backend message body. Every read checks the remaining length first,
/// so a short or lying body becomes a [`ProtocolError::Malformed`], never a panic.
pub(crate) struct BodyReader {
    body: Bytes,
    message: &'static str,
}

impl BodyReader {
    /// Reads `body`, the payload of a message named `message` (used in errors).
    pub(crate) fn new(body: Bytes, message: &'static str) -> Self {
        BodyReader { body, message }
    }

    /// An error naming this message and the `problem` found.
    pub(crate) fn malformed(&self, problem: &'static str) -> ProtocolError {
        ProtocolError::Malformed {
            message: self.message,
            problem,
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.body.len()
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        if self.body.is_empty() {
            return Err(self.malformed("truncated"));
        }
        Ok(self.body.get_u8())
    }

    /// Reads a big-endian `i16`.
    pub(crate) fn i16(&mut self) -> Result<i16, ProtocolError> {
        if self.body.len() < 2 {
            return Err(self.malformed("truncated"));
        }
        Ok(self.body.get_i16())
    }

    /// Reads a big-endian `i32`.
    pub(crate) fn i32(&mut self) -> Result<i32, ProtocolError> {
        if self.body.len() < 4 {
            return Err(self.malformed("truncated"));
        }
        Ok(self.body.get_i32())
    }

    /// Reads a big-endian `u32` (OIDs).
    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        if self.body.len() < 4 {
            return Err(self.malformed("truncated"));
        }
        Ok(self.body.get_u32())
    }

    /// Reads a count field (`i16`) and checks that `count` items of at least `min_item_len`
    /// bytes each can fit in what remains, so that a vector of that capacity is safe to
    /// allocate.
    pub(crate) fn count16(&mut self, min_item_len: usize) -> Result<usize, ProtocolError> {
        let count = usize::try_from(self.i16()?).map_err(|_| self.malformed("negative count"))?;
        self.check_count(count, min_item_len)
    }

    /// Like [`BodyReader::count16`] for an `i32` count.
    pub(crate) fn count32(&mut self, min_item_len: usize) -> Result<usize, ProtocolError> {
        let count = usize::try_from(self.i32()?).map_err(|_| self.malformed("negative count"))?;
        self.check_count(count, min_item_len)
    }

    fn check_count(&self, count: usize, min_item_len: usize) -> Result<usize, ProtocolError> {
        match count.checked_mul(min_item_len) {
            Some(needed) if needed <= self.body.len() => Ok(count),
            _ => Err(self.malformed("count exceeds the message length")),
        }
    }

    /// Skips `len` bytes (a value whose position the caller already recorded).
    pub(crate) fn skip(&mut self, len: usize) -> Result<(), ProtocolError> {
        if self.body.len() < len {
            return Err(self.malformed("truncated"));
        }
        self.body.advance(len);
        Ok(())
    }

    /// Reads everything left without copying it.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.body)
    }

    /// Reads a NUL-terminated string. Invalid UTF-8 (a server whose messages use another
    /// encoding) is replaced rather than refused: these strings are for display and lookup.
    pub(crate) fn cstr(&mut self) -> Result<String, ProtocolError> {
        let Some(nul) = self.body.iter().position(|&b| b == 0) else {
            return Err(self.malformed("unterminated string"));
        };
        let text = String::from_utf8_lossy(&self.body[..nul]).into_owned();
        self.body.advance(nul + 1);
        Ok(text)
    }

    /// Checks that the whole body was read.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        if self.body.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_short_bodies() {
        let mut reader = BodyReader::new(Bytes::from_static(b"\0\x01\0\0\0\x02ab\0x"), "Test");
        assert_eq!(reader.i16().unwrap(), 1);
        assert_eq!(reader.i32().unwrap(), 2);
        assert_eq!(reader.cstr().unwrap(), "ab");
        assert_eq!(reader.remaining(), 1);
        assert!(reader.i16().is_err());
        assert!(reader.cstr().is_err());
        assert_eq!(reader.u8().unwrap(), b'x');
        assert!(reader.u8().is_err());
        reader.finish().unwrap();
    }

    #[test]
    fn counts_larger_than_the_body_are_refused() {
        let mut reader = BodyReader::new(Bytes::from_static(b"\x7f\xff\0\0"), "Test");
        assert_eq!(
            reader.count16(4),
            Err(ProtocolError::Malformed {
                message: "Test",
                problem: "count exceeds the message length"
            })
        );
        let mut reader = BodyReader::new(Bytes::from_static(b"\xff\xff"), "Test");
        assert!(reader.count16(0).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let reader = BodyReader::new(Bytes::from_static(b"x"), "Test");
        assert!(reader.finish().is_err());
    }
}
