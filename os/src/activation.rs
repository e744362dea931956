//! Sockets passed by a service manager (systemd socket activation: `LISTEN_FDS`,
//! `LISTEN_PID`). They are taken from the environment once, at start, and then stand in for the
//! listeners the plan would bind: a passed TCP socket for the listener on its address, a passed
//! Unix stream socket for the management socket at its path.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use listenfd::ListenFd;

/// The sockets passed at start and not yet used by a listener.
#[derive(Debug, Default)]
pub struct Passed {
    tcp: Vec<TcpListener>,
    unix: Vec<UnixListener>,
}

static PASSED: Mutex<Passed> = Mutex::new(Passed {
    tcp: Vec::new(),
    unix: Vec::new(),
});

/// Takes the sockets a service manager passed to this process, and returns how many. Call it
/// at the start of `main`, before any thread exists: it removes `LISTEN_FDS` and `LISTEN_PID`
/// from the environment, so no child process takes them again.
///
/// # Errors
/// When a passed descriptor is neither a TCP nor a Unix stream socket; the error names it.
pub fn take_from_env() -> io::Result<usize> {
    let mut fds = ListenFd::from_env();
    let mut passed = lock();
    for index in 0..fds.len() {
        if let Ok(Some(listener)) = fds.take_tcp_listener(index) {
            passed.tcp.push(listener);
        } else if let Ok(Some(listener)) = fds.take_unix_listener(index) {
            passed.unix.push(listener);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket activation: descriptor {} is neither a TCP nor a Unix stream socket",
                    index + 3
                ),
            ));
        }
    }
    Ok(fds.len())
}

fn lock() -> MutexGuard<'static, Passed> {
    // The list stays consistent whatever a panicking holder did: items are only moved out.
    PASSED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The passed TCP socket listening on `address`, if any (taken: a second call gives `None`).
/// A wildcard address matches a passed wildcard socket of the same port, IPv4 or IPv6, since
/// `*` binds either.
pub fn take_tcp(address: SocketAddr) -> Option<TcpListener> {
    lock().take_tcp(address)
}

/// The passed Unix stream socket bound at `path`, if any (taken).
pub fn take_unix(path: &Path) -> Option<UnixListener> {
    lock().take_unix(path)
}

/// The addresses of the passed TCP sockets that no listener took; they are closed.
pub fn drop_unused_tcp() -> Vec<String> {
    std::mem::take(&mut lock().tcp)
        .iter()
        .map(|listener| match listener.local_addr() {
            Ok(address) => address.to_string(),
            Err(error) => format!("a TCP socket ({error})"),
        })
        .collect()
}

/// The paths of the passed Unix sockets that the management socket did not take; they are
/// closed.
pub fn drop_unused_unix() -> Vec<String> {
    std::mem::take(&mut lock().unix)
        .iter()
        .map(|listener| match listener.local_addr() {
            Ok(address) => match address.as_pathname() {
                Some(path) => path.display().to_string(),
                None => "an unnamed Unix socket".to_owned(),
            },
            Err(error) => format!("a Unix socket ({error})"),
        })
        .collect()
}

impl Passed {
    fn take_tcp(&mut self, address: SocketAddr) -> Option<TcpListener> {
        let position = self.tcp.iter().position(|listener| {
            listener
                .local_addr()
                .is_ok_and(|bound| same_listen_address(bound, address))
        })?;
        Some(self.tcp.swap_remove(position))
    }

    fn take_unix(&mut self, path: &Path) -> Option<UnixListener> {
        let position = self.unix.iter().position(|listener| {
            listener
                .local_addr()
                .ok()
                .and_then(|address| address.as_pathname().map(|bound| bound == path))
                .unwrap_or(false)
        })?;
        Some(self.unix.swap_remove(position))
    }
}

/// Whether a socket bound at `bound` serves what the plan would bind at `wanted`.
fn same_listen_address(bound: SocketAddr, wanted: SocketAddr) -> bool {
    bound == wanted
        || (bound.port() == wanted.port()
            && bound.ip().is_unspecified()
            && wanted.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_sockets_match_by_address_and_wildcards_by_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut passed = Passed {
            tcp: vec![listener],
            unix: Vec::new(),
        };
        let other_port = SocketAddr::from(([127, 0, 0, 1], address.port().wrapping_add(1)));
        assert!(passed.take_tcp(other_port).is_none());
        assert!(passed.take_tcp(address).is_some());
        assert!(passed.take_tcp(address).is_none(), "taken once");

        let v4: SocketAddr = "0.0.0.0:5002".parse().unwrap();
        let v6: SocketAddr = "[::]:5002".parse().unwrap();
        assert!(same_listen_address(v4, v6));
        assert!(!same_listen_address(v4, "[::]:5003".parse().unwrap()));
        assert!(!same_listen_address("127.0.0.1:5002".parse().unwrap(), v6));
    }

    #[test]
    fn unix_sockets_match_by_path() {
        let dir =
            std::env::temp_dir().join(format!("pgexporter-activation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".s.pgexporter");
        let _ = std::fs::remove_file(&path);
        let mut passed = Passed {
            tcp: Vec::new(),
            unix: vec![UnixListener::bind(&path).unwrap()],
        };
        assert!(passed.take_unix(&dir.join("other")).is_none());
        assert!(passed.take_unix(&dir.join("./.s.pgexporter")).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
