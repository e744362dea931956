//! The one way every machine of this crate hands its queued bytes to the caller.

use bytes::BytesMut;

/// Moves `queued` to the end of `out`; `false` when nothing was queued. An empty `out` takes
/// the buffer itself, without copying.
pub(crate) fn hand_over(queued: &mut BytesMut, out: &mut BytesMut) -> bool {
    if queued.is_empty() {
        return false;
    }
    if out.is_empty() {
        std::mem::swap(out, queued);
    } else {
        out.extend_from_slice(queued);
        queued.clear();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_move_once_and_append() {
        let mut queued = BytesMut::from(&b"abc"[..]);
        let mut out = BytesMut::new();
        assert!(hand_over(&mut queued, &mut out));
        assert!(!hand_over(&mut queued, &mut out));
        queued.extend_from_slice(b"de");
        assert!(hand_over(&mut queued, &mut out));
        assert_eq!(&out[..], b"abcde");
        assert!(queued.is_empty());
    }
}
