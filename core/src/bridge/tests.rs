//! The bridge against scripted endpoints: merging, failures, single flight, cache, JSON.

use std::collections::HashMap;

use bytes::Bytes;

use super::*;
use crate::exposition::{Format, strict_parser};
use crate::link::LinkCommand;

/// How a scripted endpoint behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    Answers(&'static str),
    Refuses,
    Silent,
}

struct Harness {
    bridge: Bridge,
    behaviours: Vec<Behaviour>,
    conns: HashMap<ConnId, usize>,
    connects: usize,
    results: Vec<(Arc<BridgeResult>, Vec<Ticket>)>,
    now: Instant,
}

const NODE: &str = "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n\
                    # TYPE up gauge\nup{endpoint=\"inner\"} 1\n";
const PGEXPORTER: &str = "#HELP pgexporter_state The state\n#TYPE pgexporter_state gauge\n\
                          pgexporter_state 1\n\n# TYPE up gauge\nup 1\n";

fn settings(endpoints: usize, cache_max_age: Duration, cache_max_size: usize) -> BridgeSettings {
    BridgeSettings {
        endpoints: (0..endpoints)
            .map(|index| Endpoint::new(&format!("e{index}"), 9100))
            .collect(),
        cache_max_age,
        cache_max_size,
        json_max_size: 1 << 20,
        default_timeout: Duration::from_secs(10),
    }
}

impl Harness {
    fn new(behaviours: Vec<Behaviour>, cache_max_age: Duration) -> Harness {
        Harness {
            bridge: Bridge::new(settings(behaviours.len(), cache_max_age, 1 << 20)),
            behaviours,
            conns: HashMap::new(),
            connects: 0,
            results: Vec::new(),
            now: crate::test_clock::origin(),
        }
    }

    fn request(&mut self, ticket: u64, timeout: Option<Duration>) -> Option<Arc<BridgeResult>> {
        self.bridge.request(self.now, Ticket(ticket), timeout)
    }

    /// Carries out the bridge's actions against the scripted endpoints until none is left.
    fn run(&mut self) {
        while let Some(action) = self.bridge.poll_action() {
            match action {
                LinkAction::Connect { conn, target } => {
                    self.connects += 1;
                    let index: usize = target.address.to_string()[1..2].parse().unwrap();
                    let event = match self.behaviours[index] {
                        Behaviour::Refuses => LinkEvent::ConnectFailed("refused".into()),
                        _ => LinkEvent::Connected,
                    };
                    self.conns.insert(conn, index);
                    self.bridge.handle_link(self.now, conn, event);
                }
                LinkAction::Command {
                    conn,
                    command: LinkCommand::Send(_),
                } => {
                    if let Behaviour::Answers(body) = self.behaviours[self.conns[&conn]] {
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let event = LinkEvent::Input(Bytes::from(response));
                        self.bridge.handle_link(self.now, conn, event);
                    }
                }
                LinkAction::Command { .. } => {}
            }
        }
        while let Some(BridgeEvent::Finished {
            result, tickets, ..
        }) = self.bridge.poll_event()
        {
            self.results.push((result, tickets));
        }
    }
}

fn body(result: &BridgeResult) -> String {
    String::from_utf8(result.body.to_vec()).unwrap()
}

#[test]
fn every_endpoint_is_merged_and_a_dead_one_costs_only_its_samples() {
    let mut harness = Harness::new(
        vec![
            Behaviour::Answers(NODE),
            Behaviour::Refuses,
            Behaviour::Answers(PGEXPORTER),
            Behaviour::Answers("garbage {\n"),
        ],
        Duration::ZERO,
    );
    assert!(harness.request(1, None).is_none());
    harness.run();
    let (result, tickets) = harness.results.pop().expect("finished");
    assert_eq!(tickets, [Ticket(1)]);
    let text = body(&result);
    strict_parser::parse(&text, Format::Text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    for line in [
        "pgexporter_bridge_endpoint_up{endpoint=\"e0:9100\"} 1\n",
        "pgexporter_bridge_endpoint_up{endpoint=\"e1:9100\"} 0\n",
        "pgexporter_bridge_endpoint_up{endpoint=\"e2:9100\"} 1\n",
        "pgexporter_bridge_endpoint_up{endpoint=\"e3:9100\"} 0\n",
        "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1{endpoint=\"e0:9100\"} 0.5\n",
        "# HELP pgexporter_state The state\n# TYPE pgexporter_state gauge\npgexporter_state{endpoint=\"e2:9100\"} 1\n",
        "# TYPE up gauge\nup{endpoint=\"e0:9100\",exported_endpoint=\"inner\"} 1\nup{endpoint=\"e2:9100\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        text.contains("pgexporter_bridge_endpoint_scrape_duration_seconds{endpoint=\"e1:9100\"}")
    );
    assert!(
        !text.contains("e3:9100\"} 1"),
        "the garbage endpoint has no samples"
    );
}

#[test]
fn concurrent_requests_share_the_fetches_and_a_young_result_is_served_again() {
    let mut harness = Harness::new(
        vec![Behaviour::Silent, Behaviour::Answers(NODE)],
        Duration::from_secs(30),
    );
    let start = harness.now;
    assert!(harness.request(1, Some(Duration::from_secs(2))).is_none());
    harness.run();
    assert!(harness.request(2, Some(Duration::from_secs(20))).is_none());
    harness.run();
    assert_eq!(harness.connects, 2, "one connection per endpoint");
    assert!(harness.results.is_empty(), "endpoint 0 has not answered");
    let deadline = start + Duration::from_millis(1800);
    assert_eq!(harness.bridge.poll_timeout(), Some(deadline));
    harness.now = deadline;
    harness.bridge.handle_timeout(deadline);
    harness.run();
    let (early, tickets) = harness
        .results
        .pop()
        .expect("the first request's deadline answers it");
    assert_eq!(tickets, [Ticket(1)], "the other request waits longer");
    let text = body(&early);
    assert!(text.contains("up{endpoint=\"e0:9100\"} 0\n"), "{text}");
    assert!(
        text.contains("node_load1{endpoint=\"e1:9100\"} 0.5\n"),
        "{text}"
    );
    assert_eq!(harness.connects, 2, "the fetches are shared, not repeated");
    let deadline = start + Duration::from_secs(19);
    assert_eq!(harness.bridge.poll_timeout(), Some(deadline));
    harness.now = deadline;
    harness.bridge.handle_timeout(deadline);
    harness.run();
    let (result, tickets) = harness.results.pop().expect("its own deadline ends it");
    assert_eq!(tickets, [Ticket(2)]);
    assert!(body(&result).contains("up{endpoint=\"e0:9100\"} 0\n"));
    harness.now += Duration::from_secs(29);
    let cached = harness.request(3, None).expect("young enough");
    assert!(
        Arc::ptr_eq(&cached, &result),
        "an early answer is not cached"
    );
    harness.now += Duration::from_secs(1);
    assert!(
        harness.request(4, None).is_none(),
        "thirty seconds old is stale"
    );
}

#[test]
fn a_request_timeout_is_held_to_the_bounds_of_metrics() {
    for (asked, after) in [
        (Duration::from_millis(1), Duration::from_millis(900)),
        (Duration::from_secs(86_400), Duration::from_secs(119)),
    ] {
        let mut harness = Harness::new(vec![Behaviour::Silent], Duration::ZERO);
        let start = harness.now;
        assert!(harness.request(1, Some(asked)).is_none());
        harness.run();
        assert_eq!(
            harness.bridge.poll_timeout(),
            Some(start + after),
            "{asked:?}"
        );
    }
}

#[test]
fn a_body_larger_than_the_cache_is_not_kept() {
    let mut harness = Harness::new(vec![Behaviour::Answers(NODE)], Duration::from_secs(30));
    harness
        .bridge
        .reconfigure(harness.now, settings(1, Duration::from_secs(30), 10));
    assert!(harness.request(1, None).is_none());
    harness.run();
    assert_eq!(harness.results.len(), 1);
    assert!(harness.request(2, None).is_none(), "nothing cached");
}

#[test]
fn the_json_view_has_the_references_shape() {
    let mut harness = Harness::new(
        vec![Behaviour::Answers(
            "# HELP h Latency \"quoted\".\n# TYPE h histogram\nh_bucket{le=\"+Inf\",path=\"a\\\\b\"} 2\nh_sum 1.5\nh_count 2\n",
        )],
        Duration::ZERO,
    );
    assert!(harness.request(1, None).is_none());
    harness.run();
    let (result, _) = harness.results.pop().unwrap();
    let later = harness.now + Duration::from_secs(4);
    let json = result.render_json(later, Duration::from_secs(1_700_000_004));
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let family = &value["h"];
    assert_eq!(family["Name"], "h");
    assert_eq!(family["Type"], "histogram");
    assert_eq!(family["Help"], "Latency \"quoted\".");
    let first = &family["Definitions"][0];
    assert_eq!(
        first["Attributes"],
        serde_json::json!([
            {"Key": "endpoint", "Value": "e0:9100"},
            {"Key": "__name__", "Value": "h_bucket"},
            {"Key": "le", "Value": "+Inf"},
            {"Key": "path", "Value": "a\\b"},
        ])
    );
    assert_eq!(
        first["Values"],
        serde_json::json!([{"Timestamp": 1_700_000_000, "Value": "2"}])
    );
    assert_eq!(family["Definitions"].as_array().unwrap().len(), 3);
    assert!(
        value.get(ENDPOINT_UP).is_none(),
        "the JSON view holds the endpoints' families"
    );
}

#[test]
fn no_endpoints_answer_at_once() {
    let mut harness = Harness::new(Vec::new(), Duration::ZERO);
    let result = harness.request(1, None).expect("nothing to wait for");
    assert_eq!(
        body(&result),
        "# HELP pgexporter_bridge_endpoint_up 1 when the endpoint answered the bridge scrape with a readable body, else 0.\n# TYPE pgexporter_bridge_endpoint_up gauge\n# HELP pgexporter_bridge_endpoint_scrape_duration_seconds Seconds the fetch of the endpoint's /metrics took.\n# TYPE pgexporter_bridge_endpoint_scrape_duration_seconds gauge\n"
    );
}
