//! What the exporter learns about a server before choosing its metric queries, and the
//! server-wide facts behind the always-present families (SPEC §6.2).

use crate::exposition::value::sample_value;
use crate::pg::QueryResult;

/// A question asked on a server's main connection at the start of every scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Primary or replica, the postmaster's uptime, and the [`Signs`] that tell whether the
    /// settings and the extension list may have changed.
    Role,
    /// Every setting, for the `pg_settings_*` families.
    Settings,
    /// Installed extensions of the main database, for `postgresql_extension_info` and for
    /// choosing extension metrics.
    Extensions,
    /// Installed extensions of another database, for choosing extension metrics.
    DatabaseExtensions,
    /// Databases that accept connections, for `database: all` metrics.
    Databases,
    /// Whether the server's OpenSSL runs in FIPS mode: pgcrypto's `fips_mode()`, asked only of
    /// a PostgreSQL 18 or newer server with pgcrypto installed.
    Fips,
}

impl Probe {
    /// The SQL of the probe.
    pub fn sql(self) -> &'static str {
        match self {
            Probe::Role => {
                "SELECT NOT pg_is_in_recovery() AS primary, \
                 extract(epoch FROM clock_timestamp() - pg_postmaster_start_time())::float8 AS uptime, \
                 pg_conf_load_time()::text AS conf_loaded, \
                 (SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname) FROM pg_extension) \
                 AS extensions"
            }
            Probe::Settings => "SELECT name, setting, short_desc FROM pg_settings ORDER BY name",
            Probe::Extensions => {
                "SELECT name, installed_version, comment FROM pg_available_extensions \
                 WHERE installed_version IS NOT NULL ORDER BY name"
            }
            Probe::DatabaseExtensions => {
                "SELECT extname, extversion FROM pg_extension ORDER BY extname"
            }
            Probe::Databases => {
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
            }
            Probe::Fips => "SELECT fips_mode()",
        }
    }
}

/// A setting, as the `pg_settings_<name>` family shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The setting's name made a valid family-name part: `max_connections`, or
    /// `pg_stat_statements_max` for `pg_stat_statements.max`.
    pub name: String,
    /// Its value by the rules of SPEC §6.1: numbers as they are, `on` 1, `off` 0, other text 1,
    /// empty text 0.
    pub value: f64,
    /// Its one-line description, the family's HELP text.
    pub description: String,
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension's name.
    pub name: String,
    /// The installed version.
    pub version: String,
    /// Its description.
    pub comment: String,
}

/// The role probe's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Role {
    /// Not in recovery.
    pub is_primary: bool,
    /// Seconds since the postmaster started.
    pub uptime_seconds: f64,
}

/// Reads the role probe's result; `None` when it has no row.
pub fn read_role(result: &QueryResult) -> Option<Role> {
    let row = result.rows.first()?;
    Some(Role {
        is_primary: row.get(0) == Some("t"),
        uptime_seconds: sample_value(row.get(1)),
    })
}

/// What the role probe reads on every scrape so that the settings and the extension list
/// are read again only when they may have changed: a reload or restart changes the time the
/// configuration was loaded, a promotion the role, and `CREATE`/`ALTER`/`DROP EXTENSION` the
/// list of installed extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signs {
    /// Not in recovery.
    pub is_primary: bool,
    /// `pg_conf_load_time()` as text.
    pub conf_loaded: String,
    /// The installed extensions of the main database, each as `name version`.
    pub extensions: String,
}

/// Reads the signs from the role probe's result; `None` when it has no row.
pub fn read_signs(result: &QueryResult) -> Option<Signs> {
    let row = result.rows.first()?;
    Some(Signs {
        is_primary: row.get(0) == Some("t"),
        conf_loaded: row.get(2).unwrap_or_default().to_owned(),
        extensions: row.get(3).unwrap_or_default().to_owned(),
    })
}

/// Reads the settings probe's result.
pub fn read_settings(result: &QueryResult) -> Vec<Setting> {
    result
        .rows
        .iter()
        .filter_map(|row| {
            Some(Setting {
                name: family_name_part(row.get(0)?),
                value: sample_value(row.get(1)),
                description: row.get(2).unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// `name` with every character that a family name may not hold replaced by `_`.
fn family_name_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Whether a server of major version `major` with `extensions` installed is asked
/// [`Probe::Fips`].
pub fn asks_fips(major: u32, extensions: &[Extension]) -> bool {
    major >= 18
        && extensions
            .iter()
            .any(|extension| extension.name == "pgcrypto")
}

/// Reads the FIPS probe's result: `true` when `fips_mode()` said so.
pub fn read_fips(result: &QueryResult) -> bool {
    result.rows.first().and_then(|row| row.get(0)) == Some("t")
}

/// Reads the extensions probe's result.
pub fn read_extensions(result: &QueryResult) -> Vec<Extension> {
    result
        .rows
        .iter()
        .filter_map(|row| {
            Some(Extension {
                name: row.get(0)?.to_owned(),
                version: row.get(1).unwrap_or_default().to_owned(),
                comment: row.get(2).unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Reads the database extensions probe's result: each extension's name and version.
pub fn read_installed(result: &QueryResult) -> Vec<(String, String)> {
    result
        .rows
        .iter()
        .filter_map(|row| Some((row.get(0)?.to_owned(), row.get(1)?.to_owned())))
        .collect()
}

/// Reads the databases probe's result.
pub fn read_databases(result: &QueryResult) -> Vec<String> {
    result
        .rows
        .iter()
        .filter_map(|row| row.get(0).map(str::to_owned))
        .collect()
}

/// Splits `server_version_num` (e.g. 150018 or 90624) into major and minor numbers.
pub fn version_parts(version_num: u32) -> (u32, u32) {
    if version_num >= 100_000 {
        (version_num / 10_000, version_num % 10_000)
    } else {
        (version_num / 10_000, version_num % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_split_into_major_and_minor() {
        assert_eq!(version_parts(150018), (15, 18));
        assert_eq!(version_parts(130000), (13, 0));
        assert_eq!(version_parts(180001), (18, 1));
        assert_eq!(version_parts(90624), (9, 24));
    }

    #[test]
    fn setting_names_become_family_name_parts() {
        assert_eq!(family_name_part("max_connections"), "max_connections");
        assert_eq!(
            family_name_part("pg_stat_statements.max"),
            "pg_stat_statements_max"
        );
    }

    #[test]
    fn fips_is_asked_of_new_servers_with_pgcrypto() {
        let pgcrypto = [Extension {
            name: "pgcrypto".into(),
            version: "1.4".into(),
            comment: String::new(),
        }];
        assert!(asks_fips(18, &pgcrypto));
        assert!(!asks_fips(17, &pgcrypto));
        assert!(!asks_fips(18, &[]));
    }

    #[test]
    fn probes_are_single_statements() {
        for probe in [
            Probe::Role,
            Probe::Settings,
            Probe::Extensions,
            Probe::DatabaseExtensions,
            Probe::Databases,
            Probe::Fips,
        ] {
            assert!(probe.sql().starts_with("SELECT "));
            assert!(!probe.sql().contains(';'));
        }
    }
}
