//! SQLite's errors sorted into the kinds the core tells apart.

use std::path::Path;

use pgexporter_core::history::{StoreError, StoreErrorKind};
use rusqlite::ErrorCode;

/// The [`StoreError`] of `error` on the database at `path`.
pub(crate) fn store_error(path: &Path, error: &rusqlite::Error) -> StoreError {
    let kind = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreErrorKind::Locked,
        Some(ErrorCode::DiskFull) => StoreErrorKind::Full,
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreErrorKind::ReadOnly,
        Some(ErrorCode::CannotOpen) => StoreErrorKind::CannotOpen,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Other,
    };
    StoreError {
        kind,
        message: format!("{}: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let failure = |code: i32| {
            let error = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            store_error(Path::new("/h.db"), &error)
        };
        assert_eq!(
            failure(rusqlite::ffi::SQLITE_BUSY).kind,
            StoreErrorKind::Locked
        );
        assert_eq!(
            failure(rusqlite::ffi::SQLITE_FULL).kind,
            StoreErrorKind::Full
        );
        assert_eq!(
            failure(rusqlite::ffi::SQLITE_READONLY).kind,
            StoreErrorKind::ReadOnly
        );
        assert_eq!(
            failure(rusqlite::ffi::SQLITE_CANTOPEN).kind,
            StoreErrorKind::CannotOpen
        );
        assert_eq!(
            failure(rusqlite::ffi::SQLITE_NOTADB).kind,
            StoreErrorKind::Corrupt
        );
        assert!(
            failure(rusqlite::ffi::SQLITE_FULL)
                .message
                .starts_with("/h.db: ")
        );
    }
}
