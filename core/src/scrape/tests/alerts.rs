//! Alerts in a scrape: their queries run on each server's main connection with the metric
//! queries, and their families follow what the queries returned.

use super::*;
use crate::alerts::AlertSet;

/// Alerts over the scripted servers: `high` and `low` compare 95 with 90 both ways, `failing`
/// has a query the server refuses, `elsewhere` applies to no scripted server, `down` is the
/// connection alert.
const ALERTS: &str = "\
- name: high\n  description: High.\n  type: query\n  query: SELECT 95 AS alert_value\n  threshold: 90\n\
- name: low\n  description: Low.\n  type: query\n  query: SELECT 95 AS alert_value\n  operator: '<'\n  threshold: 90\n\
- name: failing\n  description: Fails.\n  type: query\n  query: SELECT broken_alert\n  threshold: 0\n\
- name: elsewhere\n  description: Not here.\n  type: query\n  query: SELECT 95 AS alert_value\n  threshold: 0\n  servers: other\n\
- name: down\n  description: Down.\n  type: connection\n  threshold: 0\n";

fn with_alerts(harness: &mut Harness) {
    let alerts = AlertSet::default().with_file("a.yaml", ALERTS).unwrap();
    harness.use_settings(CollectorSettings {
        alerts: Some(Arc::new(alerts)),
        ..settings(Duration::ZERO)
    });
}

#[test]
fn alert_families_follow_the_alert_queries_and_the_connection() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"]), primary(vec!["postgres"])]);
    with_alerts(&mut harness);
    harness.refused.push(0);
    let result = harness.scrape();
    assert_eq!(
        harness.connects, 2,
        "no connection of its own for the alerts"
    );
    let body = render(&result);
    for line in [
        "# HELP pgexporter_alert_high High.\n# TYPE pgexporter_alert_high gauge\n",
        "pgexporter_alert_high{server=\"s1\",alert=\"high\",type=\"query\"} 1\n",
        "pgexporter_alert_low{server=\"s1\",alert=\"low\",type=\"query\"} 0\n",
        "pgexporter_alert_down{server=\"s0\",alert=\"down\",type=\"connection\"} 1\n",
        "pgexporter_alert_down{server=\"s1\",alert=\"down\",type=\"connection\"} 0\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(
        !body.contains("pgexporter_alert_high{server=\"s0\""),
        "no query alert sample for a server that did not answer"
    );
    assert!(
        !body.contains("pgexporter_alert_failing{"),
        "a failed query has no sample"
    );
    assert!(
        !body.contains("pgexporter_alert_elsewhere{"),
        "not on these servers"
    );
    let mut without = Harness::new(vec![primary(vec!["postgres"]), primary(vec!["postgres"])]);
    without.refused.push(0);
    let baseline = without.scrape().queries;
    assert_eq!(
        result.queries.errors,
        baseline.errors + 1,
        "the failing alert"
    );
    assert_eq!(
        result.queries.executions,
        baseline.executions + 3,
        "high, low and failing on the server that answered"
    );
}

#[test]
fn without_alerts_there_are_no_alert_families() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let body = render(&harness.scrape());
    assert!(!body.contains("pgexporter_alert_"), "{body}");
}
