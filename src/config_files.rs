//! Reading the configuration files from disk: `pgexporter.conf` (INI, or TOML when the name
//! ends in `.toml`) and checking the users and admins files that go with it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pgexporter_core::config::{ConfigError, Loaded, load_ini, load_toml};
use thiserror::Error;

/// The largest configuration file read, in bytes; a bigger file is refused before it is read
/// whole.
pub const MAX_CONFIG_FILE_SIZE: u64 = 4 << 20;

/// Why a configuration file could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file was named explicitly, or is needed, and does not exist.
    #[error("{0}: file not found")]
    NotFound(PathBuf),
    /// The file exists but could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_FILE_SIZE`].
    #[error("{0}: larger than {MAX_CONFIG_FILE_SIZE} bytes")]
    TooLarge(PathBuf),
    /// The file is not UTF-8 text.
    #[error("{0}: not UTF-8 text")]
    NotText(PathBuf),
    /// The contents are not a valid configuration; the error names file, line and key.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

fn read_error(path: &Path, source: io::Error) -> ConfigFileError {
    if source.kind() == io::ErrorKind::NotFound {
        ConfigFileError::NotFound(path.to_owned())
    } else {
        ConfigFileError::Read {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads a whole text file of at most [`MAX_CONFIG_FILE_SIZE`] bytes.
pub fn read_text(path: &Path) -> Result<String, ConfigFileError> {
    let file = File::open(path).map_err(|err| read_error(path, err))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| read_error(path, err))?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_SIZE {
        return Err(ConfigFileError::TooLarge(path.to_owned()));
    }
    String::from_utf8(bytes).map_err(|_| ConfigFileError::NotText(path.to_owned()))
}

/// Whether `path` names a TOML configuration (extension `.toml`, any case).
pub fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

/// Parses configuration `text` read from `path`, as TOML when [`is_toml`] says so, else as
/// INI. `env` resolves `$VAR` in path keys.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigFileError> {
    let name = path.display().to_string();
    let loaded = if is_toml(path) {
        load_toml(text, &name, env)?
    } else {
        load_ini(text, &name, env)?
    };
    Ok(loaded)
}

/// The process environment, for `$VAR` expansion.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads and validates the configuration at `path` with the process environment. A missing
/// file is [`ConfigFileError::NotFound`] naming it.
pub fn load(path: &Path) -> Result<Loaded, ConfigFileError> {
    let text = read_text(path)?;
    parse(path, &text, &process_env)
}

/// Decides whether an optional file (users, admins) is used: an `explicit` path must exist;
/// a default path that does not exist means "no such file" (`Ok(None)`).
pub fn optional_file(path: &Path, explicit: bool) -> Result<Option<PathBuf>, ConfigFileError> {
    match path.try_exists() {
        Ok(true) => Ok(Some(path.to_owned())),
        Ok(false) if explicit => Err(ConfigFileError::NotFound(path.to_owned())),
        Ok(false) => Ok(None),
        Err(source) => Err(ConfigFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file in the temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(extension: &str, contents: &[u8]) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "pgexporter-config-files-{}-{}.{extension}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).expect("write a temporary file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const INI: &str = "[pgexporter]\nhost = *\nmetrics = 5002\nunix_socket_dir = /tmp/\n\
                       [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n";

    const TOML: &str = "[pgexporter]\nhost = \"*\"\nmetrics = 5002\nunix_socket_dir = \"/tmp/\"\n\
                        [servers.primary]\nhost = \"localhost\"\nport = 5432\nuser = \"pgexporter\"\n";

    #[test]
    fn loads_ini_and_toml_by_extension() {
        let ini = TempFile::new("conf", INI.as_bytes());
        let toml = TempFile::new("toml", TOML.as_bytes());
        let from_ini = load(&ini.0).unwrap();
        let from_toml = load(&toml.0).unwrap();
        assert_eq!(from_ini.config, from_toml.config);
        assert_eq!(from_ini.config.servers[0].name, "primary");
    }

    #[test]
    fn errors_name_the_file() {
        let bad = TempFile::new("conf", INI.replace("5002", "x").as_bytes());
        let err = load(&bad.0).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}:3: key 'metrics': invalid port 'x'",
                bad.0.display()
            )),
            "{err}"
        );
        let missing = std::env::temp_dir().join("pgexporter-config-files-missing.conf");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, ConfigFileError::NotFound(ref p) if *p == missing));
        assert_eq!(
            err.to_string(),
            format!("{}: file not found", missing.display())
        );
        let binary = TempFile::new("conf", &[0xff, 0xfe, b'\n']);
        assert!(matches!(load(&binary.0), Err(ConfigFileError::NotText(_))));
    }

    #[test]
    fn oversized_files_are_refused() {
        let size = usize::try_from(MAX_CONFIG_FILE_SIZE).unwrap() + 1;
        let big = TempFile::new("conf", &vec![b'#'; size]);
        assert!(matches!(load(&big.0), Err(ConfigFileError::TooLarge(_))));
    }

    #[test]
    fn path_keys_see_the_injected_environment() {
        let text = INI.replace("/tmp/", "$RUN_DIR/x");
        let env = |name: &str| (name == "RUN_DIR").then(|| "/run".to_owned());
        let loaded = parse(Path::new("a.conf"), &text, &env).unwrap();
        assert_eq!(loaded.config.main.unix_socket_dir, "/run/x");
    }

    #[test]
    fn optional_files() {
        let present = TempFile::new("conf", b"");
        let absent = std::env::temp_dir().join("pgexporter-config-files-absent.conf");
        assert_eq!(
            optional_file(&present.0, true).unwrap(),
            Some(present.0.clone())
        );
        assert_eq!(
            optional_file(&present.0, false).unwrap(),
            Some(present.0.clone())
        );
        assert_eq!(optional_file(&absent, false).unwrap(), None);
        assert!(matches!(
            optional_file(&absent, true),
            Err(ConfigFileError::NotFound(_))
        ));
    }
}
