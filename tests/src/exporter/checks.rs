//! Assertions on the output of the binaries and on exposition bodies.

use std::collections::BTreeMap;
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

/// The labelled samples of `family` in an exposition body: the label text between the braces
/// and the value.
pub fn labelled_samples(body: &str, family: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{");
    body.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let (labels, value) = rest.split_once("} ").expect("a sample line");
            (labels.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// The rows of a `/history/<metric>` answer grouped by snapshot time: for each, the label
/// text and value of every row.
pub fn history_snapshots(rows: &[serde_json::Value]) -> BTreeMap<i64, BTreeMap<String, f64>> {
    let mut snapshots: BTreeMap<i64, BTreeMap<String, f64>> = BTreeMap::new();
    for row in rows {
        let timestamp = row["timestamp"].as_i64().expect("an integer timestamp");
        let labels = row["labels"].as_str().expect("labels as text").to_owned();
        let value = row["value"].as_f64().expect("a number");
        snapshots
            .entry(timestamp)
            .or_default()
            .insert(labels, value);
    }
    snapshots
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
