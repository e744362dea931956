//! The built-in metric set against the reference's family lists, without a server: every
//! family the reference exposes on PostgreSQL 13–18, primary and replica, is declared for that
//! version and role with the reference's labels in order (extra labels only after them), the
//! reference's type unless the README lists the difference, and the reference's collector.

use std::collections::HashSet;

use pgexporter_core::metrics::{
    EXTENSION_INFO_COLLECTOR, FIXED_FAMILIES, MetricSet, PRIMARY_COLLECTOR, SETTINGS_COLLECTOR,
};
use pgexporter_tests::cluster::MATRIX_MAJORS;
use pgexporter_tests::reference::{
    Role, SETTINGS_FAMILIES, collectors, declared_families, families, readme_type_differences,
};

#[test]
fn every_reference_family_is_declared_with_its_labels_type_and_collector() {
    let set = MetricSet::builtin().expect("the built-in set loads");
    let collectors = collectors();
    let differences = readme_type_differences();
    let mut listed_and_seen = HashSet::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for major in MATRIX_MAJORS {
        for role in Role::ALL {
            let declared = declared_families(&set, major, role);
            let place = format!("PostgreSQL {major} {}", role.word());
            for family in families(major, role) {
                checked += 1;
                if family.name == SETTINGS_FAMILIES
                    || FIXED_FAMILIES.contains(&family.name.as_str())
                {
                    continue;
                }
                let Some(ours) = declared.iter().find(|ours| ours.name == family.name) else {
                    problems.push(format!("{place}: {} is not declared", family.name));
                    continue;
                };
                if let Some(labels) = &family.labels
                    && !ours.labels.starts_with(labels)
                {
                    problems.push(format!(
                        "{place}: {} has labels {:?}, the reference {labels:?}",
                        family.name, ours.labels
                    ));
                }
                if ours.kind != family.kind {
                    match differences.get(&family.name) {
                        Some((reference, listed)) if *reference == family.kind && listed == ours.kind => {
                            listed_and_seen.insert(family.name.clone());
                        }
                        _ => problems.push(format!(
                            "{place}: {} is a {}, the reference's a {}, and the README does not list it",
                            family.name, ours.kind, family.kind
                        )),
                    }
                }
                match collectors.get(&family.name) {
                    Some(collector) if *collector != ours.collector => problems.push(format!(
                        "{place}: {} is in collector {}, the reference's {collector}",
                        family.name, ours.collector
                    )),
                    _ => {}
                }
            }
        }
    }
    for family in differences.keys() {
        if !listed_and_seen.contains(family) {
            problems.push(format!(
                "the README lists {family} as a type difference, but it is none"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 2000, "{checked} families checked");
}

#[test]
fn fixed_families_carry_the_reference_collectors() {
    let collectors = collectors();
    for (family, ours) in [
        ("pgexporter_postgresql_primary", PRIMARY_COLLECTOR),
        (SETTINGS_FAMILIES, SETTINGS_COLLECTOR),
        (
            "pgexporter_postgresql_extension_info",
            EXTENSION_INFO_COLLECTOR,
        ),
    ] {
        assert_eq!(
            collectors.get(family).map(String::as_str),
            Some(ours),
            "{family}"
        );
    }
}
