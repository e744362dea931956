//! Which collectors run: the `-C`/`-X` flags and the `collectors`/`exclude_collectors` keys.

use std::collections::BTreeSet;

/// An allow-list and a deny-list of collector names. The deny-list wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorFilter {
    only: Option<BTreeSet<String>>,
    except: BTreeSet<String>,
}

impl CollectorFilter {
    /// A filter that runs the collectors in `only` (all when empty) minus those in `except`.
    pub fn new<S: AsRef<str>>(only: &[S], except: &[S]) -> Self {
        let set = |names: &[S]| -> BTreeSet<String> {
            names
                .iter()
                .map(|name| name.as_ref().trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect()
        };
        let only = set(only);
        CollectorFilter {
            only: (!only.is_empty()).then_some(only),
            except: set(except),
        }
    }

    /// Whether metrics of `collector` run.
    pub fn allows(&self, collector: &str) -> bool {
        !self.except.contains(collector)
            && self
                .only
                .as_ref()
                .is_none_or(|only| only.contains(collector))
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
}
