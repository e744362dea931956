//! Process chores of the daemon: going to the background (`-d`) and the pidfile.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Detaches from the terminal: forks (the parent exits 0), starts a new session and points
/// standard input, output and error at `/dev/null`. The working directory is kept, so
/// relative paths in the configuration still resolve. Call before any thread starts.
///
/// # Errors
/// When the fork or the new session fails.
pub fn daemonize() -> io::Result<()> {
    nix::unistd::daemon(true, false).map_err(io::Error::from)
}

/// The pidfile, removed when dropped.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes this process's id to `path` (mode 0644). A file left by a process that is gone is
    /// replaced; one naming a live process is not.
    ///
    /// # Errors
    /// When another live process holds the pidfile, or it cannot be written; the message names
    /// the path.
    pub fn create(path: &Path) -> Result<Pidfile, String> {
        let named = |error: io::Error| format!("pidfile {}: {error}", path.display());
        if let Ok(text) = fs::read_to_string(path) {
            let holder = text.trim().parse::<i32>().ok().filter(|pid| *pid > 0);
            if let Some(pid) = holder
                && pid != std::process::id() as i32
                && kill(Pid::from_raw(pid), None).is_ok()
            {
                return Err(format!(
                    "pidfile {}: process {pid} is running",
                    path.display()
                ));
            }
            fs::remove_file(path).map_err(named)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(named)?;
        writeln!(file, "{}", std::process::id()).map_err(named)?;
        Ok(Pidfile {
            path: path.to_owned(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_replaced_when_stale_refused_when_live_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgexporter.pid");
        // A pid that cannot exist (above the kernel's limit).
        fs::write(&path, "999999999\n").unwrap();
        let pidfile = Pidfile::create(&path).unwrap();
        let written = fs::read_to_string(&path).unwrap();
        assert_eq!(written, format!("{}\n", std::process::id()));
        // A live process (the parent of this test) holds it.
        fs::remove_file(&path).unwrap();
        let parent = nix::unistd::getppid();
        fs::write(&path, format!("{parent}\n")).unwrap();
        let error = Pidfile::create(&path).unwrap_err();
        assert!(error.contains("is running"), "{error}");
        fs::write(&path, written).unwrap();
        drop(pidfile);
        assert!(!path.exists());
    }
}
