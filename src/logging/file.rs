//! The log file (`log_type = file`): opened per `log_mode`, its name expanded with strftime at
//! each open, rotated by size and age.
//!
//! Rotation opens the file named by `log_path` expanded at that moment. When that is the name of
//! the file being written (a `log_path` without time patterns, or one whose patterns have not
//! moved on), the current file is first renamed to `<name>.<YYYYmmddHHMMSS>` (with `.1`, `.2`, …
//! appended if that exists already), so a rotation never truncates or mixes lines it wrote.
//! The age of a file counts from the moment this process opened it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pgexporter_core::config::LogMode;

use super::format::{Pattern, Stamp};

/// How many numbered archive names are tried when `<name>.<timestamp>` exists.
const MAX_ARCHIVE_SUFFIX: u32 = 1000;

/// When a new file is started (`log_rotation_age`, `log_rotation_size`); zero is never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Rotation {
    pub(super) age: Duration,
    pub(super) size: u64,
}

/// Whether a file opened at `opened_at` that now holds `size` bytes must be rotated before the
/// next line is written.
pub(super) fn rotation_due(
    now: Instant,
    opened_at: Instant,
    size: u64,
    rotation: Rotation,
) -> bool {
    let too_big = rotation.size > 0 && size >= rotation.size;
    let too_old =
        !rotation.age.is_zero() && now.saturating_duration_since(opened_at) >= rotation.age;
    too_big || too_old
}

/// The file being written.
#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    opened_at: Instant,
    size: u64,
}

impl OpenFile {
    /// Opens `path` for appending, created when missing and emptied first in `Create` mode.
    /// Every write goes to the end (`O_APPEND`), so lines from several writers never overlap.
    fn open(path: PathBuf, mode: LogMode, now: Instant) -> io::Result<OpenFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = match mode {
            LogMode::Append => file.metadata()?.len(),
            LogMode::Create => {
                file.set_len(0)?;
                0
            }
        };
        Ok(OpenFile {
            file,
            path,
            opened_at: now,
            size,
        })
    }
}

/// The log file sink.
#[derive(Debug)]
pub(super) struct FileSink {
    path_pattern: Pattern,
    mode: LogMode,
    rotation: Rotation,
    current: OpenFile,
}

impl FileSink {
    /// Opens the file named by `path_pattern` expanded at `stamp`, per `mode`.
    pub(super) fn open(
        path_pattern: Pattern,
        mode: LogMode,
        rotation: Rotation,
        stamp: Stamp,
    ) -> io::Result<FileSink> {
        let path = PathBuf::from(path_pattern.expand(&stamp.local));
        let current = OpenFile::open(path, mode, stamp.instant)?;
        Ok(FileSink {
            path_pattern,
            mode,
            rotation,
            current,
        })
    }

    /// The name of the file being written.
    pub(super) fn path(&self) -> &Path {
        &self.current.path
    }

    /// Takes new `log_mode` and rotation settings; they apply from the next line (and the next
    /// open, for the mode).
    pub(super) fn configure(&mut self, mode: LogMode, rotation: Rotation) {
        self.mode = mode;
        self.rotation = rotation;
    }

    /// Writes one line with a single write, rotating first when due. A failed rotation keeps
    /// the current file and restarts its rotation period; the error is returned after the line
    /// is written so the caller can report it.
    pub(super) fn write_line(&mut self, stamp: Stamp, line: &[u8]) -> Result<(), WriteError> {
        let rotated = if rotation_due(
            stamp.instant,
            self.current.opened_at,
            self.current.size,
            self.rotation,
        ) {
            self.rotate(stamp).inspect_err(|_| {
                self.current.opened_at = stamp.instant;
                self.current.size = 0;
            })
        } else {
            Ok(())
        };
        self.current
            .file
            .write_all(line)
            .map_err(WriteError::Write)?;
        self.current.size = self.current.size.saturating_add(line.len() as u64);
        rotated.map_err(WriteError::Rotate)
    }

    /// Closes the file and opens `log_path` expanded now, appending (whatever `log_mode` says,
    /// so a reopen of a file that was not moved away loses nothing). On error the current file
    /// stays in use.
    pub(super) fn reopen(&mut self, stamp: Stamp) -> io::Result<()> {
        let path = PathBuf::from(self.path_pattern.expand(&stamp.local));
        self.current = OpenFile::open(path, LogMode::Append, stamp.instant)?;
        Ok(())
    }

    /// Starts the next file, moving the current one aside when the next has the same name.
    fn rotate(&mut self, stamp: Stamp) -> io::Result<()> {
        let next = PathBuf::from(self.path_pattern.expand(&stamp.local));
        if next == self.current.path {
            let archive = free_archive_name(&next, &stamp)?;
            fs::rename(&next, &archive)?;
            self.current.path = archive;
        }
        self.current = OpenFile::open(next, self.mode, stamp.instant)?;
        Ok(())
    }
}

/// Why a line could not be written, or was written but the rotation before it failed.
#[derive(Debug)]
pub(super) enum WriteError {
    /// The line was not written.
    Write(io::Error),
    /// The line was written to the current file; starting the next file failed.
    Rotate(io::Error),
}

/// `<path>.<YYYYmmddHHMMSS>`, or the first of `<path>.<YYYYmmddHHMMSS>.<n>` that does not exist.
fn free_archive_name(path: &Path, stamp: &Stamp) -> io::Result<PathBuf> {
    let mut base = path.as_os_str().to_owned();
    base.push(stamp.local.format(".%Y%m%d%H%M%S").to_string());
    let base = PathBuf::from(base);
    if !base.exists() {
        return Ok(base);
    }
    (1..=MAX_ARCHIVE_SUFFIX)
        .map(|n| {
            let mut numbered = base.as_os_str().to_owned();
            numbered.push(format!(".{n}"));
            PathBuf::from(numbered)
        })
        .find(|candidate| !candidate.exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("every archive name for {} is taken", path.display()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Local, TimeZone};

    fn local(second: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 3, 7, 9, 5, second)
            .earliest()
            .expect("a plain local time")
    }

    fn stamp(instant: Instant, second: u32) -> Stamp {
        Stamp {
            instant,
            local: local(second),
        }
    }

    fn sink(dir: &Path, pattern: &str, mode: LogMode, rotation: Rotation, at: Stamp) -> FileSink {
        let pattern = Pattern::parse(&format!("{}/{pattern}", dir.display())).unwrap();
        FileSink::open(pattern, mode, rotation, at).unwrap()
    }

    fn lines_of(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn rotation_decision() {
        let opened = Instant::now();
        let hour = Duration::from_secs(3600);
        let off = Rotation::default();
        assert!(!rotation_due(opened + hour * 100, opened, u64::MAX, off));
        let by_size = Rotation {
            age: Duration::ZERO,
            size: 100,
        };
        assert!(!rotation_due(opened, opened, 99, by_size));
        assert!(rotation_due(opened, opened, 100, by_size));
        let by_age = Rotation { age: hour, size: 0 };
        assert!(!rotation_due(
            opened + hour - Duration::from_secs(1),
            opened,
            1 << 40,
            by_age
        ));
        assert!(rotation_due(opened + hour, opened, 0, by_age));
        // A clock that appears to go backwards never rotates by age.
        assert!(!rotation_due(opened, opened + hour, 0, by_age));
    }

    #[test]
    fn append_keeps_and_create_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        fs::write(&path, "old\n").unwrap();
        let now = Instant::now();
        let mut append = sink(
            dir.path(),
            "a.log",
            LogMode::Append,
            Rotation::default(),
            stamp(now, 0),
        );
        append.write_line(stamp(now, 0), b"new\n").unwrap();
        assert_eq!(lines_of(&path), ["old", "new"]);
        drop(append);
        let mut create = sink(
            dir.path(),
            "a.log",
            LogMode::Create,
            Rotation::default(),
            stamp(now, 0),
        );
        assert_eq!(fs::read(&path).unwrap(), b"");
        create.write_line(stamp(now, 0), b"fresh\n").unwrap();
        assert_eq!(lines_of(&path), ["fresh"]);
    }

    #[test]
    fn path_is_expanded_with_strftime() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let file = sink(
            dir.path(),
            "x-%Y%m%d.log",
            LogMode::Append,
            Rotation::default(),
            stamp(now, 0),
        );
        assert_eq!(file.path(), dir.path().join("x-20260307.log"));
        assert!(file.path().exists());
    }

    #[test]
    fn rotation_by_size_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let rotation = Rotation {
            age: Duration::ZERO,
            size: 15,
        };
        let mut file = sink(
            dir.path(),
            "p.log",
            LogMode::Append,
            rotation,
            stamp(now, 0),
        );
        // 15 bytes with the newline: every line fills a file.
        let written: Vec<String> = (0..5).map(|n| format!("line {n} of five")).collect();
        for (n, line) in written.iter().enumerate() {
            let second = u32::try_from(n).unwrap();
            file.write_line(stamp(now, second), format!("{line}\n").as_bytes())
                .unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "p.log",
                "p.log.20260307090501",
                "p.log.20260307090502",
                "p.log.20260307090503",
                "p.log.20260307090504",
            ]
        );
        let mut read: Vec<String> = names[1..]
            .iter()
            .chain(&names[..1])
            .flat_map(|name| lines_of(&dir.path().join(name)))
            .collect();
        assert_eq!(read, written);
        read.dedup();
        assert_eq!(read.len(), 5);
    }

    #[test]
    fn rotation_within_one_second_numbers_the_archives() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let rotation = Rotation {
            age: Duration::ZERO,
            size: 1,
        };
        let mut file = sink(
            dir.path(),
            "s.log",
            LogMode::Append,
            rotation,
            stamp(now, 9),
        );
        for line in ["a\n", "b\n", "c\n"] {
            file.write_line(stamp(now, 9), line.as_bytes()).unwrap();
        }
        assert_eq!(lines_of(&dir.path().join("s.log.20260307090509")), ["a"]);
        assert_eq!(lines_of(&dir.path().join("s.log.20260307090509.1")), ["b"]);
        assert_eq!(lines_of(&dir.path().join("s.log")), ["c"]);
    }

    #[test]
    fn rotation_by_age_with_a_new_name_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let rotation = Rotation {
            age: Duration::from_secs(60),
            size: 0,
        };
        let mut file = sink(
            dir.path(),
            "t-%S.log",
            LogMode::Create,
            rotation,
            stamp(start, 0),
        );
        file.write_line(stamp(start + Duration::from_secs(59), 0), b"first\n")
            .unwrap();
        file.write_line(stamp(start + Duration::from_secs(60), 30), b"second\n")
            .unwrap();
        assert_eq!(file.path(), dir.path().join("t-30.log"));
        assert_eq!(lines_of(&dir.path().join("t-00.log")), ["first"]);
        assert_eq!(lines_of(&dir.path().join("t-30.log")), ["second"]);
    }

    #[test]
    fn reopen_after_the_file_was_moved_away() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let mut file = sink(
            dir.path(),
            "r.log",
            LogMode::Create,
            Rotation::default(),
            stamp(now, 0),
        );
        file.write_line(stamp(now, 0), b"before\n").unwrap();
        let moved = dir.path().join("r.log.1");
        fs::rename(dir.path().join("r.log"), &moved).unwrap();
        file.write_line(stamp(now, 0), b"still old\n").unwrap();
        file.reopen(stamp(now, 1)).unwrap();
        file.write_line(stamp(now, 1), b"after\n").unwrap();
        assert_eq!(lines_of(&moved), ["before", "still old"]);
        assert_eq!(lines_of(&dir.path().join("r.log")), ["after"]);
        // A reopen of a file that was not moved appends, even in create mode.
        file.reopen(stamp(now, 2)).unwrap();
        file.write_line(stamp(now, 2), b"again\n").unwrap();
        assert_eq!(lines_of(&dir.path().join("r.log")), ["after", "again"]);
    }

    #[test]
    fn failed_rotation_keeps_writing_to_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let rotation = Rotation {
            age: Duration::ZERO,
            size: 1,
        };
        let pattern = Pattern::parse(&format!("{}/%S/f.log", dir.path().display())).unwrap();
        fs::create_dir(dir.path().join("00")).unwrap();
        let mut file = FileSink::open(pattern, LogMode::Append, rotation, stamp(now, 0)).unwrap();
        file.write_line(stamp(now, 0), b"one\n").unwrap();
        // The next name lies in a directory that does not exist.
        let failed = file.write_line(stamp(now, 5), b"two\n");
        assert!(matches!(failed, Err(WriteError::Rotate(_))));
        assert_eq!(lines_of(&dir.path().join("00/f.log")), ["one", "two"]);
    }
}
