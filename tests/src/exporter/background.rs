//! A daemon started with `-d`, which is not a child of the tests.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::START_TIMEOUT;

/// A daemon that went to the background (`-d`), known by the pid in its pidfile; killed on
/// drop when still running.
#[derive(Debug)]
pub struct BackgroundDaemon {
    pid: Pid,
}

impl BackgroundDaemon {
    /// Waits until `pidfile` holds a pid (panics after a generous bound).
    pub fn from_pidfile(pidfile: &Path) -> BackgroundDaemon {
        let started = Instant::now();
        loop {
            let pid = fs::read_to_string(pidfile)
                .ok()
                .and_then(|text| text.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                return BackgroundDaemon {
                    pid: Pid::from_raw(pid),
                };
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "no pid in {}",
                pidfile.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid, signal).unwrap();
    }

    /// Whether the process still runs (a zombie waiting for its reaper does not).
    pub fn is_running(&self) -> bool {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        matches!(state, Some(state) if state != 'Z' && state != 'X')
    }

    /// Waits (up to a generous bound, then panics) until the process is gone.
    pub fn wait_until_gone(&self) {
        let started = Instant::now();
        while self.is_running() {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "pgexporter {} did not exit",
                self.pid
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BackgroundDaemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}
