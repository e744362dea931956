//! Which metric queries run on one connection of one server.

use std::collections::BTreeMap;

use crate::metrics::{CollectorFilter, ExtensionVersion, MetricSet};

/// The database every server-wide metric runs in.
pub const MAIN_DATABASE: &str = "postgres";

/// A metric query chosen for one connection: the definition and the variant for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlannedQuery {
    /// Index into [`MetricSet::definitions`].
    pub metric: usize,
    /// Index into that definition's `queries`.
    pub variant: usize,
}

/// What is known about a server when its metric queries are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerProfile {
    /// The major version (13, 14, ...).
    pub major: u32,
    /// Not in recovery.
    pub is_primary: bool,
}

/// The queries to run on the connection to `database` (the main database or another one) of a
/// server with `profile`, in definition order.
///
/// The main database runs every enabled metric that applies to the server; any other database
/// runs only the metrics marked `database: all`. Metrics of extensions are left to
/// [`plan_extension_queries`].
pub fn plan_queries(
    metrics: &MetricSet,
    filter: &CollectorFilter,
    profile: ServerProfile,
    is_main_database: bool,
) -> Vec<PlannedQuery> {
    metrics
        .definitions()
        .iter()
        .enumerate()
        .filter(|(_, definition)| {
            definition.extension.is_none()
                && filter.allows(&definition.collector)
                && definition.runs_on(profile.is_primary)
                && (is_main_database || definition.all_databases)
        })
        .filter_map(|(metric, definition)| {
            let variant = definition.variant_index_for(profile.major)?;
            Some(PlannedQuery { metric, variant })
        })
        .collect()
}

/// Whether any enabled metric runs in every database, or is an extension's, so the databases
/// must be listed.
pub fn needs_database_list(metrics: &MetricSet, filter: &CollectorFilter) -> bool {
    metrics.definitions().iter().any(|definition| {
        (definition.all_databases || definition.extension.is_some())
            && filter.allows(&definition.collector)
    })
}

/// Whether any metric of an extension may run on the server named `server`, so its databases'
/// extensions must be found.
pub fn wants_extensions(metrics: &MetricSet, filter: &CollectorFilter, server: &str) -> bool {
    metrics.definitions().iter().any(|definition| {
        definition.extension.as_deref().is_some_and(|extension| {
            filter.allows(&definition.collector) && filter.allows_extension(server, extension)
        })
    })
}

/// The extensions installed in each database of one server: database → extension → version.
pub type InstalledExtensions = BTreeMap<String, BTreeMap<String, String>>;

/// The extension metrics to run on the server named `server`, by database, each list in
/// definition order.
///
/// A metric runs where its extension is installed, when the extension is enabled for the
/// server and the collector allowed, with the variant for the installed version there. A
/// metric marked `database: all` runs in every such database; any other runs once per server:
/// in the main database when the extension is installed there, else in the first such database
/// by name (the views of server-wide extensions read the same data in every database).
pub fn plan_extension_queries(
    metrics: &MetricSet,
    filter: &CollectorFilter,
    server: &str,
    profile: ServerProfile,
    installed: &InstalledExtensions,
) -> BTreeMap<String, Vec<PlannedQuery>> {
    let mut planned: BTreeMap<String, Vec<PlannedQuery>> = BTreeMap::new();
    for (metric, definition) in metrics.definitions().iter().enumerate() {
        let Some(extension) = definition.extension.as_deref() else {
            continue;
        };
        if !filter.allows(&definition.collector)
            || !filter.allows_extension(server, extension)
            || !definition.runs_on(profile.is_primary)
        {
            continue;
        }
        let mut chosen: Vec<(&String, ExtensionVersion)> = installed
            .iter()
            .filter_map(|(database, extensions)| {
                let version = ExtensionVersion::parse(extensions.get(extension)?).ok()?;
                Some((database, version))
            })
            .collect();
        if !definition.all_databases {
            let index = chosen
                .iter()
                .position(|(database, _)| *database == MAIN_DATABASE)
                .unwrap_or(0);
            chosen = chosen.into_iter().nth(index).into_iter().collect();
        }
        for (database, version) in chosen {
            if let Some(variant) = definition.variant_index_for_extension(&version) {
                planned
                    .entry(database.clone())
                    .or_default()
                    .push(PlannedQuery { metric, variant });
            }
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Source, SourceFormat};

    const DEFINITIONS: &str = "
metrics:
  - tag: everywhere
    collector: a
    database: all
    queries:
      - query: SELECT 1
        columns: [{type: gauge}]
  - tag: primary_only
    collector: b
    server: primary
    queries:
      - query: SELECT 13
        version: 13
        columns: [{type: gauge}]
      - query: SELECT 16
        version: 16
        columns: [{type: gauge}]
  - tag: replica_only
    collector: b
    server: replica
    queries:
      - query: SELECT 1
        columns: [{type: gauge}]
  - tag: new_only
    collector: c
    queries:
      - query: SELECT 1
        version: 17
        columns: [{type: gauge}]
";

    fn set() -> MetricSet {
        MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)]).unwrap()
    }

    fn tags(set: &MetricSet, planned: &[PlannedQuery]) -> Vec<String> {
        planned
            .iter()
            .map(|query| {
                let definition = &set.definitions()[query.metric];
                format!(
                    "{}@{}",
                    definition.tag, definition.queries[query.variant].min_version
                )
            })
            .collect()
    }

    #[test]
    fn main_database_of_a_primary_runs_what_applies() {
        let set = set();
        let profile = ServerProfile {
            major: 15,
            is_primary: true,
        };
        let planned = plan_queries(&set, &CollectorFilter::default(), profile, true);
        assert_eq!(tags(&set, &planned), ["everywhere@0", "primary_only@13"]);
        let profile = ServerProfile {
            major: 17,
            is_primary: true,
        };
        let planned = plan_queries(&set, &CollectorFilter::default(), profile, true);
        assert_eq!(
            tags(&set, &planned),
            ["everywhere@0", "primary_only@16", "new_only@17"]
        );
    }

    #[test]
    fn replicas_other_databases_and_filters() {
        let set = set();
        let replica = ServerProfile {
            major: 15,
            is_primary: false,
        };
        let planned = plan_queries(&set, &CollectorFilter::default(), replica, true);
        assert_eq!(tags(&set, &planned), ["everywhere@0", "replica_only@0"]);
        let planned = plan_queries(&set, &CollectorFilter::default(), replica, false);
        assert_eq!(tags(&set, &planned), ["everywhere@0"]);
        let only_b = CollectorFilter::new(&["b"], &[]);
        let planned = plan_queries(&set, &only_b, replica, true);
        assert_eq!(tags(&set, &planned), ["replica_only@0"]);
        assert!(needs_database_list(&set, &CollectorFilter::default()));
        assert!(!needs_database_list(&set, &only_b));
    }

    const EXTENSIONS: &str = "
extension: ext
metrics:
  - metric: server_wide
    queries:
      - query: SELECT 1
        version: '1.0'
        columns: [{type: gauge}]
      - query: SELECT 2
        version: '1.10'
        columns: [{type: gauge}]
  - metric: per_database
    database: all
    queries:
      - query: SELECT 3
        version: '1.5'
        columns: [{type: gauge}]
  - metric: on_replicas
    server: replica
    collector: other
    queries:
      - query: SELECT 4
        version: '1.0'
        columns: [{type: gauge}]
";

    fn with_extensions() -> MetricSet {
        let file = crate::metrics::parse_extension_source(
            &Source::new("ext.yaml", EXTENSIONS, SourceFormat::Yaml),
            20,
        )
        .unwrap();
        set().with_extensions(vec![file]).unwrap()
    }

    fn installed(entries: &[(&str, &str)]) -> InstalledExtensions {
        entries
            .iter()
            .map(|(database, version)| {
                let mut extensions = BTreeMap::new();
                extensions.insert("plpgsql".to_owned(), "1.0".to_owned());
                if !version.is_empty() {
                    extensions.insert("ext".to_owned(), (*version).to_owned());
                }
                ((*database).to_owned(), extensions)
            })
            .collect()
    }

    fn planned_tags(set: &MetricSet, planned: &BTreeMap<String, Vec<PlannedQuery>>) -> Vec<String> {
        planned
            .iter()
            .flat_map(|(database, queries)| {
                tags(set, queries)
                    .into_iter()
                    .map(move |tag| format!("{database}:{tag}"))
            })
            .collect()
    }

    const PRIMARY_15: ServerProfile = ServerProfile {
        major: 15,
        is_primary: true,
    };

    #[test]
    fn extension_metrics_run_where_the_extension_is_installed() {
        let set = with_extensions();
        let everything = CollectorFilter::default();
        let plan = |installed: &InstalledExtensions| {
            planned_tags(
                &set,
                &plan_extension_queries(&set, &everything, "s", PRIMARY_15, installed),
            )
        };
        assert_eq!(
            plan(&installed(&[
                ("app", "1.10"),
                ("postgres", "1.9"),
                ("zoo", "")
            ])),
            [
                "app:ext_per_database@0",
                "postgres:ext_server_wide@0",
                "postgres:ext_per_database@0"
            ],
            "server-wide metrics run in postgres when it has the extension"
        );
        assert_eq!(
            plan(&installed(&[
                ("postgres", ""),
                ("zoo", "1.10"),
                ("app", "1.2")
            ])),
            ["app:ext_server_wide@0", "zoo:ext_per_database@0"],
            "else in the first database by name; 1.2 is too old for per_database"
        );
        assert_eq!(plan(&installed(&[("postgres", "")])), Vec::<String>::new());
        assert_eq!(
            plan(&installed(&[("postgres", "not a version")])),
            Vec::<String>::new()
        );
        let replica = ServerProfile {
            major: 15,
            is_primary: false,
        };
        let planned = plan_extension_queries(
            &set,
            &everything,
            "s",
            replica,
            &installed(&[("postgres", "1.10")]),
        );
        assert_eq!(
            planned_tags(&set, &planned),
            [
                "postgres:ext_server_wide@0",
                "postgres:ext_per_database@0",
                "postgres:ext_on_replicas@0"
            ]
        );
        let variant = planned["postgres"][0].variant;
        assert_eq!(
            set.definitions()[planned["postgres"][0].metric].queries[variant].sql,
            "SELECT 2"
        );
    }

    #[test]
    fn extension_metrics_follow_the_filters_and_stay_out_of_the_ordinary_plan() {
        let set = with_extensions();
        let installed = installed(&[("postgres", "1.10")]);
        let only_other = CollectorFilter::new(&["other"], &[]);
        let replica = ServerProfile {
            major: 15,
            is_primary: false,
        };
        let planned = plan_extension_queries(&set, &only_other, "s", replica, &installed);
        assert_eq!(planned_tags(&set, &planned), ["postgres:ext_on_replicas@0"]);
        let elsewhere = CollectorFilter::default().with_extensions(
            crate::metrics::ExtensionFilter::new(Some(&["postgis"][..]), &[]),
        );
        assert!(plan_extension_queries(&set, &elsewhere, "s", PRIMARY_15, &installed).is_empty());
        assert!(!wants_extensions(&set, &elsewhere, "s"));
        assert!(wants_extensions(&set, &CollectorFilter::default(), "s"));
        let ordinary = plan_queries(&set, &CollectorFilter::default(), PRIMARY_15, true);
        assert!(
            tags(&set, &ordinary)
                .iter()
                .all(|tag| !tag.starts_with("ext_"))
        );
        let no_all_databases = CollectorFilter::new(&["ext"], &[]);
        assert!(
            needs_database_list(&set, &no_all_databases),
            "extension metrics need the list"
        );
    }
}
