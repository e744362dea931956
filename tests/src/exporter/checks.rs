//! Assertions on the output of the binaries and on exposition bodies.

use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use super::START_TIMEOUT;

/// The standard output of a run that must have succeeded; panics with both streams otherwise.
pub fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed with {:?}: {}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The exit code and standard error of a run that must have failed.
pub fn failed(output: &Output) -> (i32, String) {
    let code = output.status.code().expect("exited normally");
    assert_ne!(
        code,
        0,
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8(output.stderr.clone()).expect("UTF-8 output");
    (code, stderr)
}

/// The value of the unlabelled sample `name` in an exposition body.
pub fn sample_value(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Polls `condition` until it holds; panics naming `what` after a generous bound. For effects
/// of signals, which arrive asynchronously.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < START_TIMEOUT, "never happened: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}
