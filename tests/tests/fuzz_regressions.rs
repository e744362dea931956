//! Replays saved fuzz inputs on stable Rust, through the same entry points the fuzz targets
//! call ([`pgexporter_tests::fuzz_entry`]).
//!
//! Two folders per target are replayed:
//! - `fuzz/regressions/<target>/`: inputs that once made the target crash, hang or exhaust
//!   memory, kept after the fix. A target the fuzzer never broke has no such folder.
//! - `fuzz/corpus-seeds/<target>/`: the seed corpus. It is replayed too, so that this test
//!   exercises every target even when no regression exists; every target must have seeds.
//!
//! A failing input is reported by its path; replay it in the fuzzer with
//! `cargo +nightly fuzz run <target> <path>` from `fuzz/`.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use pgexporter_tests::fuzz_entry::{Entry, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files directly inside `dir`, sorted; none when `dir` does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `entry` on every file; returns the paths of the ones that panicked.
fn replay(entry: Entry, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("a readable fuzz input");
            panic::catch_unwind(|| entry(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect()
}

#[test]
fn every_target_has_seeds() {
    let missing: Vec<&str> = TARGETS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| inputs(&fuzz_dir().join("corpus-seeds").join(name)).is_empty())
        .collect();
    assert!(
        missing.is_empty(),
        "targets without seeds in fuzz/corpus-seeds: {missing:?}"
    );
}

#[test]
fn regressions_and_seeds_replay_without_panics() {
    let mut failures = Vec::new();
    for (name, entry) in TARGETS {
        for folder in ["regressions", "corpus-seeds"] {
            failures.extend(replay(*entry, &inputs(&fuzz_dir().join(folder).join(name))));
        }
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}

#[test]
fn regression_folders_name_known_targets() {
    let unknown: Vec<String> = fs::read_dir(fuzz_dir().join("regressions"))
        .into_iter()
        .flatten()
        .map(|entry| entry.expect("a readable directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| TARGETS.iter().all(|(target, _)| target != name))
        .collect();
    assert!(
        unknown.is_empty(),
        "regression folders of no target: {unknown:?}"
    );
}
