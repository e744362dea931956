//! Which metric queries run on one connection of one server.

use crate::metrics::{CollectorFilter, MetricSet};

/// The database every server-wide metric runs in.
pub const MAIN_DATABASE: &str = "postgres";

/// A metric query chosen for one connection: the definition and the variant for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// runs only the metrics marked `database: all`.
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
            filter.allows(&definition.collector)
                && definition.runs_on(profile.is_primary)
                && (is_main_database || definition.all_databases)
        })
        .filter_map(|(metric, definition)| {
            let variant = definition.variant_index_for(profile.major)?;
            Some(PlannedQuery { metric, variant })
        })
        .collect()
}

/// Whether any enabled metric runs in every database, so the databases must be listed.
pub fn needs_database_list(metrics: &MetricSet, filter: &CollectorFilter) -> bool {
    metrics
        .definitions()
        .iter()
        .any(|definition| definition.all_databases && filter.allows(&definition.collector))
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
}
