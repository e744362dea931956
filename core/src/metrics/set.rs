//! A whole set of definitions, checked across files.

use std::collections::HashMap;

use super::error::{DefinitionError, Place};
use super::extension::ExtensionFile;
use super::fixed::is_fixed_family;
use super::model::MetricDefinition;
use super::parse::{Source, parse_source};

/// Most definitions one set may hold.
pub const MAX_DEFINITIONS: usize = 4096;

/// The metric definitions a scrape runs, in the order their sources listed them. No two of
/// them produce the same family, and none produces a family the exporter writes itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricSet {
    definitions: Vec<MetricDefinition>,
    set_aside: Vec<SetAside>,
}

/// A definition that loaded but does not run: it produces a family the exporter writes itself
/// (the reference's sample file defines `postgresql_primary`), which stays written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The definition's tag.
    pub tag: String,
    /// Where it was written.
    pub place: Place,
    /// The fixed family it would produce.
    pub family: String,
}

impl MetricSet {
    /// Parses every source, in order, into one set.
    ///
    /// A definition that produces a family the exporter writes itself (SPEC §6.2) is set
    /// aside, with a warning naming it: the fixed family stays written once.
    ///
    /// Fails on the first source that does not parse or validate, and when two definitions
    /// (in one file or in two) produce the same family; that error names both places.
    pub fn from_sources(sources: &[Source<'_>]) -> Result<MetricSet, DefinitionError> {
        let mut builder = Builder::default();
        for source in sources {
            for definition in parse_source(source)? {
                builder.add(definition)?;
            }
        }
        Ok(builder.finish())
    }

    /// This set with the metrics of `extensions` after its own, in the files' order.
    ///
    /// Fails when an extension's family is also a family of the set or of another extension;
    /// that error names both places.
    pub fn with_extensions(
        self,
        extensions: Vec<ExtensionFile>,
    ) -> Result<MetricSet, DefinitionError> {
        let mut builder = Builder {
            set_aside: self.set_aside,
            ..Builder::default()
        };
        let extension_definitions = extensions.into_iter().flat_map(|file| file.definitions);
        for definition in self.definitions.into_iter().chain(extension_definitions) {
            builder.add(definition)?;
        }
        Ok(builder.finish())
    }

    /// The definitions, in source order.
    pub fn definitions(&self) -> &[MetricDefinition] {
        &self.definitions
    }

    /// The definitions that loaded but do not run, because they produce a fixed family.
    pub fn set_aside(&self) -> &[SetAside] {
        &self.set_aside
    }
}

/// Collects definitions, refusing a family produced twice and more than [`MAX_DEFINITIONS`],
/// and setting aside those that produce a fixed family.
#[derive(Default)]
struct Builder {
    definitions: Vec<MetricDefinition>,
    families: HashMap<String, Place>,
    set_aside: Vec<SetAside>,
}

impl Builder {
    fn add(&mut self, definition: MetricDefinition) -> Result<(), DefinitionError> {
        if let Some(family) = definition
            .family_names()
            .into_iter()
            .find(|family| is_fixed_family(family))
        {
            tracing::warn!(
                "{}: metric '{}' is set aside: the exporter writes '{family}' itself",
                definition.place,
                definition.tag
            );
            self.set_aside.push(SetAside {
                tag: definition.tag,
                place: definition.place,
                family,
            });
            return Ok(());
        }
        if self.definitions.len() == MAX_DEFINITIONS {
            return Err(DefinitionError::TooMany {
                place: definition.place,
                limit: MAX_DEFINITIONS,
            });
        }
        for family in definition.family_names() {
            if let Some(first) = self.families.get(&family) {
                return Err(DefinitionError::Duplicate {
                    place: definition.place.clone(),
                    tag: definition.tag.clone(),
                    family,
                    first: Box::new(first.clone()),
                });
            }
            self.families.insert(family, definition.place.clone());
        }
        self.definitions.push(definition);
        Ok(())
    }

    fn finish(self) -> MetricSet {
        MetricSet {
            definitions: self.definitions,
            set_aside: self.set_aside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SourceFormat;

    fn metric(tag: &str, column: Option<&str>) -> String {
        let name = column
            .map(|name| format!("name: {name}\n            "))
            .unwrap_or_default();
        format!(
            "  - tag: {tag}\n    collector: c\n    queries:\n      - query: SELECT 1\n        columns:\n          - {name}type: gauge\n"
        )
    }

    #[test]
    fn definitions_from_several_files_keep_their_order() {
        let a = format!("metrics:\n{}{}", metric("a", None), metric("b", Some("v")));
        let b = format!("metrics:\n{}", metric("c", None));
        let set = MetricSet::from_sources(&[
            Source::new("a.yaml", &a, SourceFormat::Yaml),
            Source::new("b.yaml", &b, SourceFormat::Yaml),
        ])
        .unwrap();
        let tags: Vec<_> = set.definitions().iter().map(|d| d.tag.as_str()).collect();
        assert_eq!(tags, ["a", "b", "c"]);
    }

    #[test]
    fn a_definition_of_a_fixed_family_loads_and_is_set_aside() {
        let text = format!(
            "metrics:\n{}{}",
            metric("postgresql_primary", None),
            metric("mine", None)
        );
        let set =
            MetricSet::from_sources(&[Source::new("x.yaml", &text, SourceFormat::Yaml)]).unwrap();
        let tags: Vec<_> = set.definitions().iter().map(|d| d.tag.as_str()).collect();
        assert_eq!(tags, ["mine"]);
        assert_eq!(set.set_aside().len(), 1);
        assert_eq!(set.set_aside()[0].tag, "postgresql_primary");
        assert_eq!(set.set_aside()[0].family, "pgexporter_postgresql_primary");
        assert_eq!(set.set_aside()[0].place.to_string(), "x.yaml:2:10");
    }

    #[test]
    fn a_duplicate_tag_names_both_places() {
        let a = format!("metrics:\n{}", metric("same", None));
        let b = format!(
            "metrics:\n{}{}",
            metric("other", None),
            metric("same", None)
        );
        let error = MetricSet::from_sources(&[
            Source::new("a.yaml", &a, SourceFormat::Yaml),
            Source::new("b.yaml", &b, SourceFormat::Yaml),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("b.yaml:8:"), "{error}");
        assert!(error.contains("'pgexporter_same'"), "{error}");
        assert!(error.contains("already defined at a.yaml:2:"), "{error}");
    }

    #[test]
    fn families_that_collide_across_tags_are_refused() {
        // tag `a` + column `b` and tag `a_b` both make pgexporter_a_b.
        let text = format!(
            "metrics:\n{}{}",
            metric("a", Some("b")),
            metric("a_b", None)
        );
        let error = MetricSet::from_sources(&[Source::new("x.yaml", &text, SourceFormat::Yaml)])
            .unwrap_err();
        assert!(
            matches!(error, DefinitionError::Duplicate { ref family, .. } if family == "pgexporter_a_b")
        );
    }

    #[test]
    fn an_extension_family_may_not_repeat_a_family_of_the_set() {
        let set = MetricSet::from_sources(&[Source::new(
            "x.yaml",
            &format!("metrics:\n{}", metric("ext_m", None)),
            SourceFormat::Yaml,
        )])
        .unwrap();
        let extension = crate::metrics::parse_extension_source(
            &Source::new(
                "ext.yaml",
                "extension: ext\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: '1'\n        columns: [{type: gauge}]\n",
                SourceFormat::Yaml,
            ),
            20,
        )
        .unwrap();
        let error = set
            .with_extensions(vec![extension])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("ext.yaml:3:13"), "{error}");
        assert!(error.contains("'pgexporter_ext_m'"), "{error}");
        assert!(error.contains("already defined at x.yaml:2:"), "{error}");
    }
}
