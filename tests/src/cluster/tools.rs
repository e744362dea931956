//! Running the PostgreSQL programs and `openssl`, as the `postgres` user when running as root.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable that names the directory holding `initdb`, `pg_ctl` and `psql`.
pub const PG_BIN_DIR_ENV: &str = "PG_BIN_DIR";

/// The environment variable that names the cache of the version matrix's server binaries
/// (`<cache>/<major>/bin`), written by `scripts/install-postgresql-matrix.sh`.
pub const MATRIX_CACHE_ENV: &str = "PGEXPORTER_POSTGRESQL_CACHE";

/// The operating-system account that owns the cluster files when the tests run as root.
const POSTGRES_ACCOUNT: &str = "postgres";

/// How the fixture runs the PostgreSQL programs: where they are and as whom.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    bin_dir: PathBuf,
    /// `psql`: the one beside the server binaries, else the default installation's (the
    /// version matrix's packages carry no client).
    psql: PathBuf,
    /// `Some((uid, gid))` of the `postgres` account when running as root.
    run_as: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl Tools {
    /// Finds the server binaries and decides whether to switch to the `postgres` account.
    pub(crate) fn locate() -> Tools {
        let bin_dir = find_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries not found: install the Debian package `postgresql` \
                 (or set {PG_BIN_DIR_ENV})"
            )
        });
        Tools::with_bin_dir(bin_dir.clone(), bin_dir.join("psql"))
    }

    /// The server binaries of PostgreSQL `major`: Debian's `/usr/lib/postgresql/<major>/bin`
    /// when installed, else the version matrix's cache (see [`matrix_cache`]). Panics with what
    /// to run when neither has them.
    pub(crate) fn for_major(major: u32) -> Tools {
        let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
        let cached = matrix_cache().join(major.to_string()).join("bin");
        let bin_dir = [debian, cached]
            .into_iter()
            .find(|dir| ["initdb", "pg_ctl", "postgres"].iter().all(|p| dir.join(p).is_file()))
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL {major} server binaries not found in /usr/lib/postgresql/{major}/bin \
                     or {}: run `bash scripts/install-postgresql-matrix.sh` (scripts/test.sh does)",
                    matrix_cache().join(major.to_string()).display()
                )
            });
        let psql = Some(bin_dir.join("psql"))
            .filter(|psql| psql.is_file())
            .unwrap_or_else(|| Tools::locate().psql);
        Tools::with_bin_dir(bin_dir, psql)
    }

    fn with_bin_dir(bin_dir: PathBuf, psql: PathBuf) -> Tools {
        let run_as = nix::unistd::geteuid().is_root().then(|| {
            let account = nix::unistd::User::from_name(POSTGRES_ACCOUNT)
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!(
                        "running as root needs the `{POSTGRES_ACCOUNT}` account to own the \
                         cluster: install the Debian package `postgresql`"
                    )
                });
            (account.uid, account.gid)
        });
        Tools {
            bin_dir,
            psql,
            run_as,
        }
    }

    /// The directory of the server binaries; it identifies the installation.
    pub(crate) fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A command running the PostgreSQL program `program` (`initdb`, `pg_ctl`, `psql`), wrapped in
    /// `runuser -u postgres --` when running as root.
    pub(crate) fn pg_command(&self, program: &str, cwd: &Path) -> Command {
        let path = match program {
            "psql" => self.psql.clone(),
            _ => self.bin_dir.join(program),
        };
        let mut command = match self.run_as {
            Some(_) => {
                let mut runuser = Command::new("runuser");
                runuser.args(["-u", POSTGRES_ACCOUNT, "--"]).arg(path);
                runuser
            }
            None => Command::new(path),
        };
        command.current_dir(cwd);
        command
    }

    /// The directory of the server's loadable libraries, beside `bin`.
    pub(crate) fn library_dir(&self) -> PathBuf {
        let lib = self
            .bin_dir
            .parent()
            .map_or_else(|| self.bin_dir.join("lib"), |root| root.join("lib"));
        // The version matrix's packages keep their modules apart from their shared libraries.
        let modules = lib.join("postgresql");
        if modules.join("plpgsql.so").is_file() {
            modules
        } else {
            lib
        }
    }

    /// Hands `path` to the `postgres` account when running as root; does nothing otherwise.
    pub(crate) fn give_away(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            nix::unistd::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot chown {} to postgres: {e}", path.display()));
        }
    }
}

/// Runs `command`, panicking with its standard error when it cannot start or fails.
pub(crate) fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({command:?}): {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout),
    );
    output
}

/// Runs `openssl` with `args` in `dir`, panicking with instructions when it is missing.
pub(crate) fn openssl<I, S>(dir: &Path, args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("openssl");
    command.args(args).current_dir(dir);
    match command.output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`openssl` not found: install the Debian package `openssl`")
        }
        Err(e) => panic!("cannot run openssl: {e}"),
        Ok(output) => assert!(
            output.status.success(),
            "openssl {:?} failed: {}",
            command.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Where `scripts/install-postgresql-matrix.sh` puts the version matrix's server binaries:
/// `$PGEXPORTER_POSTGRESQL_CACHE`, else `/var/cache/pgexporter/postgresql` as root (the
/// `postgres` account must reach it), else `${XDG_CACHE_HOME:-$HOME/.cache}/pgexporter/postgresql`.
pub fn matrix_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os(MATRIX_CACHE_ENV) {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/cache/pgexporter/postgresql");
    }
    let cache_home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache_home.join("pgexporter").join("postgresql")
}

/// `$PG_BIN_DIR`, else `pg_config --bindir`, else the highest `/usr/lib/postgresql/<major>/bin`;
/// only a directory that holds `initdb`, `pg_ctl` and `psql` counts. Panics when `$PG_BIN_DIR`
/// is set to a directory without them, rather than silently using another installation.
fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| {
        ["initdb", "pg_ctl", "psql"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    if let Some(dir) = std::env::var_os(PG_BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        assert!(
            has_server(&dir),
            "{PG_BIN_DIR_ENV}={} does not hold initdb, pg_ctl and psql",
            dir.display()
        );
        return Some(dir);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|d| has_server(d));
    from_pg_config.or_else(|| highest_debian_bin_dir(Path::new("/usr/lib/postgresql"), has_server))
}

/// The `bin` directory of the highest numeric major version under `root` that passes `usable`.
fn highest_debian_bin_dir(root: &Path, usable: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, bin)| usable(bin))
        .collect();
    majors.sort_by_key(|(major, _)| *major);
    majors.pop().map(|(_, bin)| bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_major_version_wins_and_non_numeric_entries_are_ignored() {
        let root =
            std::env::temp_dir().join(format!("pgexporter-tools-test-{}", std::process::id()));
        for name in ["9", "15", "13", "common"] {
            fs::create_dir_all(root.join(name).join("bin")).expect("create test directories");
        }
        let found = highest_debian_bin_dir(&root, |_| true);
        let only_nine = highest_debian_bin_dir(&root, |bin| bin.ends_with("9/bin"));
        fs::remove_dir_all(&root).expect("remove test directories");
        assert_eq!(found, Some(root.join("15").join("bin")));
        assert_eq!(only_nine, Some(root.join("9").join("bin")));
    }

    #[test]
    fn missing_root_finds_nothing() {
        assert_eq!(
            highest_debian_bin_dir(Path::new("/nonexistent/pg"), |_| true),
            None
        );
    }
}
