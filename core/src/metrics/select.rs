//! Which metrics run: collectors by the `-C`/`-X` flags and the `collectors`/
//! `exclude_collectors` keys, and extension metrics by the `extensions` keys.

use std::collections::{BTreeMap, BTreeSet};

/// An allow-list and a deny-list of collector names (the deny-list wins), and the extensions
/// whose metrics run on each server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorFilter {
    only: Option<BTreeSet<String>>,
    except: BTreeSet<String>,
    extensions: ExtensionFilter,
}

/// Which extensions' metrics run on a server: those of the server's `extensions` list, else
/// of the global list, else every extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionFilter {
    global: Option<BTreeSet<String>>,
    per_server: BTreeMap<String, BTreeSet<String>>,
}

impl ExtensionFilter {
    /// A filter from the global list and the lists of the servers that have one, by server
    /// name. Items are trimmed; a list with no item counts as absent.
    pub fn new<S: AsRef<str>>(global: Option<&[S]>, per_server: &[(&str, &[S])]) -> Self {
        ExtensionFilter {
            global: global.and_then(names),
            per_server: per_server
                .iter()
                .filter_map(|(server, list)| Some(((*server).to_owned(), names(list)?)))
                .collect(),
        }
    }

    /// Whether the metrics of `extension` run on the server named `server`.
    pub fn allows(&self, server: &str, extension: &str) -> bool {
        self.per_server
            .get(server)
            .or(self.global.as_ref())
            .is_none_or(|list| list.contains(extension))
    }
}

/// The trimmed, non-empty items of `list`; `None` when there are none.
fn names<S: AsRef<str>>(list: &[S]) -> Option<BTreeSet<String>> {
    let set: BTreeSet<String> = list
        .iter()
        .map(|name| name.as_ref().trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    (!set.is_empty()).then_some(set)
}

impl CollectorFilter {
    /// A filter that runs the collectors in `only` (all when empty) minus those in `except`.
    pub fn new<S: AsRef<str>>(only: &[S], except: &[S]) -> Self {
        CollectorFilter {
            only: names(only),
            except: names(except).unwrap_or_default(),
            extensions: ExtensionFilter::default(),
        }
    }

    /// This filter, with `extensions` deciding which extensions' metrics run (every
    /// extension's by default).
    pub fn with_extensions(self, extensions: ExtensionFilter) -> Self {
        CollectorFilter { extensions, ..self }
    }

    /// Whether metrics of `collector` run.
    pub fn allows(&self, collector: &str) -> bool {
        !self.except.contains(collector)
            && self
                .only
                .as_ref()
                .is_none_or(|only| only.contains(collector))
    }

    /// Whether metrics of `extension` run on the server named `server`.
    pub fn allows_extension(&self, server: &str, extension: &str) -> bool {
        self.extensions.allows(server, extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_allows_everything() {
        let filter = CollectorFilter::new::<&str>(&[], &[]);
        assert!(filter.allows("db"));
        assert!(filter.allows("anything"));
    }

    #[test]
    fn allow_list_restricts_and_deny_list_wins() {
        let filter = CollectorFilter::new(&["db", "locks", " "], &["locks"]);
        assert!(filter.allows("db"));
        assert!(!filter.allows("locks"));
        assert!(!filter.allows("stat_bgwriter"));
        let deny_only = CollectorFilter::new(&[], &["locks"]);
        assert!(deny_only.allows("db"));
        assert!(!deny_only.allows("locks"));
    }

    #[test]
    fn a_server_list_replaces_the_global_list() {
        let everything = CollectorFilter::new::<&str>(&[], &[]);
        assert!(everything.allows_extension("any", "pgcrypto"));
        let global = ["pg_stat_statements", " pgcrypto "];
        let own: [&str; 1] = ["postgis"];
        let empty: [&str; 1] = [" "];
        let filter = everything.with_extensions(ExtensionFilter::new(
            Some(&global[..]),
            &[("gis", &own[..]), ("blank", &empty[..])],
        ));
        assert!(filter.allows_extension("primary", "pg_stat_statements"));
        assert!(filter.allows_extension("primary", "pgcrypto"));
        assert!(!filter.allows_extension("primary", "postgis"));
        assert!(filter.allows_extension("gis", "postgis"));
        assert!(!filter.allows_extension("gis", "pg_stat_statements"));
        assert!(
            filter.allows_extension("blank", "pgcrypto"),
            "an empty list is no list: the global one applies"
        );
        let none = ExtensionFilter::new::<&str>(None, &[("gis", &["postgis"][..])]);
        assert!(none.allows("primary", "anything"));
        assert!(!none.allows("gis", "anything"));
    }
}
