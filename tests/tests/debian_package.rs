//! The Debian package: `cargo deb` (installed by `cargo install cargo-deb`) packs the binaries
//! of the running test's profile, the unit files, the manual pages and completions
//! (`cargo run --example generate-docs -- target/docs`), the Grafana dashboard and the default
//! configuration; the test installs it with `dpkg -i` into a throwaway root and runs what it
//! installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pgexporter_tests::binaries::binary;

/// The workspace root, where `cargo deb` reads the package's assets.
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// What a command printed, after asserting that it succeeded.
fn run(command: &mut Command, what: &str) -> String {
    let output: Output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A fresh directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_package_installs_binaries_units_manual_pages_completions_and_configuration() {
    // Built by now, in target/<profile> of this test.
    let daemon = binary("pgexporter");
    let profile_dir = daemon.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(name) => name,
    };
    let target_dir = profile_dir.parent().unwrap();
    let scratch =
        Scratch(std::env::temp_dir().join(format!("pgexporter-deb-{}", std::process::id())));
    let _ = fs::remove_dir_all(&scratch.0);
    fs::create_dir_all(&scratch.0).unwrap();

    let docs = Path::new(WORKSPACE).join("target/docs");
    run(
        cargo()
            .current_dir(WORKSPACE)
            .args([
                "run",
                "-q",
                "-p",
                "pgexporter",
                "--example",
                "generate-docs",
            ])
            .args(["--profile", profile, "--target-dir"])
            .arg(target_dir)
            .arg("--")
            .arg(&docs),
        "cargo run --example generate-docs",
    );
    let deb_dir = scratch.0.join("deb");
    let built = run(
        cargo()
            .current_dir(WORKSPACE)
            .env("CARGO_TARGET_DIR", target_dir)
            .args([
                "deb",
                "--no-build",
                "-p",
                "pgexporter",
                "--profile",
                profile,
                "-o",
            ])
            .arg(&deb_dir),
        "cargo deb (install it with `cargo install cargo-deb`)",
    );
    let package = PathBuf::from(built.trim().lines().last().unwrap());
    assert!(package.is_file(), "{built}");

    let root = scratch.0.join("root");
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    // The throwaway root has no libc6 package: its dependency is the machine's.
    run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-depends", "--force-script-chrootless", "-i"])
            .arg(&package),
        "dpkg -i",
    );

    let version = run(
        Command::new(root.join("usr/bin/pgexporter")).arg("--version"),
        "the installed pgexporter --version",
    );
    assert_eq!(
        version.trim(),
        format!("pgexporter {}", env!("CARGO_PKG_VERSION"))
    );
    for program in ["pgexporter-cli", "pgexporter-admin", "pgexporter-config"] {
        let version = run(
            Command::new(root.join("usr/bin").join(program)).arg("--version"),
            program,
        );
        assert!(version.starts_with(program), "{version}");
    }
    let man_path = root.join("usr/share/man");
    for page in [
        "pgexporter",
        "pgexporter-cli",
        "pgexporter-admin",
        "pgexporter-config",
    ] {
        let found = run(
            Command::new("man")
                .env("MANPATH", &man_path)
                .args(["-w", page]),
            "man -w (Debian package man-db)",
        );
        assert_eq!(
            Path::new(found.trim()),
            man_path.join(format!("man1/{page}.1.gz"))
        );
    }
    let found = run(
        Command::new("man")
            .env("MANPATH", &man_path)
            .args(["-w", "5", "pgexporter.conf"]),
        "man -w 5 pgexporter.conf",
    );
    assert_eq!(
        Path::new(found.trim()),
        man_path.join("man5/pgexporter.conf.5.gz")
    );
    for installed in [
        "etc/pgexporter/pgexporter.conf",
        "usr/lib/systemd/system/pgexporter.service",
        "usr/lib/systemd/system/pgexporter.socket",
        "usr/lib/sysusers.d/pgexporter.conf",
        "usr/share/bash-completion/completions/pgexporter-config",
        "usr/share/zsh/vendor-completions/_pgexporter",
        "usr/share/fish/vendor_completions.d/pgexporter-cli.fish",
        "usr/share/pgexporter/grafana/pgexporter.json",
    ] {
        assert!(root.join(installed).is_file(), "{installed} not installed");
    }
    let conffiles =
        fs::read_to_string(root.join("var/lib/dpkg/info/pgexporter.conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/pgexporter/pgexporter.conf");
}

#[test]
fn the_unit_files_pass_systemd_analyze_verify() {
    let daemon = binary("pgexporter");
    let dir = std::env::temp_dir().join(format!("pgexporter-units-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let scratch = Scratch(dir);
    let units = Path::new(WORKSPACE).join("contrib/systemd");
    for unit in ["pgexporter.service", "pgexporter.socket"] {
        // The unit as installed, with the built daemon in place of /usr/bin/pgexporter.
        let text = fs::read_to_string(units.join(unit))
            .unwrap()
            .replace("/usr/bin/pgexporter", daemon.to_str().unwrap());
        fs::write(scratch.0.join(unit), text).unwrap();
    }
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(scratch.0.join("pgexporter.service"))
        .arg(scratch.0.join("pgexporter.socket"))
        .stdin(Stdio::null())
        .output()
        .expect("systemd-analyze runs (Debian package systemd)");
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}
