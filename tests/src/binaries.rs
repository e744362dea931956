//! Locating the pgexporter binaries that the end-to-end tests run.

use std::path::PathBuf;

/// The environment variable that points the tests at another build of the binaries, for example
/// one made with `--no-default-features --features runtime-smol` into its own target directory.
pub const BIN_DIR_ENV: &str = "PGEXPORTER_BIN_DIR";

/// Path of the built binary `name` (`pgexporter`, `pgexporter-cli`, `pgexporter-admin`).
///
/// Looks in `$PGEXPORTER_BIN_DIR` when set, else in the profile directory of the running test
/// executable (`target/debug`). Panics with instructions when the binary is not there, so a test
/// never runs against a stale or missing build silently.
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("the path of the running test executable");
            // target/<profile>/deps/<test> -> target/<profile>
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("test executables live in target/<profile>/deps")
                .to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --bins` (scripts/test.sh does), \
         or point {BIN_DIR_ENV} at the directory that holds them",
        path.display()
    );
    path
}
