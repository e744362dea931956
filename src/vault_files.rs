//! The vault on disk: where the master key lives, the file modes it must have, and atomic
//! replacement of the users and admins files.
//!
//! The master key is `~/.pgexporter/master.key`: the directory must have no group or other
//! permission bits (0700) and the file neither (0600). Looser modes are refused with the `chmod`
//! that fixes them. Every write goes to a temporary file in the same directory that is synced
//! and then renamed (or linked) into place, so a failure leaves the old file untouched.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pgexporter_core::vault::credentials::MAX_FILE_LEN;
use pgexporter_core::vault::master_key::MAX_MASTER_KEY_FILE_LEN;
use pgexporter_core::vault::{
    CredentialsFile, FileKind, MasterKeyError, MasterKeyFile, ParseError,
};

/// Mode of the directory that holds the master key.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of the master key file and of every file written here.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Why a vault file could not be found, read or written. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultFileError {
    /// Neither `$HOME` nor the password database gives a home directory.
    #[error("cannot find the home directory: HOME is not set and the user database has no entry")]
    NoHome,
    /// The operating system refused an operation on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error from the operating system.
        source: io::Error,
    },
    /// Group or other users have permissions on a private file or directory.
    #[error(
        "{} has mode {mode:04o}, which lets other users in; run `chmod {wanted:04o} {}`",
        path.display(),
        path.display()
    )]
    LooseMode {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode to set.
        wanted: u32,
    },
    /// A path that must be a regular file (or a directory) is something else.
    #[error("{} is not a {expected}", path.display())]
    WrongType {
        /// The path.
        path: PathBuf,
        /// "regular file" or "directory".
        expected: &'static str,
    },
    /// A file is over the size limit of its kind; it was not read.
    #[error("{} is over the limit of {limit} bytes", path.display())]
    TooLong {
        /// The file.
        path: PathBuf,
        /// Largest accepted size.
        limit: usize,
    },
    /// A file that is not UTF-8 text.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The master key file exists, and making a new one would orphan every stored password.
    #[error(
        "{} already exists; a new master key would make the existing users and admins files \
         unreadable, so it is left alone",
        path.display()
    )]
    MasterKeyExists {
        /// The master key file.
        path: PathBuf,
    },
    /// The master key file is missing.
    #[error("{} does not exist; create it with `pgexporter-admin master-key`", path.display())]
    NoMasterKey {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The master key file is malformed.
    #[error("{}: {source}", path.display())]
    MasterKey {
        /// The master key file.
        path: PathBuf,
        /// What is wrong with it.
        source: MasterKeyError,
    },
    /// A users or admins file is malformed.
    #[error("{}: {source}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the line.
        source: ParseError,
    },
}

/// The home directory of the running user: `$HOME` when set and not empty, else the entry of
/// the real user id in the password database.
pub fn home_dir() -> Result<PathBuf, VaultFileError> {
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|user| user.dir)
        .ok_or(VaultFileError::NoHome)
}

/// `<home>/.pgexporter/master.key`.
pub fn master_key_path(home: &Path) -> PathBuf {
    home.join(".pgexporter").join("master.key")
}

/// Reads and parses the master key file at `path` after checking that it is a regular file
/// with mode 0600 or stricter in a directory with mode 0700 or stricter.
pub fn read_master_key(path: &Path) -> Result<MasterKeyFile, VaultFileError> {
    // A missing directory or file means there is no master key yet.
    let missing_as_no_key = |error| match error {
        VaultFileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            VaultFileError::NoMasterKey {
                path: path.to_owned(),
            }
        }
        other => other,
    };
    check_private(parent_dir(path), Expected::Directory).map_err(missing_as_no_key)?;
    check_private(path, Expected::File).map_err(missing_as_no_key)?;
    let text = read_text(path, MAX_MASTER_KEY_FILE_LEN)?;
    MasterKeyFile::parse(&text).map_err(|source| VaultFileError::MasterKey {
        path: path.to_owned(),
        source,
    })
}

/// Writes a new master key file at `path`, making its directory (mode 0700) when missing.
///
/// Refuses when the file exists or the directory's mode is looser than 0700. The file appears
/// complete or not at all.
pub fn create_master_key(path: &Path, master_key: &MasterKeyFile) -> Result<(), VaultFileError> {
    let dir = parent_dir(path);
    match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            check_private(dir, Expected::Directory)?;
        }
        Err(source) => return Err(io_error(dir, source)),
    }
    if fs::symlink_metadata(path).is_ok() {
        return Err(VaultFileError::MasterKeyExists {
            path: path.to_owned(),
        });
    }
    let temporary = write_temporary(path, master_key.render().expose(), PRIVATE_FILE_MODE)?;
    // A hard link, unlike a rename, fails when the target appeared in the meantime.
    let linked = fs::hard_link(&temporary, path);
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => sync_dir(dir),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Err(VaultFileError::MasterKeyExists {
                path: path.to_owned(),
            })
        }
        Err(source) => Err(io_error(path, source)),
    }
}

/// Reads and parses the users or admins file at `path`; `None` when it does not exist.
pub fn read_credentials(
    path: &Path,
    kind: FileKind,
) -> Result<Option<CredentialsFile>, VaultFileError> {
    let text = match read_text(path, MAX_FILE_LEN) {
        Ok(text) => text,
        Err(VaultFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(other) => return Err(other),
    };
    CredentialsFile::parse(&text, kind)
        .map(Some)
        .map_err(|source| VaultFileError::Credentials {
            path: path.to_owned(),
            source,
        })
}

/// Replaces (or creates) the file at `path` with `contents`, atomically: a temporary file with
/// mode 0600 in the same directory is written, synced and renamed over `path`.
pub fn replace_atomically(path: &Path, contents: &[u8]) -> Result<(), VaultFileError> {
    let temporary = write_temporary(path, contents, PRIVATE_FILE_MODE)?;
    rename_into_place(&temporary, path)
}

/// Replaces the file at `path` with `contents` as [`replace_atomically`] does, keeping its
/// mode, owner and group; a file that does not exist yet is created with `new_mode`.
pub fn replace_keeping_mode(
    path: &Path,
    contents: &[u8],
    new_mode: u32,
) -> Result<(), VaultFileError> {
    let existing = match fs::metadata(path) {
        Ok(metadata) => Some(metadata),
        Err(source) if source.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(io_error(path, source)),
    };
    let mode = existing
        .as_ref()
        .map_or(new_mode, |metadata| metadata.mode() & 0o7777);
    let temporary = write_temporary(path, contents, mode)?;
    if let Some(metadata) = existing {
        let owner = (metadata.uid(), metadata.gid());
        let changed = fs::metadata(&temporary)
            .map(|written| (written.uid(), written.gid()) != owner)
            .unwrap_or(true);
        if changed {
            let chowned = std::os::unix::fs::chown(&temporary, Some(owner.0), Some(owner.1));
            if let Err(source) = chowned {
                let _ = fs::remove_file(&temporary);
                return Err(io_error(path, source));
            }
        }
    }
    rename_into_place(&temporary, path)
}

/// Renames `temporary` over `path` and makes it durable; removes `temporary` on failure.
fn rename_into_place(temporary: &Path, path: &Path) -> Result<(), VaultFileError> {
    if let Err(source) = fs::rename(temporary, path) {
        let _ = fs::remove_file(temporary);
        return Err(io_error(path, source));
    }
    sync_dir(parent_dir(path))
}

/// Reads the UTF-8 file at `path`, refusing it unread when it is over `limit` bytes.
pub fn read_text(path: &Path, limit: usize) -> Result<String, VaultFileError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut bytes = Vec::new();
    // One byte more than the limit tells "at the limit" from "over it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    if bytes.len() > limit {
        return Err(VaultFileError::TooLong {
            path: path.to_owned(),
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|_| VaultFileError::NotText {
        path: path.to_owned(),
    })
}

/// What a private path must be.
#[derive(Clone, Copy)]
enum Expected {
    /// A directory with mode 0700 or stricter.
    Directory,
    /// A regular file with mode 0600 or stricter.
    File,
}

/// Checks that `path` is what `expected` says, with no permission bits beyond its mode.
fn check_private(path: &Path, expected: Expected) -> Result<(), VaultFileError> {
    let metadata = fs::metadata(path).map_err(|source| io_error(path, source))?;
    let (right_type, wanted, name) = match expected {
        Expected::Directory => (metadata.is_dir(), PRIVATE_DIR_MODE, "directory"),
        Expected::File => (metadata.is_file(), PRIVATE_FILE_MODE, "regular file"),
    };
    if !right_type {
        return Err(VaultFileError::WrongType {
            path: path.to_owned(),
            expected: name,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o777 & !wanted != 0 {
        return Err(VaultFileError::LooseMode {
            path: path.to_owned(),
            mode,
            wanted,
        });
    }
    Ok(())
}

/// Writes `contents` to a new temporary file beside `path` with `mode`, synced to disk.
/// Returns its path; the caller renames or removes it.
fn write_temporary(path: &Path, contents: &[u8], mode: u32) -> Result<PathBuf, VaultFileError> {
    let temporary = temporary_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(|source| io_error(&temporary, source))?;
    // The umask may have taken bits away.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|source| io_error(&temporary, source))?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(source) = written {
        let _ = fs::remove_file(&temporary);
        return Err(io_error(&temporary, source));
    }
    Ok(temporary)
}

/// `<dir>/.<name>.tmp-<pid>` for `path` = `<dir>/<name>`.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    parent_dir(path).join(name)
}

/// The directory of `path`, `.` for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes a rename or link in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), VaultFileError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io_error(dir, source))
}

/// An IO error with the path it concerns.
fn io_error(path: &Path, source: io::Error) -> VaultFileError {
    VaultFileError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use pgexporter_core::secret::Secret;

    /// A fresh empty directory under the system temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "pgexporter-vault-files-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o777
    }

    fn sample_key() -> MasterKeyFile {
        MasterKeyFile::new(Secret::from("master"), [4; 16]).unwrap()
    }

    #[test]
    fn master_key_is_created_private_and_never_overwritten() {
        let home = TempDir::new();
        let path = master_key_path(&home.0);
        create_master_key(&path, &sample_key()).unwrap();
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(read_master_key(&path).unwrap(), sample_key());

        let other = MasterKeyFile::new(Secret::from("other"), [5; 16]).unwrap();
        assert!(matches!(
            create_master_key(&path, &other),
            Err(VaultFileError::MasterKeyExists { .. })
        ));
        assert_eq!(read_master_key(&path).unwrap(), sample_key());
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn loose_modes_are_refused_with_the_fix() {
        let home = TempDir::new();
        let path = master_key_path(&home.0);
        create_master_key(&path, &sample_key()).unwrap();

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let message = read_master_key(&path).unwrap_err().to_string();
        assert!(
            message.contains(&format!("run `chmod 0600 {}`", path.display())),
            "{message}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read_master_key(&path).is_ok(), "stricter modes are fine");

        let dir = path.parent().unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let message = read_master_key(&path).unwrap_err().to_string();
        assert!(
            message.contains(&format!("run `chmod 0700 {}`", dir.display())),
            "{message}"
        );
        let other = MasterKeyFile::new(Secret::from("x"), [0; 16]).unwrap();
        let fresh = dir.join("second.key");
        assert!(matches!(
            create_master_key(&fresh, &other),
            Err(VaultFileError::LooseMode { .. })
        ));
    }

    #[test]
    fn a_missing_master_key_says_how_to_make_one() {
        let home = TempDir::new();
        let error = read_master_key(&master_key_path(&home.0)).unwrap_err();
        assert!(
            error.to_string().contains("pgexporter-admin master-key"),
            "{error}"
        );
    }

    #[test]
    fn replacement_is_complete_and_private() {
        let dir = TempDir::new();
        let path = dir.0.join("users.conf");
        assert!(read_credentials(&path, FileKind::Users).unwrap().is_none());
        replace_atomically(&path, b"# first\n").unwrap();
        replace_atomically(&path, b"# second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"# second\n");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
        let file = read_credentials(&path, FileKind::Users).unwrap().unwrap();
        assert_eq!(file.render(), "# second\n");
    }

    #[test]
    fn oversized_and_binary_files_are_refused_unread() {
        let dir = TempDir::new();
        let path = dir.0.join("big");
        fs::write(&path, vec![b'#'; 11]).unwrap();
        assert!(read_text(&path, 11).is_ok());
        assert!(matches!(
            read_text(&path, 10),
            Err(VaultFileError::TooLong { limit: 10, .. })
        ));
        fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text(&path, 10),
            Err(VaultFileError::NotText { .. })
        ));
    }
}
