//! What the reference exporter exposes, read from `shared/fixtures/reference-families/`, and
//! what the built-in metric set declares for the same PostgreSQL version and role, so that
//! tests can hold one against the other name by name.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use pgexporter_core::metrics::{ColumnKind, MetricSet};

/// The environment variable that points at another copy of the reference's family lists.
pub const REFERENCE_FAMILIES_ENV: &str = "PGEXPORTER_REFERENCE_FAMILIES";

/// The fixture line that stands for one family per setting.
pub const SETTINGS_FAMILIES: &str = "pgexporter_pg_settings_*";

/// A server's role in the version matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not in recovery.
    Primary,
    /// A streaming replica.
    Replica,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Primary, Role::Replica];

    /// The word of the fixture file names.
    pub fn word(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// One family of a reference fixture file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceFamily {
    /// The family name.
    pub name: String,
    /// The `# TYPE` word the reference wrote.
    pub kind: String,
    /// The labels in the reference's order; `None` when it wrote the family without a sample.
    pub labels: Option<Vec<String>>,
}

/// The directory of the reference's family lists: `$PGEXPORTER_REFERENCE_FAMILIES`, else
/// `shared/fixtures/reference-families` beside the checkout. Panics when it is missing.
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os(REFERENCE_FAMILIES_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/fixtures/reference-families")
        });
    assert!(
        dir.join("collectors.tsv").is_file(),
        "the reference's family lists are not at {}: put shared/ beside the checkout or set \
         {REFERENCE_FAMILIES_ENV}",
        dir.display()
    );
    dir
}

fn read(name: &str) -> String {
    let path = fixtures_dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The families the reference exposes on PostgreSQL `major` in `role`.
pub fn families(major: u32, role: Role) -> Vec<ReferenceFamily> {
    read(&format!("pg{major}-{}.tsv", role.word()))
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap_or_default().to_owned();
            let kind = fields.next().unwrap_or_default().to_owned();
            let labels = match fields.next().unwrap_or_default() {
                "-" => None,
                "" => Some(Vec::new()),
                list => Some(list.split(',').map(str::to_owned).collect()),
            };
            ReferenceFamily { name, kind, labels }
        })
        .collect()
}

/// The collector of each reference family (`collectors.tsv`).
pub fn collectors() -> HashMap<String, String> {
    read("collectors.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (family, collector) = line.split_once('\t')?;
            Some((family.to_owned(), collector.trim().to_owned()))
        })
        .collect()
}

/// A family as the built-in set declares it for one version and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredFamily {
    /// The family name.
    pub name: String,
    /// Its type word.
    pub kind: &'static str,
    /// Its labels in the order samples carry them.
    pub labels: Vec<String>,
    /// Its collector.
    pub collector: String,
    /// Whether failures of its query are expected (a grant beyond `pg_monitor`).
    pub optional: bool,
}

/// Every family `set` declares for a server of major version `major` in `role`.
pub fn declared_families(set: &MetricSet, major: u32, role: Role) -> Vec<DeclaredFamily> {
    let mut declared = Vec::new();
    for definition in set.definitions() {
        if !definition.runs_on(role == Role::Primary) {
            continue;
        }
        let Some(variant) = definition.variant_for(major) else {
            continue;
        };
        for (_, column) in variant.values() {
            let Some(name) = column.family_name(&definition.tag) else {
                continue;
            };
            let mut labels = vec!["server".to_owned()];
            labels.extend(
                variant
                    .labels_of(column.name.as_deref())
                    .map(|(_, label)| label.to_owned()),
            );
            if !labels.iter().any(|label| label == "database") {
                labels.push("database".to_owned());
            }
            declared.push(DeclaredFamily {
                name,
                kind: match column.kind {
                    ColumnKind::Counter => "counter",
                    ColumnKind::Histogram => "histogram",
                    _ => "gauge",
                },
                labels,
                collector: definition.collector.clone(),
                optional: definition.optional,
            });
        }
    }
    declared
}

/// The type differences from the reference that the README lists (its table under
/// "Type differences from the reference"): family → (reference's type, ours).
pub fn readme_type_differences() -> HashMap<String, (String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let section = readme
        .split("<!-- type-differences:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- type-differences:end -->").next())
        .expect("the README has a type-differences table");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | `family` | reference | ours | why |
            let family = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((
                family.to_owned(),
                (cells.get(2)?.to_string(), cells.get(3)?.to_string()),
            ))
        })
        .collect()
}
