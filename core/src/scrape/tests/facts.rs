//! Settings and extension lists: read on the first scrape, then served from what was kept
//! until a reload, a restart, a promotion or an extension change says otherwise, or until
//! they are five minutes old.

use super::*;

const MAX_CONNECTIONS: &str = "pgexporter_pg_settings_max_connections{server=\"s0\"} 100\n";

fn extension_line(name: &str) -> String {
    format!("pgexporter_postgresql_extension_info{{server=\"s0\",extension=\"{name}\"")
}

#[test]
fn kept_settings_and_extensions_serve_the_next_scrapes() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let (first, body) = harness.scrape_counting();
    assert!(body.contains(MAX_CONNECTIONS), "{body}");
    assert!(body.contains(&extension_line("plpgsql")), "{body}");

    harness.now += Duration::from_secs(60);
    let (second, body) = harness.scrape_counting();
    assert_eq!(
        second,
        first - 2,
        "neither the settings nor the extensions are read"
    );
    assert!(
        body.contains(MAX_CONNECTIONS),
        "served from what was kept\n{body}"
    );
    assert!(body.contains(&extension_line("plpgsql")), "{body}");

    harness.now += FACTS_MAX_AGE;
    let (aged, _) = harness.scrape_counting();
    assert_eq!(aged, first, "five minutes on, both are read again");
}

#[test]
fn a_reload_or_an_extension_change_is_seen_in_the_same_scrape() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let (first, _) = harness.scrape_counting();

    harness.servers[0].conf_loaded = "2026-01-02 00:00:00+00";
    let (reloaded, body) = harness.scrape_counting();
    assert_eq!(reloaded, first, "both read again after the reload");
    assert!(body.contains(MAX_CONNECTIONS), "{body}");

    let (quiet, _) = harness.scrape_counting();
    assert_eq!(quiet, first - 2);

    harness.servers[0]
        .extensions
        .push(("postgres", "pg_trgm", "1.6"));
    let (created, body) = harness.scrape_counting();
    assert_eq!(created, first, "the new extension makes both be read again");
    assert!(body.contains(&extension_line("pg_trgm")), "{body}");
}

#[test]
fn clearing_the_counters_forgets_the_kept_facts() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let (first, _) = harness.scrape_counting();
    harness.collector.reset_counters();
    let (again, body) = harness.scrape_counting();
    assert_eq!(again, first);
    assert!(body.contains(MAX_CONNECTIONS));
}
