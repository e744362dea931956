//! A scrape end to end through the scripted servers: probes, pipelines, kept connections,
//! prepared statements, replicas, unreachable servers, filters, the cache and shutdown.

use super::*;

#[test]
fn a_scrape_probes_then_pipelines_every_metric_on_every_database() {
    let mut harness = Harness::new(vec![primary(vec!["app", "postgres"])]);
    let result = harness.scrape();
    assert_eq!(harness.connects, 2, "postgres and app");
    let server = &result.servers[0];
    assert!(server.active);
    assert_eq!(server.version, Some((15, 4)));
    assert_eq!(server.settings.len(), 2);
    let body = render(&result);
    for line in [
        "pgexporter_state 1\n",
        "pgexporter_postgresql_active{server=\"s0\"} 1\n",
        "pgexporter_postgresql_version{server=\"s0\",version=\"15\",minor_version=\"4\"} 1\n",
        "pgexporter_postgresql_uptime{server=\"s0\"} 3600.5\n",
        "pgexporter_postgresql_primary{server=\"s0\"} 1\n",
        "pgexporter_postgresql_extension_info{server=\"s0\",extension=\"plpgsql\",version=\"1.0\",comment=\"PL/pgSQL\"} 1\n",
        "# HELP pgexporter_pg_settings_max_connections Max.\n",
        "pgexporter_pg_settings_max_connections{server=\"s0\"} 100\n",
        "pgexporter_pg_settings_fsync{server=\"s0\"} 0\n",
        "# HELP pgexporter_size_bytes Size.\n# TYPE pgexporter_size_bytes gauge\n",
        "pgexporter_size_bytes{server=\"s0\",database=\"postgres\"} 42\n",
        "# TYPE pgexporter_tables_count counter\n",
        "pgexporter_tables_count{server=\"s0\",schemaname=\"public\",database=\"postgres\"} 3\n",
        "pgexporter_tables_count{server=\"s0\",schemaname=\"public\",database=\"app\"} 3\n",
        "pgexporter_primary_only{server=\"s0\",database=\"postgres\"} 1\n",
        "pgexporter_fips 0\n",
        "pgexporter_postgresql_fips{server=\"s0\"} 0\n",
        // The reference's histogram: sum and count first, the family named by the tag.
        "# TYPE pgexporter_idle_seconds histogram\n",
        "pgexporter_idle_seconds_bucket{server=\"s0\",application_name=\"app\",database=\"postgres\",le=\"1\"} 1\n",
        "pgexporter_idle_seconds_bucket{server=\"s0\",application_name=\"app\",database=\"postgres\",le=\"5\"} 2\n",
        "pgexporter_idle_seconds_sum{server=\"s0\",application_name=\"app\",database=\"postgres\"} 7.5\n",
        "pgexporter_idle_seconds_count{server=\"s0\",application_name=\"app\",database=\"postgres\"} 2\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert_eq!(
        body.matches("# TYPE pgexporter_tables_count").count(),
        1,
        "each family once"
    );
    assert!(
        !body.contains("pgexporter_broken{"),
        "the failed query has no samples"
    );
    assert_eq!(
        body.matches("# TYPE pgexporter_postgresql_primary").count(),
        1,
        "a custom definition of a fixed family is set aside"
    );
    assert!(!body.contains("never_run"));
    assert_eq!(result.queries.errors, 1);
    assert_eq!(
        result.queries.executions, 10,
        "4 probes, 5 metrics on postgres, 1 on app"
    );
}

#[test]
fn connections_are_kept_between_scrapes() {
    let mut harness = Harness::new(vec![primary(vec!["postgres", "app"])]);
    harness.scrape();
    harness.scrape();
    assert_eq!(harness.connects, 2);
    assert_eq!(harness.closes, 0);
    assert_eq!(harness.collector.connection_count(), 2);
}

#[test]
fn the_second_scrape_on_a_connection_parses_nothing() {
    // Without the broken metric, which is parsed again after each failure.
    let filter = CollectorFilter::new(&["db", "tables", "settings"], &[]);
    let mut harness = Harness::with_filter(vec![primary(vec!["postgres", "app"])], filter);
    harness.scrape();
    let parses: usize = harness.wires.values().map(|wire| wire.count(b'P')).sum();
    assert_eq!(
        parses, 7,
        "4 probes, 2 metric queries on postgres, 1 on app"
    );
    for wire in harness.wires.values_mut() {
        wire.messages.clear();
    }
    let result = harness.scrape();
    assert!(render(&result).contains(
        "pgexporter_tables_count{server=\"s0\",schemaname=\"public\",database=\"app\"} 3\n"
    ));
    for wire in harness.wires.values() {
        assert_eq!(wire.count(b'P'), 0, "no Parse on the second scrape");
        assert_eq!(wire.count(b'Q'), 0, "no simple query either");
        assert_eq!(wire.count(b'B'), wire.count(b'S'), "one Sync per execution");
        assert!(wire.count(b'E') > 0);
    }
}

#[test]
fn a_failed_metric_query_is_parsed_again_on_the_next_scrape() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    harness.scrape();
    for wire in harness.wires.values_mut() {
        wire.messages.clear();
    }
    let result = harness.scrape();
    assert_eq!(
        result.queries.errors, 2,
        "the broken metric, once per scrape"
    );
    let wire = harness.wires.values().next().unwrap();
    assert_eq!(wire.count(b'C'), 1, "its statement is closed");
    assert_eq!(wire.count(b'P'), 1, "and parsed again");
}

#[test]
fn a_dropped_database_loses_its_connection() {
    let mut harness = Harness::new(vec![primary(vec!["postgres", "app"])]);
    harness.scrape();
    harness.servers[0].databases = vec!["postgres"];
    let result = harness.scrape();
    assert_eq!(harness.closes, 1);
    assert_eq!(harness.collector.connection_count(), 1);
    assert!(!render(&result).contains("database=\"app\""));
}

#[test]
fn replicas_skip_primary_only_metrics() {
    let replica = ScriptedServer {
        is_primary: false,
        databases: vec!["postgres"],
        silent: false,
        extensions: Vec::new(),
        stalled_startup: false,
        conf_loaded: CONF_LOADED,
    };
    let mut harness = Harness::new(vec![replica]);
    let body = render(&harness.scrape());
    assert!(body.contains("pgexporter_postgresql_primary{server=\"s0\"} 0\n"));
    assert!(!body.contains("pgexporter_primary_only"));
}

#[test]
fn an_unreachable_server_is_inactive_and_the_others_still_report() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"]), primary(vec!["postgres"])]);
    harness.refused.push(0);
    let result = harness.scrape();
    assert!(!result.servers[0].active);
    assert!(result.servers[1].active);
    let body = render(&result);
    assert!(body.contains("pgexporter_postgresql_active{server=\"s0\"} 0\n"));
    assert!(body.contains("pgexporter_postgresql_active{server=\"s1\"} 1\n"));
    assert!(body.contains("pgexporter_size_bytes{server=\"s1\",database=\"postgres\"} 42\n"));
    assert!(!body.contains("server=\"s0\",database"));
    // Within the backoff the server is not tried again, and still reported inactive.
    let connects = harness.connects;
    harness.now += FIRST_BACKOFF / 2;
    let result = harness.scrape();
    assert_eq!(
        harness.connects, connects,
        "no connection during the backoff"
    );
    assert!(!result.servers[0].active);
    assert!(result.servers[1].active);
    // A second failure doubles the wait.
    harness.now += FIRST_BACKOFF / 2;
    harness.scrape();
    assert_eq!(
        harness.connects,
        connects + 1,
        "tried again after the backoff"
    );
    harness.now += FIRST_BACKOFF;
    harness.scrape();
    assert_eq!(
        harness.connects,
        connects + 1,
        "the second wait is twice the first"
    );
    // The server comes back: the scrape after the backoff reconnects.
    harness.refused.clear();
    harness.now += FIRST_BACKOFF;
    let result = harness.scrape();
    assert_eq!(harness.connects, connects + 2);
    assert!(result.servers[0].active);
}

#[test]
fn sessions_give_up_waiting_for_locks() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    harness.scrape();
    let wire = harness.wires.values().next().unwrap();
    assert_eq!(wire.lock_timeout.as_deref(), Some("200"));
}

#[test]
fn collector_filters_restrict_the_queries() {
    let mut harness = Harness::new(vec![primary(vec!["postgres", "app"])]);
    let set =
        MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)]).unwrap();
    let settings = CollectorSettings {
        query_timeout: None,
        connect_timeout: Duration::from_secs(1),
        application_name: "pgexporter".into(),
        cache_max_age: Duration::ZERO,
        default_scrape_timeout: Duration::from_secs(10),
        max_connections_per_server: 8,
        alerts: None,
    };
    harness.collector = Collector::new(
        harness.collector.servers().to_vec(),
        Arc::new(set),
        CollectorFilter::new(&["db"], &[]),
        settings,
        Box::new(|| [1; 18]),
    );
    let result = harness.scrape();
    assert_eq!(harness.connects, 1, "no metric needs the other databases");
    let body = render(&result);
    assert!(body.contains("pgexporter_size_bytes"));
    assert!(!body.contains("pgexporter_tables_count"));
}

#[test]
fn the_fixed_families_with_a_collector_follow_the_filter() {
    let filter = CollectorFilter::new(&[], &["primary", "settings", "extensions_list"]);
    let mut harness = Harness::with_filter(vec![primary(vec!["postgres"])], filter);
    let result = harness.scrape();
    assert!(result.servers[0].settings.is_empty(), "no settings probe");
    let body = render(&result);
    assert!(body.contains("pgexporter_postgresql_active{server=\"s0\"} 1\n"));
    for family in [
        "pgexporter_postgresql_primary",
        "pgexporter_pg_settings_",
        "pgexporter_postgresql_extension_info",
    ] {
        assert!(!body.contains(family), "{family} in\n{body}");
    }
}

#[test]
fn openmetrics_rendering_ends_with_eof_and_suffixes_counters() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let result = harness.scrape();
    let mut out = BytesMut::new();
    result.render(Format::OpenMetrics, &ExporterCounters::default(), &mut out);
    let body = String::from_utf8(out.to_vec()).unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE pgexporter_tables_count counter\n"));
    assert!(body.contains("pgexporter_tables_count_total{server=\"s0\",schemaname=\"public\",database=\"postgres\"} 3\n"));
}

#[test]
fn a_young_result_answers_from_the_cache() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let settings = CollectorSettings {
        query_timeout: None,
        connect_timeout: Duration::from_secs(1),
        application_name: "pgexporter".into(),
        cache_max_age: Duration::from_secs(5),
        default_scrape_timeout: Duration::from_secs(10),
        max_connections_per_server: 8,
        alerts: None,
    };
    harness.use_settings(settings);
    let first = harness.scrape();
    harness.now += Duration::from_secs(4);
    let (_, cached) = harness.request(None);
    assert!(Arc::ptr_eq(&first, &cached.expect("served from the cache")));
    harness.now += Duration::from_secs(1);
    let (_, cached) = harness.request(None);
    assert!(cached.is_none(), "five seconds old is stale");
    harness.run();
    harness.collector.reset_counters();
    let (_, cached) = harness.request(None);
    assert!(cached.is_none(), "clearing forgets the cache");
}

#[test]
fn shutdown_terminates_every_connection() {
    let mut harness = Harness::new(vec![primary(vec!["postgres", "app"])]);
    harness.scrape();
    harness.collector.shutdown(harness.now);
    let mut terminates = 0;
    let mut closes = 0;
    while let Some(action) = harness.collector.poll_action() {
        match action {
            Action::Command {
                command: LinkCommand::Send(bytes),
                ..
            } => {
                assert_eq!(&bytes[..], b"X\0\0\0\x04");
                terminates += 1;
            }
            Action::Command {
                command: LinkCommand::Close,
                ..
            } => closes += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((terminates, closes), (2, 2));
    assert_eq!(harness.collector.connection_count(), 0);
}
