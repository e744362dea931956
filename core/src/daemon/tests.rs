use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::load_ini;
use crate::exposition::Format;
use crate::link::LinkCommand;
use crate::management::handshake::AdminVerifiers;
use crate::management::{
    Command, Document, ErrorCode, Header, Outcome, Output, Request, Transport,
};
use crate::metrics::MetricSet;
use crate::plan::{PlanInputs, Target};
use crate::serve::{BridgeView, ScrapeJob};

const CONFIG: &str = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                      [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n\
                      [replica]\nhost = localhost\nport = 5433\nuser = pgexporter\n";

fn config(text: &str) -> Config {
    load_ini(text, "pgexporter.conf", &|_| None).unwrap().config
}

fn plan(config: &Config) -> Plan {
    Plan::new(
        config,
        PlanInputs {
            passwords: Default::default(),
            metrics: Arc::new(MetricSet::builtin().unwrap()),
            admins: Arc::new(AdminVerifiers::new()),
            master_key: None,
            alerts: None,
        },
    )
    .unwrap()
}

fn daemon() -> Daemon {
    daemon_of(
        CONFIG,
        crate::test_clock::origin(),
        Arc::new(|| 1_700_000_000),
    )
}

/// The daemon of the configuration `text`, started at `started`, reading `wall_clock`.
pub(super) fn daemon_of(text: &str, started: Instant, wall_clock: super::WallClock) -> Daemon {
    let config = config(text);
    Daemon::new(DaemonSetup {
        plan: plan(&config),
        config,
        paths: ConfigPaths::default(),
        shutdown_grace: Duration::from_secs(5),
        env: Box::new(|_| None),
        logs: Arc::new(LogCounters::default),
        random_nonce: Box::new(|| [7; 18]),
        wall_clock,
        started,
    })
}

pub(super) fn actions(daemon: &mut Daemon) -> Vec<Action> {
    std::iter::from_fn(|| daemon.poll_action()).collect()
}

fn request(command: Command, arguments: serde_json::Value) -> Job {
    let header = Header::new(command, Output::Json, "20261125000000");
    let document = Document::request(header, arguments.as_object().cloned().unwrap_or_default());
    Job::Management(Request {
        document,
        transport: Transport::Local,
    })
}

/// The management answer to `peer` among `actions`.
fn answer_to(peer: PeerId, actions: &[Action]) -> Option<Document> {
    actions.iter().find_map(|action| match action {
        Action::Answer {
            peer: to,
            answer: Answer::Management(document),
        } if *to == peer => Some(document.clone()),
        _ => None,
    })
}

/// The connections opened among `actions`, with their targets.
fn connects(actions: Vec<Action>) -> Vec<(ConnId, Arc<Target>)> {
    actions
        .into_iter()
        .filter_map(|action| match action {
            Action::Link(LinkAction::Connect { conn, target }) => Some((conn, target)),
            _ => None,
        })
        .collect()
}

/// The host tasks among `actions`.
fn host_tasks(actions: &[Action]) -> Vec<(TaskId, HostTask)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Host { task, work } => Some((*task, work.clone())),
            _ => None,
        })
        .collect()
}

fn notices(actions: &[Action]) -> Vec<Notice> {
    host_tasks(actions)
        .into_iter()
        .filter_map(|(_, work)| match work {
            HostTask::Notify(notice) => Some(notice),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_daemon_serves_its_plan_and_is_ready() {
    let mut daemon = daemon();
    let actions = actions(&mut daemon);
    assert!(matches!(actions[0], Action::Serve(_)));
    assert_eq!(notices(&actions), [Notice::Ready]);
}

#[test]
fn a_scrape_connects_to_every_server_and_a_dead_one_answers_the_peer() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let job = Job::Scrape(ScrapeJob {
        timeout: None,
        format: Format::Text,
    });
    daemon.handle_job(now, PeerId(4), job);
    let connects = connects(actions(&mut daemon));
    assert_eq!(connects.len(), 2, "one connection per server");
    for (conn, _) in &connects {
        daemon.handle_link(now, *conn, LinkEvent::ConnectFailed("refused".into()));
    }
    let answered = actions(&mut daemon);
    let result = answered.iter().find_map(|action| match action {
        Action::Answer {
            peer: PeerId(4),
            answer: Answer::Scrape(bodies),
        } => Some(bodies.result()),
        _ => None,
    });
    let result = result.expect("the waiting peer gets the result");
    assert!(result.servers.iter().all(|server| !server.active));
}

#[test]
fn readiness_waits_for_a_scrape_and_names_the_servers_when_none_answered() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    daemon.handle_job(now, PeerId(6), Job::Readiness);
    let connects = connects(actions(&mut daemon));
    assert_eq!(connects.len(), 2, "no scrape yet: readiness starts one");
    for (conn, _) in &connects {
        daemon.handle_link(now, *conn, LinkEvent::ConnectFailed("refused".into()));
    }
    let answered = actions(&mut daemon);
    let body = answered.iter().find_map(|action| match action {
        Action::Answer {
            peer: PeerId(6),
            answer: Answer::Rendered(Some(body)),
        } => Some(body.clone()),
        _ => None,
    });
    assert_eq!(
        body.as_deref(),
        Some(&b"not ready: no server answered its last scrape (primary, replica)\n"[..])
    );
}

#[test]
fn ping_and_status_are_answered_at_once() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    daemon.handle_job(now, PeerId(1), request(Command::Status, json!({})));
    let answer = answer_to(PeerId(1), &actions(&mut daemon)).expect("an answer");
    let response = answer.response.unwrap();
    assert_eq!(response["NumberOfServers"], json!(2));
    assert_eq!(response["Servers"][1]["Server"], json!("replica"));
}

#[test]
fn conf_set_builds_a_plan_then_answers_and_serves_it() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let set = json!({"ConfigKey": "log_level", "ConfigValue": "debug2"});
    daemon.handle_job(now, PeerId(1), request(Command::ConfSet, set));
    let first = actions(&mut daemon);
    assert!(
        answer_to(PeerId(1), &first).is_none(),
        "not before the plan"
    );
    let tasks = host_tasks(&first);
    let [(task, HostTask::BuildPlan(candidate))] = tasks.as_slice() else {
        panic!("one plan to build: {:?}", tasks.len());
    };
    assert_eq!(candidate.string_value("log_level").unwrap(), "debug2");
    let built = plan(candidate);
    daemon.handle_host(now, *task, HostResult::Plan(Ok(Box::new(built))));
    let second = actions(&mut daemon);
    assert!(
        second
            .iter()
            .any(|action| matches!(action, Action::Serve(_)))
    );
    let answer = answer_to(PeerId(1), &second).expect("the answer follows the plan");
    assert_eq!(answer.response.unwrap()["status"], json!("success"));
    assert_eq!(daemon.config().string_value("log_level").unwrap(), "debug2");
}

#[test]
fn a_plan_that_cannot_be_built_keeps_the_running_configuration() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let set = json!({"ConfigKey": "log_level", "ConfigValue": "debug2"});
    daemon.handle_job(now, PeerId(1), request(Command::ConfSet, set));
    let tasks = host_tasks(&actions(&mut daemon));
    let [(task, _)] = tasks.as_slice() else {
        panic!("one task");
    };
    let failed = HostResult::Plan(Err("cannot read /ca.pem".into()));
    daemon.handle_host(now, *task, failed);
    let answer = answer_to(PeerId(1), &actions(&mut daemon)).unwrap();
    assert_eq!(
        answer.outcome,
        Some(Outcome::failure(ErrorCode::ConfSetError))
    );
    assert_eq!(daemon.config().string_value("log_level").unwrap(), "info");
}

#[test]
fn changes_are_decided_one_at_a_time_in_order() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let first = json!({"ConfigKey": "log_level", "ConfigValue": "debug2"});
    let second = json!({"ConfigKey": "log_level", "ConfigValue": "debug2"});
    daemon.handle_job(now, PeerId(1), request(Command::ConfSet, first));
    daemon.handle_job(now, PeerId(2), request(Command::ConfSet, second));
    daemon.handle_job(now, PeerId(3), request(Command::Ping, json!({})));
    let waiting = actions(&mut daemon);
    assert_eq!(
        host_tasks(&waiting).len(),
        1,
        "the second waits for the first"
    );
    assert!(answer_to(PeerId(3), &waiting).is_none(), "in arrival order");
    let (task, HostTask::BuildPlan(candidate)) = host_tasks(&waiting).remove(0) else {
        panic!("a plan");
    };
    daemon.handle_host(now, task, HostResult::Plan(Ok(Box::new(plan(&candidate)))));
    let done = actions(&mut daemon);
    assert_eq!(
        answer_to(PeerId(1), &done).unwrap().response.unwrap()["status"],
        json!("success")
    );
    assert_eq!(
        answer_to(PeerId(2), &done).unwrap().response.unwrap()["status"],
        json!("no_change"),
        "decided on the configuration the first left"
    );
    assert!(answer_to(PeerId(3), &done).is_some());
}

#[test]
fn sighup_reads_the_file_builds_the_plan_and_tells_the_service_manager() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    daemon.handle_signal(now, Signal::Reload);
    let first = actions(&mut daemon);
    assert_eq!(notices(&first), [Notice::Reloading]);
    let read = host_tasks(&first)
        .into_iter()
        .find(|(_, work)| matches!(work, HostTask::ReadConfig))
        .expect("the file is read");
    let file = config(&CONFIG.replace("metrics = 5002", "metrics = 5002\nlog_level = warn"));
    daemon.handle_host(now, read.0, HostResult::Config(Ok(Box::new(file))));
    let second = actions(&mut daemon);
    let tasks = host_tasks(&second);
    let [(task, HostTask::BuildPlan(candidate))] = tasks.as_slice() else {
        panic!("a plan to build");
    };
    daemon.handle_host(now, *task, HostResult::Plan(Ok(Box::new(plan(candidate)))));
    let third = actions(&mut daemon);
    assert_eq!(notices(&third), [Notice::Ready]);
    assert_eq!(daemon.config().string_value("log_level").unwrap(), "warn");
}

#[test]
fn sighup_with_a_removed_server_is_refused_and_scrapes_go_on() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let scrape = || {
        Job::Scrape(ScrapeJob {
            timeout: None,
            format: Format::Text,
        })
    };
    daemon.handle_job(now, PeerId(1), scrape());
    let conns: Vec<ConnId> = actions(&mut daemon)
        .into_iter()
        .filter_map(|action| match action {
            Action::Link(LinkAction::Connect { conn, .. }) => Some(conn),
            _ => None,
        })
        .collect();
    daemon.handle_signal(now, Signal::Reload);
    let (read, _) = host_tasks(&actions(&mut daemon))
        .into_iter()
        .find(|(_, work)| matches!(work, HostTask::ReadConfig))
        .unwrap();
    let without_replica = CONFIG.split("[replica]").next().unwrap().to_owned();
    let file = Box::new(config(&without_replica));
    daemon.handle_host(now, read, HostResult::Config(Ok(file)));
    let refused = actions(&mut daemon);
    assert!(
        host_tasks(&refused)
            .iter()
            .all(|(_, work)| !matches!(work, HostTask::BuildPlan(_)))
    );
    assert_eq!(notices(&refused), [Notice::Ready]);
    for conn in conns {
        daemon.handle_link(now, conn, LinkEvent::ConnectFailed("refused".into()));
    }
    let answered = actions(&mut daemon);
    assert!(answered.iter().any(|action| matches!(
        action,
        Action::Answer {
            peer: PeerId(1),
            answer: Answer::Scrape(_)
        }
    )));
}

#[test]
fn a_plan_without_a_server_ends_its_connections_and_ignores_their_late_events() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    daemon.handle_job(
        now,
        PeerId(1),
        Job::Scrape(ScrapeJob {
            timeout: None,
            format: Format::Text,
        }),
    );
    let conns: Vec<ConnId> = actions(&mut daemon)
        .into_iter()
        .filter_map(|action| match action {
            Action::Link(LinkAction::Connect { conn, .. }) => Some(conn),
            _ => None,
        })
        .collect();
    let without_replica = config(CONFIG.split("[replica]").next().unwrap());
    let smaller = plan(&without_replica);
    daemon.install(now, without_replica, smaller);
    let after = actions(&mut daemon);
    let closed = after
        .iter()
        .filter(|action| {
            matches!(
                action,
                Action::Link(LinkAction::Command {
                    command: LinkCommand::Close,
                    ..
                })
            )
        })
        .count();
    assert_eq!(closed, conns.len(), "every old connection ends");
    for conn in &conns {
        daemon.handle_link(now, *conn, LinkEvent::Connected);
        daemon.handle_link(
            now,
            *conn,
            LinkEvent::Input(bytes::Bytes::from_static(b"R")),
        );
    }
    assert!(
        actions(&mut daemon)
            .iter()
            .all(|action| !matches!(action, Action::Link(_))),
        "late events of forgotten connections change nothing"
    );
}

#[test]
fn shutdown_is_answered_before_the_daemon_stops() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    daemon.handle_job(now, PeerId(9), request(Command::Shutdown, json!({})));
    let actions = actions(&mut daemon);
    let answer = actions
        .iter()
        .position(|action| matches!(action, Action::Answer { .. }))
        .unwrap();
    let stop = actions
        .iter()
        .position(|action| matches!(action, Action::Shutdown { .. }))
        .unwrap();
    assert!(answer < stop);
    assert_eq!(notices(&actions), [Notice::Stopping]);
}

/// The rendered answer to `peer` among `actions`.
fn rendered_to(peer: PeerId, actions: &[Action]) -> Option<Option<bytes::Bytes>> {
    actions.iter().find_map(|action| match action {
        Action::Answer {
            peer: to,
            answer: Answer::Rendered(body),
        } if *to == peer => Some(body.clone()),
        _ => None,
    })
}

#[test]
fn a_probe_connects_to_its_server_only_and_a_dead_one_is_no_answer() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let probe = |target: &str| {
        Job::Probe(crate::serve::ProbeJob {
            target: target.to_owned(),
            timeout: None,
            format: Format::Text,
        })
    };
    daemon.handle_job(now, PeerId(1), probe("elsewhere"));
    assert_eq!(rendered_to(PeerId(1), &actions(&mut daemon)), Some(None));
    daemon.handle_job(now, PeerId(2), probe("replica"));
    let connects = connects(actions(&mut daemon));
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].1.address.to_string(), "localhost:5433");
    daemon.handle_link(
        now,
        connects[0].0,
        LinkEvent::ConnectFailed("refused".into()),
    );
    assert_eq!(
        rendered_to(PeerId(2), &actions(&mut daemon)),
        Some(None),
        "503: Prometheus records the target down"
    );
}

#[test]
fn bridge_jobs_fetch_every_endpoint_and_answer_text_and_json() {
    let now = crate::test_clock::origin();
    let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nbridge = 5010\nbridge_json = 5011\n\
                bridge_endpoints = e0:9100, e1:9100\nbridge_cache_max_age = 0\n";
    let mut daemon = daemon_of(text, now, Arc::new(|| 1_700_000_000));
    actions(&mut daemon);
    for (peer, view) in [(1, BridgeView::Text), (2, BridgeView::Json)] {
        let job = Job::Bridge(crate::serve::BridgeJob {
            timeout: None,
            view,
        });
        daemon.handle_job(now, PeerId(peer), job);
    }
    let conns: Vec<(ConnId, String)> = connects(actions(&mut daemon))
        .into_iter()
        .map(|(conn, target)| (conn, target.address.to_string()))
        .collect();
    assert_eq!(conns.len(), 2, "both requests share one fetch per endpoint");
    assert!(
        conns
            .iter()
            .all(|(conn, _)| conn.owner() == LinkOwner::Bridge)
    );
    daemon.handle_link(now, conns[0].0, LinkEvent::Connected);
    actions(&mut daemon);
    let body = "# TYPE up gauge\nup 1\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    daemon.handle_link(now, conns[0].0, LinkEvent::Input(response.into()));
    daemon.handle_link(now, conns[1].0, LinkEvent::ConnectFailed("refused".into()));
    let answered = actions(&mut daemon);
    let text = rendered_to(PeerId(1), &answered)
        .flatten()
        .expect("the text body");
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(
        text.contains(&format!("up{{endpoint=\"{}\"}} 1\n", conns[0].1)),
        "{text}"
    );
    assert!(text.contains(&format!(
        "pgexporter_bridge_endpoint_up{{endpoint=\"{}\"}} 0\n",
        conns[1].1
    )));
    let json = rendered_to(PeerId(2), &answered)
        .flatten()
        .expect("the JSON view");
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        json["up"]["Definitions"][0]["Values"][0]["Timestamp"],
        1_700_000_000
    );
}

#[test]
fn refused_logins_from_one_source_are_told_one_delay_apart() {
    let now = crate::test_clock::origin();
    let mut daemon = daemon();
    actions(&mut daemon);
    let loopback = Some(core::net::IpAddr::from([127, 0, 0, 1]));
    let other = Some(core::net::IpAddr::from([192, 0, 2, 1]));
    let mut delays = Vec::new();
    for (peer, source) in [(1, loopback), (2, loopback), (3, other), (4, loopback)] {
        daemon.handle_job(now, PeerId(peer), Job::LoginRefused { source });
        for action in actions(&mut daemon) {
            if let Action::Answer {
                peer: to,
                answer: Answer::RefusalDelay(delay),
            } = action
            {
                delays.push((to.0, delay.as_secs()));
            }
        }
    }
    assert_eq!(delays, [(1, 1), (2, 2), (3, 1), (4, 3)]);
}
