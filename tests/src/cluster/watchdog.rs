//! A process that cleans a cluster up after the test process, however that process ends.
//!
//! The watchdog is `sh` reading its standard input, a pipe whose only writer is the test process
//! (the standard library opens it close-on-exec, so neither PostgreSQL nor any other child inherits
//! it). When the test process exits, even by a signal, the pipe reaches end-of-file and the
//! watchdog runs the stop command and removes the cluster directory. It runs in its own process
//! group, so a Ctrl-C aimed at the tests does not kill it before it has cleaned up.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Waits for end-of-file on stdin, runs its arguments as a command, then removes the directory
/// named by `$CLUSTER_DIR`.
const SCRIPT: &str = r#"cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf -- "$CLUSTER_DIR""#;

/// A running watchdog; dropping the test process's end of the pipe sets it off.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    /// Held open until the test process ends (or [`Watchdog::dismiss`]).
    _pipe: ChildStdin,
}

impl Watchdog {
    /// Starts a watchdog that will run `stop` and then remove `dir`.
    pub(crate) fn spawn(stop: Command, dir: &Path) -> Watchdog {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg("pgexporter-cluster-watchdog")
            .arg(stop.get_program())
            .args(stop.get_args())
            .env("CLUSTER_DIR", dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the cluster watchdog (sh): {e}"));
        let pipe = child.stdin.take().expect("stdin was requested as a pipe");
        Watchdog { child, _pipe: pipe }
    }

    /// Ends the watchdog without letting it act, for when the cluster was cleaned up already.
    pub(crate) fn dismiss(mut self) {
        // It may have exited already; either way, reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_the_pipe_runs_the_command_and_removes_the_directory() {
        let base = std::env::temp_dir().join(format!("pgexporter-watchdog-{}", std::process::id()));
        let dir = base.join("cluster");
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let marker = base.join("stopped");
        let mut stop = Command::new("touch");
        stop.arg(&marker);

        let Watchdog { mut child, _pipe } = Watchdog::spawn(stop, &dir);
        drop(_pipe);
        let status = child.wait().expect("wait for the watchdog");

        let stopped = marker.exists();
        let dir_left = dir.exists();
        std::fs::remove_dir_all(&base).expect("remove the test directory");
        assert!(status.success());
        assert!(stopped, "the stop command did not run");
        assert!(!dir_left, "the cluster directory is still there");
    }
}
