//! `encrypt FILE [OUT]` and `decrypt FILE [OUT]`: local files under the master key, no socket.
//!
//! The encrypted file is one line of base64 text: the AES-256-GCM blob of SPEC §3
//! (`salt ‖ iv ‖ ciphertext ‖ tag`, the key derived from the master key and the salt), followed
//! by a newline. Neither command overwrites an existing output file, and both create it with
//! mode 0600 (a decrypted file is usually a secret).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pgexporter_core::management::{Command, Document, ErrorCode, Header, Object, Outcome};
use pgexporter_core::vault::blob::{self, IV_LEN, MAX_PLAINTEXT_LEN, SALT_LEN};
use pgexporter_core::vault::{BlobError, Cipher, MasterKey};

use super::request::FrameSettings;

/// The extension `encrypt` adds and `decrypt` removes.
pub const EXTENSION: &str = "aes";
/// `Request` member naming the input file.
pub const SOURCE_FILE: &str = "SourceFile";
/// `Request` and `Response` member naming the output file.
pub const DESTINATION_FILE: &str = "DestinationFile";
/// Mode of every file written.
const FILE_MODE: u32 = 0o600;

/// Which way a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Plaintext in, base64 blob out.
    Encrypt,
    /// Base64 blob in, plaintext out.
    Decrypt,
}

impl Direction {
    /// The command number of the printed document (16 or 17).
    pub fn command(self) -> Command {
        match self {
            Direction::Encrypt => Command::Encrypt,
            Direction::Decrypt => Command::Decrypt,
        }
    }
}

/// One `encrypt` or `decrypt` as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileJob {
    /// Which way.
    pub direction: Direction,
    /// FILE.
    pub source: PathBuf,
    /// OUT when given.
    pub destination: Option<PathBuf>,
}

/// Why a file job failed. Never contains file contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The output file exists.
    #[error("{} exists and is not overwritten", .0.display())]
    Exists(PathBuf),
    /// `decrypt FILE` without OUT, and FILE does not end in `.aes`.
    #[error("{} does not end in .{EXTENSION}: name the output file", .0.display())]
    NoDefaultDestination(PathBuf),
    /// The input file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The input file is larger than anything the blob format holds.
    #[error("{} is over the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The largest accepted size.
        limit: usize,
    },
    /// The file to decrypt is not text.
    #[error("{} is not base64 text", .0.display())]
    NotText(PathBuf),
    /// The file does not decrypt (wrong master key, altered, or not an encrypted file).
    #[error("{}: {source}", path.display())]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: BlobError,
    },
    /// The output file could not be written; nothing is left behind.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The operating system gave no random bytes for the salt and IV.
    #[error("no random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

impl FileJob {
    /// A job on `source`, writing `destination` when given, else the default name.
    pub fn new(direction: Direction, source: PathBuf, destination: Option<PathBuf>) -> FileJob {
        FileJob {
            direction,
            source,
            destination,
        }
    }

    /// Where the output goes: OUT, else FILE with `.aes` added (encrypt) or removed (decrypt).
    pub fn destination(&self) -> Result<PathBuf, FileError> {
        if let Some(path) = &self.destination {
            return Ok(path.clone());
        }
        match self.direction {
            Direction::Encrypt => {
                let mut name = self.source.clone().into_os_string();
                name.push(".");
                name.push(EXTENSION);
                Ok(PathBuf::from(name))
            }
            Direction::Decrypt => match self.source.extension() {
                Some(extension) if extension == EXTENSION => Ok(self.source.with_extension("")),
                _ => Err(FileError::NoDefaultDestination(self.source.clone())),
            },
        }
    }

    /// Fails when the output file already exists; checked before the (slow) master key is
    /// derived. [`FileJob::run`] checks again when it creates the file.
    pub fn check_destination(&self) -> Result<PathBuf, FileError> {
        let destination = self.destination()?;
        if fs::symlink_metadata(&destination).is_ok() {
            return Err(FileError::Exists(destination));
        }
        Ok(destination)
    }

    /// Encrypts or decrypts the file with `master_key`; returns the output path.
    pub fn run(&self, master_key: &MasterKey) -> Result<PathBuf, FileError> {
        let destination = self.check_destination()?;
        let output = match self.direction {
            Direction::Encrypt => self.encrypt(master_key)?,
            Direction::Decrypt => self.decrypt(master_key)?,
        };
        write_new(&destination, &output)?;
        Ok(destination)
    }

    /// The document printed for the job, stamped `timestamp`: `written` is the output file
    /// when the job succeeded, `None` when it failed; `elapsed` is the time it took. A failure
    /// carries error 1107 (the message goes to standard error).
    pub fn document(
        &self,
        written: Option<&Path>,
        settings: FrameSettings,
        timestamp: &str,
        elapsed: Duration,
    ) -> Document {
        let mut arguments = Object::new();
        arguments.insert(SOURCE_FILE.to_owned(), path_text(&self.source).into());
        if let Some(destination) = &self.destination {
            arguments.insert(DESTINATION_FILE.to_owned(), path_text(destination).into());
        }
        let header = Header::new(self.direction.command(), settings.output, timestamp);
        let mut document = Document::request(header, arguments);
        match written {
            Some(destination) => {
                let mut response = Object::new();
                response.insert(DESTINATION_FILE.to_owned(), path_text(destination).into());
                document.response = Some(response);
                document.outcome = Some(Outcome::success(elapsed));
            }
            None => document.outcome = Some(Outcome::failure(ErrorCode::ConfSetError)),
        }
        document
    }

    fn encrypt(&self, master_key: &MasterKey) -> Result<Vec<u8>, FileError> {
        let plaintext = read_bounded(&self.source, MAX_PLAINTEXT_LEN)?;
        let mut salt = [0u8; SALT_LEN];
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut salt).map_err(FileError::Random)?;
        getrandom::fill(&mut iv).map_err(FileError::Random)?;
        let text =
            pgexporter_core::vault::encrypt(master_key, &plaintext, salt, iv, Cipher::Aes256)
                .map_err(|_| FileError::TooLarge {
                    path: self.source.clone(),
                    limit: MAX_PLAINTEXT_LEN,
                })?;
        let mut output = text.into_bytes();
        output.push(b'\n');
        Ok(output)
    }

    fn decrypt(&self, master_key: &MasterKey) -> Result<Vec<u8>, FileError> {
        // Room for a line end after the longest blob.
        let bytes = read_bounded(&self.source, blob::max_encoded_len() + 2)?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| FileError::NotText(self.source.clone()))?;
        let plaintext =
            pgexporter_core::vault::decrypt(master_key, text.trim_end(), Cipher::Aes256).map_err(
                |source| FileError::Decrypt {
                    path: self.source.clone(),
                    source,
                },
            )?;
        Ok(plaintext.expose().to_vec())
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Reads the file at `path`, refusing it when it is over `limit` bytes.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, FileError> {
    let read_error = |source| FileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    // One byte over the limit tells "at the limit" from "over it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() > limit {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Creates `path` (which must not exist) with mode 0600 and writes `contents`; removes it
/// again when the write fails.
fn write_new(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => FileError::Exists(path.to_owned()),
            _ => FileError::Write {
                path: path.to_owned(),
                source,
            },
        })?;
    if let Err(source) = file.write_all(contents).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(path);
        return Err(FileError::Write {
            path: path.to_owned(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::TempDir;
    use pgexporter_core::management::Output;
    use pgexporter_core::management::{Compression, Encryption};
    use std::os::unix::fs::PermissionsExt;

    const SETTINGS: FrameSettings = FrameSettings {
        output: Output::Json,
        compression: Compression::None,
        encryption: Encryption::None,
    };

    #[test]
    fn default_destinations() {
        let encrypt = FileJob::new(Direction::Encrypt, "dir/a.conf".into(), None);
        assert_eq!(
            encrypt.destination().unwrap(),
            PathBuf::from("dir/a.conf.aes")
        );
        let decrypt = FileJob::new(Direction::Decrypt, "dir/a.conf.aes".into(), None);
        assert_eq!(decrypt.destination().unwrap(), PathBuf::from("dir/a.conf"));
        let named = FileJob::new(Direction::Decrypt, "x".into(), Some("y".into()));
        assert_eq!(named.destination().unwrap(), PathBuf::from("y"));
        let unnamed = FileJob::new(Direction::Decrypt, "dir/a.conf".into(), None);
        assert!(matches!(
            unnamed.destination(),
            Err(FileError::NoDefaultDestination(_))
        ));
    }

    #[test]
    fn encrypt_then_decrypt_gives_the_file_back() {
        let dir = TempDir::new("files");
        let key = MasterKey::from_bytes([9; 64]);
        let source = dir.path().join("secret.txt");
        let contents = b"line one\nbinary \x00\xff\n".to_vec();
        fs::write(&source, &contents).unwrap();

        let encrypted = FileJob::new(Direction::Encrypt, source.clone(), None)
            .run(&key)
            .unwrap();
        assert_eq!(encrypted, dir.path().join("secret.txt.aes"));
        let text = fs::read_to_string(&encrypted).unwrap();
        assert!(text.ends_with('\n'));
        let blob_text = text.trim_end();
        assert_eq!(blob_text.len(), blob::encoded_len(contents.len()));
        assert_eq!(
            pgexporter_core::vault::decrypt(&key, blob_text, Cipher::Aes256)
                .unwrap()
                .expose(),
            &contents[..]
        );
        let mode = fs::metadata(&encrypted).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let restored = dir.path().join("restored.txt");
        let written = FileJob::new(Direction::Decrypt, encrypted, Some(restored.clone()))
            .run(&key)
            .unwrap();
        assert_eq!(written, restored);
        assert_eq!(fs::read(&restored).unwrap(), contents);
    }

    #[test]
    fn an_existing_output_is_never_overwritten() {
        let dir = TempDir::new("files-exists");
        let key = MasterKey::from_bytes([9; 64]);
        let source = dir.path().join("a.txt");
        let destination = dir.path().join("a.txt.aes");
        fs::write(&source, "plain").unwrap();
        fs::write(&destination, "keep me").unwrap();
        let job = FileJob::new(Direction::Encrypt, source, None);
        assert!(matches!(job.check_destination(), Err(FileError::Exists(p)) if p == destination));
        assert!(matches!(job.run(&key), Err(FileError::Exists(_))));
        assert_eq!(fs::read_to_string(&destination).unwrap(), "keep me");
    }

    #[test]
    fn a_wrong_key_or_garbage_does_not_decrypt() {
        let dir = TempDir::new("files-wrong");
        let source = dir.path().join("a.txt");
        fs::write(&source, "plain").unwrap();
        let encrypted = FileJob::new(Direction::Encrypt, source, None)
            .run(&MasterKey::from_bytes([1; 64]))
            .unwrap();
        let out = dir.path().join("out");
        let job = FileJob::new(Direction::Decrypt, encrypted, Some(out.clone()));
        let error = job.run(&MasterKey::from_bytes([2; 64])).unwrap_err();
        assert!(
            matches!(
                error,
                FileError::Decrypt {
                    source: BlobError::Authentication,
                    ..
                }
            ),
            "{error}"
        );
        assert!(!out.exists(), "nothing is written on failure");
        let garbage = dir.path().join("garbage.aes");
        fs::write(&garbage, "not base64 at all!").unwrap();
        let error = FileJob::new(Direction::Decrypt, garbage, None)
            .run(&MasterKey::from_bytes([2; 64]))
            .unwrap_err();
        assert!(matches!(error, FileError::Decrypt { .. }), "{error}");
        let missing = FileJob::new(Direction::Encrypt, dir.path().join("missing"), None)
            .run(&MasterKey::from_bytes([2; 64]))
            .unwrap_err();
        assert!(matches!(missing, FileError::Read { .. }), "{missing}");
    }

    #[test]
    fn documents_of_success_and_failure() {
        let job = FileJob::new(Direction::Encrypt, "a.txt".into(), None);
        let ok = job.document(
            Some(Path::new("a.txt.aes")),
            SETTINGS,
            "20261124235707",
            Duration::from_secs(1),
        );
        assert_eq!(
            String::from_utf8(ok.to_json()).unwrap(),
            r#"{"Header":{"ClientVersion":"0.9.0","Command":16,"Compression":0,"Encryption":0,"Output":1,"Timestamp":"20261124235707"},"Outcome":{"Status":true,"Time":"00:00:01"},"Request":{"SourceFile":"a.txt"},"Response":{"DestinationFile":"a.txt.aes"}}"#
        );
        let job = FileJob::new(Direction::Decrypt, "a".into(), Some("b".into()));
        let failed = job.document(None, SETTINGS, "20261124235707", Duration::ZERO);
        assert_eq!(failed.header.command, 17);
        assert_eq!(failed.outcome, Some(Outcome::Failure { error: 1107 }));
        assert_eq!(failed.response, None);
        assert_eq!(failed.request_text(DESTINATION_FILE), Some("b"));
    }
}
