//! Locating the pgexporter binaries that the end-to-end tests run, building them when needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The environment variable that points the tests at another build of the binaries, for example
/// one made with `--no-default-features --features runtime-smol` into its own target directory.
pub const BIN_DIR_ENV: &str = "PGEXPORTER_BIN_DIR";

/// The workspace's manifest, whose root package owns the binaries.
const WORKSPACE_MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");

/// Path of the built binary `name` (`pgexporter`, `pgexporter-cli`, `pgexporter-admin`,
/// `pgexporter-config`).
///
/// With `$PGEXPORTER_BIN_DIR` set, the binary must be in that directory. Otherwise the binaries
/// of the root package are built once per test process with the running test's profile, in
/// its target directory (`cargo build --bins`, the progress on standard error; a no-op when they
/// are up to date), so a test never runs a stale or missing build. Panics with what went wrong
/// when the binary is not there or the build fails.
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => built_dir().clone(),
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: point {BIN_DIR_ENV} at the directory that holds the binaries",
        path.display()
    );
    path
}

/// The profile directory holding the root package's binaries, built on the first call.
fn built_dir() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the path of the running test executable");
        let profile_dir = profile_dir(&exe);
        build_binaries(&profile_dir);
        profile_dir
    })
}

/// `target/<profile>` of a test executable at `target/<profile>/deps/<test>` (or of an
/// example at `target/<profile>/examples/<name>`).
fn profile_dir(exe: &Path) -> PathBuf {
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// The arguments that build the root package's binaries into `profile_dir`
/// (`<target dir>/<profile>`, `debug` standing for the `dev` profile).
fn build_arguments(profile_dir: &Path) -> Vec<String> {
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(name) => name,
    };
    let target_dir = profile_dir
        .parent()
        .expect("a profile directory has a parent");
    vec![
        "build".into(),
        "--bins".into(),
        "--package".into(),
        "pgexporter".into(),
        "--manifest-path".into(),
        WORKSPACE_MANIFEST.into(),
        "--profile".into(),
        profile.into(),
        "--target-dir".into(),
        target_dir.display().to_string(),
    ]
}

/// Runs `cargo build --bins` for the root package into `profile_dir`; panics when it fails.
fn build_binaries(profile_dir: &Path) {
    // Cargo sets CARGO for the programs it runs; a test run by hand falls back to the one
    // that built it, then to the PATH.
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(build_arguments(profile_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} to build the binaries: {error}",
                Path::new(&cargo).display()
            )
        });
    assert!(
        status.success(),
        "building the binaries failed ({status}); see cargo's output above"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_profile_and_target_directory_are_kept() {
        let args = build_arguments(Path::new("/w/target/debug"));
        let profile = args.iter().position(|arg| arg == "--profile").unwrap();
        assert_eq!(args[profile + 1], "dev");
        let target = args.iter().position(|arg| arg == "--target-dir").unwrap();
        assert_eq!(args[target + 1], "/w/target");
        let args = build_arguments(Path::new("/w/target/release"));
        assert!(args.windows(2).any(|pair| pair == ["--profile", "release"]));
        assert_eq!(
            profile_dir(Path::new("/w/target/debug/deps/exporter-0123")),
            Path::new("/w/target/debug")
        );
    }
}
