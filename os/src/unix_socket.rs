//! The management socket file: created fresh, owner-only, removed at exit; or the socket a
//! service manager passed for its path, which stays the service manager's.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::activation;

/// A bound management socket; dropping it removes the file unless the service manager made it.
#[derive(Debug)]
pub struct SocketFile {
    listener: Option<UnixListener>,
    path: PathBuf,
    /// Passed by the service manager, which removes the file itself.
    activated: bool,
}

impl SocketFile {
    /// Binds `path` with mode 0600. A file left behind by a daemon that died is replaced; a
    /// socket that another process still answers on is not. A Unix socket the service manager
    /// passed ([`activation`]) for `path` is used as it is; passed Unix sockets for other paths
    /// are closed with a warning.
    ///
    /// # Errors
    /// When another daemon answers on `path`, or the socket cannot be bound; the error names
    /// the path.
    pub fn bind(path: &Path) -> io::Result<SocketFile> {
        let passed = activation::take_unix(path);
        for unused in activation::drop_unused_unix() {
            tracing::warn!(
                "socket activation: {unused} is not the management socket {}; it is closed",
                path.display()
            );
        }
        if let Some(listener) = passed {
            return Ok(SocketFile {
                listener: Some(listener),
                path: path.to_owned(),
                activated: true,
            });
        }
        let named =
            |error: io::Error| io::Error::new(error.kind(), format!("{}: {error}", path.display()));
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(named(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another pgexporter is serving on this socket",
                )));
            }
            fs::remove_file(path).map_err(named)?;
        }
        let listener = UnixListener::bind(path).map_err(named)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(named)?;
        Ok(SocketFile {
            listener: Some(listener),
            path: path.to_owned(),
            activated: false,
        })
    }

    /// The listener, for the runtime to accept on (once; later calls give `None`). The file
    /// stays until this value is dropped.
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if !self.activated {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pgexporter-sock-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(".s.pgexporter")
    }

    #[test]
    fn owner_only_and_removed_on_drop() {
        let path = scratch("mode");
        let socket = SocketFile::bind(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_file_is_replaced_and_a_live_socket_is_not() {
        let path = scratch("stale");
        fs::write(&path, b"left behind").unwrap();
        let mut live = SocketFile::bind(&path).unwrap();
        let error = SocketFile::bind(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains(".s.pgexporter"));
        // The first is still serving.
        let listener = live.take_listener().unwrap();
        UnixStream::connect(&path).unwrap();
        listener.accept().unwrap();
    }
}
