//! One server's scrape (`/probe`) beside `/metrics`, and `type = prometheus` servers.

use super::*;
use crate::config::ServerType;
use crate::plan::Target;

/// A harness whose server `exporter` is a `type = prometheus` server answering `body`, and
/// whose results stay young for `cache_max_age`.
fn with_exporter(
    servers: Vec<ScriptedServer>,
    exporter: usize,
    body: &'static str,
    cache_max_age: Duration,
) -> Harness {
    let mut harness = Harness::new(servers);
    let mut specs = harness.collector.servers().to_vec();
    specs[exporter] = ServerSpec {
        name: format!("s{exporter}"),
        kind: ServerType::Prometheus,
        user: String::new(),
        password: None,
        target: Arc::new(Target::plain_tcp(&format!("s{exporter}"), 9100)),
    };
    let set =
        MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)]).unwrap();
    harness.collector = Collector::new(
        specs,
        Arc::new(set),
        CollectorFilter::default(),
        settings(cache_max_age),
        Box::new(|| [1; 18]),
    );
    harness.exporters.insert(exporter, body);
    harness
}

fn silent() -> ScriptedServer {
    ScriptedServer {
        is_primary: true,
        databases: vec![],
        silent: true,
        extensions: Vec::new(),
        stalled_startup: false,
        conf_loaded: CONF_LOADED,
    }
}

impl Harness {
    fn probe(
        &mut self,
        server: &str,
        timeout: Option<Duration>,
    ) -> (Ticket, Option<Arc<ScrapeResult>>) {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let result = self
            .collector
            .request_server(self.now, ticket, server, timeout)
            .expect("a configured server");
        (ticket, result)
    }
}

fn probe_body(result: &ScrapeResult) -> String {
    let mut out = BytesMut::new();
    result.render_probe(Format::Text, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn a_probe_scrapes_its_server_alone() {
    let mut harness = Harness::new(vec![silent(), primary(vec!["postgres"])]);
    let (ticket, cached) = harness.probe("s1", None);
    assert!(cached.is_none());
    harness.run();
    assert_eq!(harness.answered, [ticket]);
    assert_eq!(harness.connects, 1, "the other server is not contacted");
    let result = harness.finished.pop().unwrap();
    assert_eq!(result.servers.len(), 1);
    let body = probe_body(&result);
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"s1\"} 1\n"),
        "{body}"
    );
    assert!(body.contains("pgexporter_size_bytes{server=\"s1\",database=\"postgres\"} 42\n"));
    assert!(
        !body.contains("pgexporter_state"),
        "the exporter's own families stay on /metrics"
    );
    assert!(!body.contains("s0"));
    let unknown = harness
        .collector
        .request_server(harness.now, Ticket(99), "elsewhere", None);
    assert!(matches!(unknown, Err(UnknownServer(name)) if name == "elsewhere"));
}

#[test]
fn a_probe_shares_the_run_of_a_scrape_in_progress_and_keeps_its_own_deadline() {
    let mut harness = Harness::new(vec![silent(), primary(vec!["postgres"])]);
    let (scrape, _) = harness.request(Some(Duration::from_secs(10)));
    harness.run();
    let (probe, _) = harness.probe("s0", Some(Duration::from_secs(2)));
    harness.run();
    assert_eq!(harness.connects, 2, "the probe joins the run of s0");
    let probe_deadline = harness.now + Duration::from_millis(1800);
    assert_eq!(harness.collector.poll_timeout(), Some(probe_deadline));
    harness.now = probe_deadline;
    harness.collector.handle_timeout(probe_deadline);
    harness.run();
    assert_eq!(harness.answered, [probe]);
    assert_eq!(
        harness.partial_answers, 1,
        "an early answer, the run goes on"
    );
    let result = harness.finished.pop().unwrap();
    assert!(
        !result.servers[0].active,
        "s0 did not answer in time for the probe"
    );
    assert_eq!(harness.closes, 0, "the run goes on for /metrics");
    assert!(harness.collector.is_scraping());
    let scrape_deadline = harness.now - Duration::from_millis(1800) + Duration::from_secs(9);
    harness.now = scrape_deadline;
    harness.collector.handle_timeout(scrape_deadline);
    harness.run();
    assert_eq!(harness.answered, [probe, scrape]);
    assert_eq!(
        harness.partial_answers, 1,
        "the scrape's own deadline ends the run"
    );
    assert_eq!(
        harness.cancel_requests.len(),
        1,
        "at the run's end its running queries are cancelled"
    );
    assert_eq!(harness.closes, 0, "and the connection is kept");
}

#[test]
fn a_young_snapshot_answers_a_probe() {
    let mut harness = with_exporter(
        vec![primary(vec!["postgres"]), primary(vec![])],
        1,
        "up 1\n",
        Duration::from_secs(5),
    );
    harness.scrape();
    harness.now += Duration::from_secs(4);
    let (_, cached) = harness.probe("s0", None);
    let cached = cached.expect("the last snapshot of s0 is young");
    assert_eq!(cached.servers[0].name, "s0");
    harness.now += Duration::from_secs(1);
    assert!(harness.probe("s0", None).1.is_none());
}

#[test]
fn a_prometheus_server_is_fetched_and_appended() {
    let body = "# HELP node_load1 Load.\n# TYPE node_load1 gauge\nnode_load1{server=\"x\"} 0.5\n\
                # TYPE pgexporter_state gauge\npgexporter_state 1\n";
    let mut harness = with_exporter(
        vec![primary(vec!["postgres"]), primary(vec![])],
        1,
        body,
        Duration::ZERO,
    );
    let result = harness.scrape();
    assert_eq!(
        harness.connects, 2,
        "one PostgreSQL connection, one HTTP connection"
    );
    let text = render(&result);
    crate::exposition::strict_parser::parse(&text, Format::Text)
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
    for line in [
        "pgexporter_postgresql_active{server=\"s0\"} 1\n",
        "pgexporter_prometheus_up{server=\"s1\"} 1\n",
        "# HELP node_load1 Load.\n# TYPE node_load1 gauge\nnode_load1{server=\"s1\",exported_server=\"x\"} 0.5\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("pgexporter_prometheus_scrape_duration_seconds{server=\"s1\"} 0\n"));
    assert!(
        !text.contains("pgexporter_state{server=\"s1\"}"),
        "the exporter's own family wins"
    );
    assert!(!text.contains("pgexporter_postgresql_active{server=\"s1\""));
    assert_eq!(harness.collector.activity(), [true, true]);

    let (_, cached) = harness.probe("s1", None);
    assert!(cached.is_none(), "the cache is off");
    harness.run();
    let probed = probe_body(&harness.finished.pop().unwrap());
    assert!(
        probed.contains("node_load1{server=\"s1\",exported_server=\"x\"} 0.5\n"),
        "{probed}"
    );
    assert!(
        probed.contains("pgexporter_state{server=\"s1\"} 1\n"),
        "{probed}"
    );
    assert!(!probed.contains("pgexporter_postgresql_active"), "{probed}");
    assert_eq!(harness.connects, 2, "the HTTP connection is kept");
}
