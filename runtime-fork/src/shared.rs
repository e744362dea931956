//! The memory every process of the exporter shares, and the `fork` that makes the processes.
//!
//! One `mmap(MAP_SHARED | MAP_ANONYMOUS)` region, made by the parent before its first fork,
//! holds a [`SharedState`]: a `#[repr(C)]` struct of atomics only, so that every process reads
//! and writes it through safe atomic operations. It carries what the parent publishes for its
//! children (the rendered `/metrics` bodies) and what children report back to the parent (the
//! log lines they wrote).
//!
//! Every `unsafe` block of this runtime is in this file.

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::unistd::ForkResult;
use pgexporter_core::exposition::Format;
use pgexporter_core::scrape::LogCounters;

/// Largest `/metrics` body one slot holds, per exposition format. The pages are reserved, not
/// committed: only the bytes a body uses take memory.
pub(crate) const BODY_CAPACITY: usize = 16 << 20;

/// Words of one body slot.
const BODY_WORDS: usize = BODY_CAPACITY / 8;

/// How many times a child retries reading a body the parent is rewriting before giving up.
const READ_ATTEMPTS: u32 = 10_000;

/// How long a child waits before it retries reading a body the parent is rewriting.
const READ_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_micros(100);

/// One rendered `/metrics` body, written by the parent and read by children under a sequence
/// lock: the sequence is odd while the parent writes, and a reader that saw it change retries.
#[repr(C)]
struct BodySlot {
    sequence: AtomicU64,
    length: AtomicU64,
    words: [AtomicU64; BODY_WORDS],
}

/// What the processes share.
#[repr(C)]
pub(crate) struct SharedState {
    /// Log lines written by children that have exited: INFO, WARN, ERROR, FATAL.
    child_logs: [AtomicU64; 4],
    /// The text body, then the OpenMetrics body.
    bodies: [BodySlot; 2],
}

/// Why a body cannot be published.
#[derive(Debug, thiserror::Error)]
#[error(
    "the /metrics body is {0} bytes, more than the {BODY_CAPACITY} bytes the fork runtime can pass to its children"
)]
pub(crate) struct BodyTooLarge(usize);

impl SharedState {
    /// Maps the region; call once in the parent, before any fork. The mapping lives as long as
    /// the process (and every child forked after).
    ///
    /// # Errors
    /// When the kernel refuses the mapping.
    pub(crate) fn map() -> io::Result<&'static SharedState> {
        let length = NonZeroUsize::new(size_of::<SharedState>())
            .ok_or_else(|| io::Error::other("the shared state has no size"))?;
        // SAFETY: an anonymous mapping at an address the kernel chooses touches no existing
        // memory. The result is page aligned (more than `SharedState`'s alignment), readable
        // and writable, zero filled, and never unmapped, so a `'static` shared reference to it
        // is valid for the rest of the process. Zero bytes are a valid value of every atomic in
        // `SharedState`, and the struct is only ever accessed through atomic operations, from
        // this process and the children that inherit the mapping.
        unsafe {
            let pointer = mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED | MapFlags::MAP_NORESERVE,
            )
            .map_err(io::Error::from)?;
            Ok(pointer.cast::<SharedState>().as_ref())
        }
    }

    /// Adds the log lines a child wrote to the children's total.
    pub(crate) fn add_child_logs(&self, lines: LogCounters) {
        for (counter, count) in self.child_logs.iter().zip(log_array(lines)) {
            counter.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// The log lines children have written, added to `own` (the reading process's).
    pub(crate) fn total_logs(&self, own: LogCounters) -> LogCounters {
        let [info, warn, error, fatal] = log_array(own);
        let child = |index: usize| self.child_logs[index].load(Ordering::Relaxed);
        LogCounters {
            info: info + child(0),
            warn: warn + child(1),
            error: error + child(2),
            fatal: fatal + child(3),
        }
    }

    /// Replaces the body of `format`. Only the parent writes bodies.
    ///
    /// # Errors
    /// When `body` is larger than [`BODY_CAPACITY`]; the slot keeps its body.
    pub(crate) fn publish_body(&self, format: Format, body: &[u8]) -> Result<(), BodyTooLarge> {
        if body.len() > BODY_CAPACITY {
            return Err(BodyTooLarge(body.len()));
        }
        self.write_slot(format, body.len() as u64, body);
        Ok(())
    }

    /// Writes one slot under its sequence lock.
    fn write_slot(&self, format: Format, length: u64, body: &[u8]) {
        let slot = self.slot(format);
        let sequence = slot.sequence.load(Ordering::Relaxed);
        slot.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.length.store(length, Ordering::Relaxed);
        for (word, chunk) in slot.words.iter().zip(body.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        slot.sequence.store(sequence + 2, Ordering::Release);
    }

    /// Copies the body of `format` into `out` (replacing its contents). `false` when the parent
    /// has published none, or kept rewriting it while this read.
    pub(crate) fn read_body(&self, format: Format, out: &mut Vec<u8>) -> bool {
        let slot = self.slot(format);
        for _ in 0..READ_ATTEMPTS {
            let before = slot.sequence.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::thread::sleep(READ_RETRY_PAUSE);
                continue;
            }
            let length = slot.length.load(Ordering::Relaxed);
            let published = before > 0;
            let length = if published {
                (length as usize).min(BODY_CAPACITY)
            } else {
                0
            };
            out.clear();
            for word in slot.words.iter().take(length.div_ceil(8)) {
                out.extend_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
            out.truncate(length);
            fence(Ordering::Acquire);
            if slot.sequence.load(Ordering::Relaxed) == before {
                return published;
            }
            std::thread::sleep(READ_RETRY_PAUSE);
        }
        false
    }

    fn slot(&self, format: Format) -> &BodySlot {
        match format {
            Format::Text => &self.bodies[0],
            Format::OpenMetrics => &self.bodies[1],
        }
    }
}

fn log_array(lines: LogCounters) -> [u64; 4] {
    [lines.info, lines.warn, lines.error, lines.fatal]
}

/// Forks the process: `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// # Errors
/// When the kernel refuses (too many processes, no memory).
pub(crate) fn fork() -> io::Result<Option<nix::unistd::Pid>> {
    // SAFETY: the parent runs one thread (this runtime starts none, and the daemon starts none
    // before calling it), so the child's copy of memory holds no lock taken by another thread
    // and no other thread's half-done work; the child may go on running ordinary Rust code.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        ForkResult::Child => Ok(None),
        ForkResult::Parent { child } => Ok(Some(child)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let shared = SharedState::map().unwrap();
        let mut out = Vec::new();
        assert!(!shared.read_body(Format::Text, &mut out));
        shared
            .publish_body(Format::Text, b"abc 1\nlonger line 2\n")
            .unwrap();
        assert!(shared.read_body(Format::Text, &mut out));
        assert_eq!(out, b"abc 1\nlonger line 2\n");
        assert!(!shared.read_body(Format::OpenMetrics, &mut out));
        shared.publish_body(Format::Text, b"x").unwrap();
        assert!(shared.read_body(Format::Text, &mut out));
        assert_eq!(out, b"x");
    }

    #[test]
    fn an_oversized_body_is_refused() {
        let shared = SharedState::map().unwrap();
        let body = vec![b'a'; BODY_CAPACITY + 1];
        assert!(shared.publish_body(Format::Text, &body).is_err());
    }

    #[test]
    fn child_logs_add_up() {
        let shared = SharedState::map().unwrap();
        shared.add_child_logs(LogCounters {
            info: 2,
            warn: 1,
            error: 0,
            fatal: 0,
        });
        let own = LogCounters {
            info: 1,
            ..LogCounters::default()
        };
        assert_eq!(
            shared.total_logs(own),
            LogCounters {
                info: 3,
                warn: 1,
                error: 0,
                fatal: 0
            }
        );
    }

    #[test]
    fn a_child_sees_what_the_parent_publishes_and_reports_back() {
        let shared = SharedState::map().unwrap();
        shared
            .publish_body(Format::OpenMetrics, b"# EOF\n")
            .unwrap();
        match fork().unwrap() {
            None => {
                // The child only reads and writes the shared atomics, then exits.
                let mut out = Vec::new();
                let seen = shared.read_body(Format::OpenMetrics, &mut out) && out == b"# EOF\n";
                shared.add_child_logs(LogCounters {
                    warn: u64::from(seen),
                    ..LogCounters::default()
                });
                std::process::exit(0);
            }
            Some(child) => {
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(shared.total_logs(LogCounters::default()).warn, 1);
            }
        }
    }
}
