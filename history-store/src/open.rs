//! Opening a database file, and knowing whether the path still names the file opened.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pgexporter_core::history::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::error::store_error;
use crate::{other_error, schema};

/// How long a statement waits for a lock another process holds before it fails as
/// [`StoreErrorKind::Locked`](pgexporter_core::history::StoreErrorKind::Locked). Short: in
/// the fork runtime the parent waits with it.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// The page cache of the writing connection, in KiB: a snapshot touches one leaf page per
/// metric, and they stay cached from one snapshot to the next.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// An open connection to the database at a path, and which file that was.
#[derive(Debug)]
pub(crate) struct Opened {
    connection: Connection,
    path: PathBuf,
    /// Device and inode of the file when it was opened.
    identity: (u64, u64),
}

impl Opened {
    /// Opens (creating it and its schema when missing) the database at `path` for writing,
    /// in WAL mode.
    pub(crate) fn for_writing(path: &Path) -> Result<Opened, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection =
            Connection::open_with_flags(path, flags).map_err(|error| store_error(path, &error))?;
        let prepared = connection
            .busy_timeout(BUSY_TIMEOUT)
            .and_then(|()| {
                connection.pragma_update_and_check(None, "journal_mode", "wal", |row| {
                    row.get::<_, String>(0)
                })
            })
            .and_then(|_| connection.pragma_update(None, "synchronous", "normal"))
            .and_then(|()| connection.pragma_update(None, "cache_size", -WRITER_CACHE_KIB))
            .and_then(|()| schema::ensure(&connection));
        prepared.map_err(|error| store_error(path, &error))?;
        Opened::with_identity(connection, path)
    }

    /// Opens the database at `path` for reading; it must exist.
    pub(crate) fn for_reading(path: &Path) -> Result<Opened, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)
            .and_then(|connection| {
                connection.busy_timeout(BUSY_TIMEOUT)?;
                Ok(connection)
            })
            .map_err(|error| store_error(path, &error))?;
        Opened::with_identity(connection, path)
    }

    fn with_identity(connection: Connection, path: &Path) -> Result<Opened, StoreError> {
        let identity = identity(path).map_err(|error| other_error(path, error))?;
        Ok(Opened {
            connection,
            path: path.to_owned(),
            identity,
        })
    }

    /// The connection.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The connection, to write with.
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Whether the path still names the file this connection opened (not deleted, not
    /// replaced).
    pub(crate) fn is_current(&self) -> bool {
        identity(&self.path).is_ok_and(|now| now == self.identity)
    }
}

fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}
