//! End-to-end tests of `pgexporter-admin`: the built binary run with a temporary `HOME`.
//!
//! Build it first: `cargo build -j2 --bins`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{CredentialsFile, FileKind, MasterKey, MasterKeyFile};
use pgexporter_tests::binaries::binary;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/vault");
/// Every secret of the fixture files: none may ever appear in an output.
const FIXTURE_SECRETS: [&str; 5] = [
    "shared-fixture-master",
    "c2hhcmVkLWZpeHR1cmUtbWFzdGVy",
    "monitor-secret-1",
    "p@ss:w#rd",
    "admin-secret-1",
];

/// A temporary home directory, removed on drop.
struct Home(PathBuf);

impl Home {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pgexporter-admin-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Home(path)
    }

    /// A home holding the reference vault: `.pgexporter/master.key` (0700/0600) and the users
    /// and admins files.
    fn with_fixtures() -> Self {
        let home = Home::new();
        let dir = home.0.join(".pgexporter");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        for name in ["pgexporter_users.conf", "pgexporter_admins.conf"] {
            fs::copy(Path::new(FIXTURES).join(name), home.0.join(name)).unwrap();
        }
        home.write_master_key(&fixture("master.key"));
        home
    }

    fn master_key_path(&self) -> PathBuf {
        self.0.join(".pgexporter").join("master.key")
    }

    fn write_master_key(&self, text: &str) {
        let path = self.master_key_path();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn users(&self) -> PathBuf {
        self.0.join("pgexporter_users.conf")
    }

    fn admins(&self) -> PathBuf {
        self.0.join("pgexporter_admins.conf")
    }

    /// Runs the binary with this home, no terminal, and `password` in `PGEXPORTER_PASSWORD`.
    fn run(&self, args: &[&str], password: Option<&str>) -> Output {
        let mut command = Command::new(binary("pgexporter-admin"));
        command
            .args(args)
            .env("HOME", &self.0)
            .env_remove("PGEXPORTER_PASSWORD")
            .stdin(Stdio::null());
        if let Some(password) = password {
            command.env("PGEXPORTER_PASSWORD", password);
        }
        let output = command.output().expect("pgexporter-admin runs");
        assert_no_fixture_secrets(&output);
        output
    }

    /// Runs a command that must succeed and returns its standard output.
    fn ok(&self, args: &[&str], password: Option<&str>) -> String {
        let output = self.run(args, password);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command that must fail without changing any file, and returns its error message.
    fn fails(&self, args: &[&str], password: Option<&str>) -> String {
        let before = snapshot(&self.0);
        let output = self.run(args, password);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(snapshot(&self.0), before, "{args:?} changed a file");
        String::from_utf8(output.stderr).unwrap()
    }

    /// The master key of this home, derived the slow way.
    fn master_key(&self) -> MasterKey {
        MasterKeyFile::parse(&fs::read_to_string(self.master_key_path()).unwrap())
            .unwrap()
            .derive()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> String {
    fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file and directory under `root` with its mode and contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let metadata = fs::symlink_metadata(&path).unwrap();
            let contents = if metadata.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else {
                fs::read(&path).unwrap()
            };
            found.insert(path, (metadata.mode(), contents));
        }
    }
    found
}

fn assert_no_fixture_secrets(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for secret in FIXTURE_SECRETS {
            assert!(!text.contains(secret), "output shows a secret: {text}");
        }
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o777
}

/// The users of the file at `path` with their passwords, decrypted by the core.
fn decrypt_file(path: &Path, kind: FileKind, key: &MasterKey) -> Vec<(String, Secret)> {
    let file = CredentialsFile::parse(&fs::read_to_string(path).unwrap(), kind).unwrap();
    file.entries()
        .map(|entry| (entry.user.to_owned(), entry.decrypt(key).unwrap()))
        .collect()
}

#[test]
fn master_key_is_created_private_and_never_replaced() {
    let home = Home::new();
    let out = home.ok(&["master-key"], Some("first-master"));
    assert!(out.contains("master key created"), "{out}");
    let path = home.master_key_path();
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);
    let written = MasterKeyFile::parse(&fs::read_to_string(&path).unwrap()).unwrap();
    let expected = MasterKeyFile::new(Secret::from("first-master"), written.salt()).unwrap();
    assert_eq!(written, expected);

    let error = home.fails(&["master-key"], Some("second-master"));
    assert!(error.contains("already exists"), "{error}");
    let error = home.fails(&["-P", "third", "master-key"], None);
    assert!(error.contains("already exists"), "{error}");
}

#[test]
fn master_key_takes_the_password_from_the_flag_or_generates_one() {
    let home = Home::new();
    home.ok(&["-P", "from-flag", "master-key"], Some("from-env"));
    let written =
        MasterKeyFile::parse(&fs::read_to_string(home.master_key_path()).unwrap()).unwrap();
    let expected = MasterKeyFile::new(Secret::from("from-flag"), written.salt()).unwrap();
    assert_eq!(written, expected, "-P wins over the environment");

    let generated = Home::new();
    let out = generated.ok(&["-g", "master-key"], None);
    assert!(
        !out.contains("password"),
        "a generated master password is not shown: {out}"
    );
    assert!(generated.master_key_path().is_file());
}

#[test]
fn without_a_terminal_or_password_nothing_is_written() {
    let home = Home::new();
    let error = home.fails(&["master-key"], None);
    assert!(error.contains("PGEXPORTER_PASSWORD"), "{error}");
    assert!(!home.master_key_path().exists());
}

#[test]
fn users_round_trip_through_add_edit_del_and_ls() {
    let home = Home::new();
    home.ok(&["master-key"], Some("round-trip-master"));
    let users = home.0.join("users.conf");
    let file = path_arg(&users);

    home.ok(&["-f", file, "-U", "alpha", "user", "add"], Some("alpha-1"));
    home.ok(
        &["-f", file, "-U", "beta", "-P", "beta-1", "user", "add"],
        None,
    );
    assert_eq!(mode(&users), 0o600);
    assert_eq!(home.ok(&["-f", file, "user", "ls"], None), "alpha\nbeta\n");

    let key = home.master_key();
    let stored = decrypt_file(&users, FileKind::Users, &key);
    assert_eq!(
        stored,
        vec![
            ("alpha".to_owned(), Secret::from("alpha-1")),
            ("beta".to_owned(), Secret::from("beta-1")),
        ]
    );

    home.ok(
        &["-f", file, "-U", "alpha", "user", "edit"],
        Some("alpha-2"),
    );
    let stored = decrypt_file(&users, FileKind::Users, &key);
    assert_eq!(stored[0], ("alpha".to_owned(), Secret::from("alpha-2")));

    let error = home.fails(&["-f", file, "-U", "beta", "user", "add"], Some("x"));
    assert!(error.contains("user \"beta\" already exists"), "{error}");
    let error = home.fails(&["-f", file, "-U", "gamma", "user", "edit"], Some("x"));
    assert!(error.contains("user \"gamma\" does not exist"), "{error}");
    let error = home.fails(&["-f", file, "-U", "bad:name", "user", "add"], Some("x"));
    assert!(error.contains("colons"), "{error}");

    home.ok(&["-f", file, "-U", "alpha", "user", "del"], None);
    assert_eq!(home.ok(&["-f", file, "user", "ls"], None), "beta\n");
    let error = home.fails(&["-f", file, "-U", "alpha", "user", "del"], None);
    assert!(error.contains("does not exist"), "{error}");
}

#[test]
fn generated_passwords_are_shown_once_and_stored() {
    let home = Home::new();
    home.ok(&["master-key"], Some("generate-master"));
    let users = home.0.join("users.conf");
    let out = home.ok(
        &[
            "-f",
            path_arg(&users),
            "-U",
            "gen",
            "-g",
            "-l",
            "20",
            "user",
            "add",
        ],
        None,
    );
    let shown = out
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("the generated password is printed");
    assert_eq!(shown.len(), 20);
    let stored = decrypt_file(&users, FileKind::Users, &home.master_key());
    assert_eq!(stored, vec![("gen".to_owned(), Secret::from(shown))]);
}

#[test]
fn the_reference_files_are_read_and_extended() {
    let home = Home::with_fixtures();
    let users = path_arg(&home.users()).to_owned();
    assert_eq!(
        home.ok(&["-f", &users, "user", "ls"], None),
        "pgexporter\nreporting\n"
    );
    let admins = path_arg(&home.admins()).to_owned();
    assert_eq!(home.ok(&["-f", &admins, "user", "ls"], None), "admin\n");

    let json = home.ok(&["-F", "json", "-f", &users, "user", "ls"], None);
    assert!(json.starts_with("{\"Header\":{"), "{json}");
    assert!(json.contains("\"Command\":15"), "{json}");
    assert!(json.contains("\"Status\":true"), "{json}");
    assert!(
        json.contains("\"Users\":[\"pgexporter\",\"reporting\"]"),
        "{json}"
    );

    home.ok(
        &["-f", &users, "-U", "third", "user", "add"],
        Some("third-secret"),
    );
    let text = fs::read_to_string(home.users()).unwrap();
    assert!(
        text.starts_with(&fixture("pgexporter_users.conf")),
        "existing lines kept"
    );
    let key = home.master_key();
    let stored = decrypt_file(&home.users(), FileKind::Users, &key);
    assert_eq!(
        stored,
        vec![
            ("pgexporter".to_owned(), Secret::from("monitor-secret-1")),
            (
                "reporting".to_owned(),
                Secret::from(r#"p@ss:w#rd "quoted""#)
            ),
            ("third".to_owned(), Secret::from("third-secret")),
        ]
    );
}

#[test]
fn a_wrong_master_password_changes_nothing() {
    let home = Home::with_fixtures();
    let other = MasterKeyFile::new(Secret::from("not-the-master"), [1; 16]).unwrap();
    home.write_master_key(other.render().expose_str().unwrap());
    let users = path_arg(&home.users()).to_owned();

    let error = home.fails(&["-f", &users, "user", "ls"], None);
    assert!(
        error.contains("line 1, user \"pgexporter\": encrypted value does not authenticate"),
        "{error}"
    );
    let error = home.fails(&["-f", &users, "-U", "new", "user", "add"], Some("pw"));
    assert!(error.contains("does not authenticate"), "{error}");
    let error = home.fails(
        &["-f", &users, "-U", "reporting", "user", "edit"],
        Some("pw"),
    );
    assert!(error.contains("does not authenticate"), "{error}");

    let json = home.run(&["-F", "json", "-f", &users, "user", "ls"], None);
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.contains("\"Status\":false"), "{json}");
    assert!(json.contains("\"Command\":15"), "{json}");
}

/// Replaces the encrypted value of `reporting` (line 2) in the users file by `value`.
fn replace_reporting(home: &Home, value: &str) {
    let text = fixture("pgexporter_users.conf");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = format!("reporting:{value}");
    fs::write(home.users(), lines.join("\n") + "\n").unwrap();
}

fn reporting_value() -> String {
    let text = fixture("pgexporter_users.conf");
    text.lines()
        .nth(1)
        .and_then(|line| line.strip_prefix("reporting:"))
        .unwrap()
        .to_owned()
}

#[test]
fn damaged_entries_are_named_by_line_and_user() {
    let value = reporting_value();
    let mut tampered = value.clone().into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    // (value, expected message, whether it is malformed without a key: then even `user del`,
    // which needs no master key, refuses the file)
    let cases = [
        // Four characters fewer keep the base64 valid but cut the tag.
        (
            value[..value.len() - 4].to_owned(),
            "does not authenticate",
            false,
        ),
        (
            String::from_utf8(tampered).unwrap(),
            "does not authenticate",
            false,
        ),
        (format!("*{}", &value[1..]), "not valid base64", true),
        ("AAAA".to_owned(), "shorter than the 44 bytes", true),
    ];
    for (damaged, expected, malformed) in cases {
        let home = Home::with_fixtures();
        replace_reporting(&home, &damaged);
        let users = path_arg(&home.users()).to_owned();
        let mut commands = vec![
            vec!["-f", users.as_str(), "user", "ls"],
            vec!["-f", users.as_str(), "-U", "pgexporter", "user", "edit"],
        ];
        if malformed {
            commands.push(vec![
                "-f",
                users.as_str(),
                "-U",
                "pgexporter",
                "user",
                "del",
            ]);
        }
        for args in commands {
            let error = home.fails(&args, Some("pw"));
            assert!(
                error.contains("line 2, user \"reporting\": ") && error.contains(expected),
                "{args:?}: {error}"
            );
        }
    }
}

#[test]
fn loose_modes_are_refused_with_the_chmod_to_run() {
    let home = Home::with_fixtures();
    let users = path_arg(&home.users()).to_owned();
    let key_path = home.master_key_path();
    let dir = key_path.parent().unwrap().to_owned();

    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
    let error = home.fails(&["-f", &users, "user", "ls"], None);
    assert!(
        error.contains(&format!("run `chmod 0600 {}`", key_path.display())),
        "{error}"
    );
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    let error = home.fails(&["-f", &users, "-U", "x", "user", "add"], Some("pw"));
    assert!(
        error.contains(&format!("run `chmod 0700 {}`", dir.display())),
        "{error}"
    );
}

#[test]
fn usage_errors_are_clear() {
    let home = Home::with_fixtures();
    let error = home.fails(&["user", "ls"], None);
    assert!(error.contains("-f/--file FILE"), "{error}");
    let error = home.fails(&["-f", path_arg(&home.users()), "user", "del"], None);
    assert!(error.contains("-U USER"), "{error}");
    let error = home.fails(&["-l", "1025", "-g", "user", "add"], None);
    assert!(error.contains("1025"), "{error}");
    let missing = home.0.join("missing.conf");
    let error = home.fails(&["-f", path_arg(&missing), "user", "ls"], None);
    assert!(error.contains("does not exist"), "{error}");

    for flag in ["-?", "--help", "-V", "--version"] {
        let output = home.run(&[flag], None);
        assert!(output.status.success(), "{flag}");
        assert!(!output.stdout.is_empty(), "{flag}");
    }
}

#[test]
fn the_admins_file_holds_at_most_eight() {
    let home = Home::with_fixtures();
    let admins = path_arg(&home.admins()).to_owned();
    for index in 1..8 {
        let user = format!("admin{index}");
        home.ok(&["-f", &admins, "-U", &user, "user", "add"], Some("pw"));
    }
    let error = home.fails(&["-f", &admins, "-U", "ninth", "user", "add"], Some("pw"));
    assert!(
        error.contains("at most") || error.contains("most entries"),
        "{error}"
    );
}

/// What a run on a pseudo-terminal left behind.
struct TerminalRun {
    success: bool,
    stderr: String,
    /// What the terminal showed (its echo of the typed lines).
    echoed: String,
    /// Whether echo was on again after the run.
    echo_restored: bool,
}

/// Runs the binary with a pseudo-terminal as standard input, typing each line once its
/// prompt has appeared on standard error.
fn run_on_terminal(home: &Home, args: &[&str], answers: &[(&str, &str)]) -> TerminalRun {
    use nix::sys::termios::{LocalFlags, tcgetattr};
    use std::io::{Read, Write};

    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal (is /dev/pts mounted?)");
    let mut child = Command::new(binary("pgexporter-admin"))
        .args(args)
        .env("HOME", &home.0)
        .env_remove("PGEXPORTER_PASSWORD")
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pgexporter-admin runs");
    let mut stderr = child.stderr.take().unwrap();
    let mut master = fs::File::from(pty.master);
    let mut seen = Vec::new();
    for (prompt, line) in answers {
        // Wait for the prompt: input typed before echo is off would be discarded.
        while !String::from_utf8_lossy(&seen).ends_with(prompt) {
            let mut chunk = [0u8; 256];
            let read = stderr.read(&mut chunk).unwrap();
            assert!(
                read > 0,
                "no prompt {prompt:?}, got {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&chunk[..read]);
        }
        master.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    stderr.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    let echo_restored = tcgetattr(&pty.slave)
        .unwrap()
        .local_flags
        .contains(LocalFlags::ECHO);
    drop(pty.slave);
    // With every slave closed, reading the master ends (EIO on Linux) after the buffered echo.
    let mut echoed = Vec::new();
    let _ = master.read_to_end(&mut echoed);
    TerminalRun {
        success: status.success(),
        stderr: String::from_utf8_lossy(&seen).into_owned(),
        echoed: String::from_utf8_lossy(&echoed).into_owned(),
        echo_restored,
    }
}

#[test]
fn passwords_typed_on_a_terminal_are_not_echoed() {
    let home = Home::new();
    let run = run_on_terminal(
        &home,
        &["master-key"],
        &[
            ("Master password: ", "typed-master"),
            ("Verify: ", "typed-master"),
        ],
    );
    assert!(run.success, "{}", run.stderr);
    assert!(run.echo_restored);
    assert!(
        !run.echoed.contains("typed-master"),
        "echoed: {:?}",
        run.echoed
    );
    let written =
        MasterKeyFile::parse(&fs::read_to_string(home.master_key_path()).unwrap()).unwrap();
    let expected = MasterKeyFile::new(Secret::from("typed-master"), written.salt()).unwrap();
    assert_eq!(written, expected);

    let users = home.0.join("users.conf");
    let run = run_on_terminal(
        &home,
        &["-f", path_arg(&users), "user", "add"],
        &[
            ("User name: ", "typed-user"),
            ("Password: ", "typed-pw"),
            ("Verify: ", "typed-pw"),
        ],
    );
    assert!(run.success, "{}", run.stderr);
    assert!(run.echoed.contains("typed-user"), "user names are echoed");
    assert!(!run.echoed.contains("typed-pw"), "echoed: {:?}", run.echoed);
    let stored = decrypt_file(&users, FileKind::Users, &home.master_key());
    assert_eq!(
        stored,
        vec![("typed-user".to_owned(), Secret::from("typed-pw"))]
    );
}

#[test]
fn a_mistyped_confirmation_writes_nothing() {
    let home = Home::new();
    let run = run_on_terminal(
        &home,
        &["master-key"],
        &[("Master password: ", "one"), ("Verify: ", "two")],
    );
    assert!(!run.success);
    assert!(run.echo_restored);
    assert!(run.stderr.contains("do not match"), "{}", run.stderr);
    assert!(!home.master_key_path().exists());
}
