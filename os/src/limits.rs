//! The process's limit on open files: every connection held costs a descriptor, so the daemon
//! raises its soft limit to the hard limit at start instead of running out at the common
//! default of 1,024.

use std::io;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The soft limit on open files before and after [`raise_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now: the hard limit.
    pub now: u64,
}

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit.
///
/// # Errors
/// When the limits cannot be read or set.
pub fn raise_open_files() -> io::Result<OpenFiles> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (now, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(OpenFiles { before: soft, now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        let raised = raise_open_files().unwrap();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((raised.now, soft), (hard, hard));
        assert!(raised.before <= raised.now);
    }
}
