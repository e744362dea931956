//! The per-server connection cap: databases take turns within it.

use super::*;

/// Names of the databases besides `postgres`.
const NAMES: [&str; 12] = [
    "db1", "db2", "db3", "db4", "db5", "db6", "db7", "db8", "db9", "db10", "db11", "db12",
];

/// Databases `db1`... `db<count>` and `postgres`.
fn databases(count: usize) -> Vec<&'static str> {
    let mut names = NAMES[..count].to_vec();
    names.push("postgres");
    names
}

fn capped(servers: Vec<ScriptedServer>, cap: usize) -> Harness {
    let mut harness = Harness::new(servers);
    harness.use_settings(CollectorSettings {
        max_connections_per_server: cap,
        ..settings(Duration::ZERO)
    });
    harness
}

fn assert_every_database_reported(body: &str, count: usize) {
    for n in 1..=count {
        let line = format!(
            "pgexporter_tables_count{{server=\"s0\",schemaname=\"public\",database=\"db{n}\"}} 3\n"
        );
        assert!(body.contains(&line), "missing {line:?} in\n{body}");
    }
    assert!(body.contains("pgexporter_size_bytes{server=\"s0\",database=\"postgres\"} 42\n"));
}

#[test]
fn twelve_databases_take_turns_within_a_cap_of_three() {
    let mut harness = capped(vec![primary(databases(12))], 3);
    let result = harness.scrape();
    assert!(result.servers[0].active);
    assert_every_database_reported(&render(&result), 12);
    assert_eq!(harness.peak_connections, 3, "never more than the cap");
    assert_eq!(harness.connects, 13, "each database once");
    assert_eq!(
        harness.collector.connection_count(),
        3,
        "the last three are kept"
    );
}

#[test]
fn the_kept_connections_serve_their_databases_on_the_next_scrape() {
    let mut harness = capped(vec![primary(databases(12))], 3);
    harness.scrape();
    let connects = harness.connects;
    let result = harness.scrape();
    assert_every_database_reported(&render(&result), 12);
    assert_eq!(
        harness.connects - connects,
        10,
        "13 databases, 3 of them on kept connections"
    );
    assert_eq!(harness.peak_connections, 3);
}

#[test]
fn one_connection_collects_every_database_in_turn() {
    let mut harness = capped(vec![primary(databases(4))], 1);
    let result = harness.scrape();
    assert_every_database_reported(&render(&result), 4);
    assert_eq!(harness.peak_connections, 1);
    // The next scrape starts on the main database again, through the same single slot.
    let result = harness.scrape();
    assert_every_database_reported(&render(&result), 4);
    assert_eq!(harness.peak_connections, 1);
}

#[test]
fn each_server_has_a_cap_of_its_own() {
    let mut harness = capped(vec![primary(databases(5)), primary(databases(5))], 2);
    let result = harness.scrape();
    assert!(result.servers.iter().all(|server| server.active));
    assert_eq!(harness.peak_connections, 4, "two per server, both at once");
}

#[test]
fn under_the_cap_nothing_is_closed() {
    let mut harness = capped(vec![primary(databases(3))], 4);
    harness.scrape();
    harness.scrape();
    assert_eq!(harness.connects, 4);
    assert_eq!(harness.closes, 0);
}

#[test]
fn a_closed_session_frees_its_slot_only_once_the_server_has_closed_it() {
    let mut harness = capped(vec![primary(databases(4))], 2);
    harness.hold_server_closes = true;
    let (ticket, _) = harness.request(None);
    harness.run();
    // postgres and db1 were opened; db1 is done and terminated, its backend still exiting.
    assert_eq!(harness.connects, 2);
    assert_eq!(harness.exiting.len(), 1);
    assert_eq!(harness.collector.connection_count(), 2);
    for turn in 1..=3 {
        harness.close_exiting_sessions();
        assert_eq!(
            harness.connects,
            2 + turn,
            "one database more per closed session"
        );
        assert_eq!(
            harness.peak_connections, 2,
            "never more sessions than the cap"
        );
    }
    assert!(
        harness.exiting.is_empty(),
        "the last database keeps its connection"
    );
    assert_eq!(harness.answered, [ticket]);
    assert_every_database_reported(&render(&harness.finished[0]), 4);
}

#[test]
fn no_more_sessions_close_than_databases_wait() {
    let mut harness = capped(vec![primary(databases(3))], 3);
    harness.hold_server_closes = true;
    harness.request(None);
    harness.run();
    // db1 and db2 finished while db3 waited: one of them makes room, the other is kept.
    assert_eq!(harness.connects, 3);
    assert_eq!(harness.exiting.len(), 1);
    harness.close_exiting_sessions();
    assert_eq!(harness.connects, 4);
    assert_eq!(harness.closes, 1);
    assert_eq!(harness.collector.connection_count(), 3);
    assert_eq!(harness.peak_connections, 3);
}

#[test]
fn a_session_the_server_never_closes_frees_its_slot_at_the_terminate_deadline() {
    let mut harness = capped(vec![primary(databases(2))], 2);
    harness.hold_server_closes = true;
    harness.request(None);
    harness.run();
    assert_eq!(harness.connects, 2);
    let deadline = harness.now + crate::pg::TERMINATE_TIMEOUT;
    assert_eq!(harness.collector.poll_timeout(), Some(deadline));
    harness.now = deadline - Duration::from_millis(1);
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(harness.connects, 2, "still waiting for the server");
    harness.now = deadline;
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(harness.connects, 3, "db2 takes the slot");
    assert_eq!(harness.closes, 1);
    assert_eq!(harness.finished.len(), 1, "the scrape finished");
}

#[test]
fn shutdown_closes_the_sessions_still_closing() {
    let mut harness = capped(vec![primary(databases(2))], 2);
    harness.hold_server_closes = true;
    harness.request(None);
    harness.run();
    let [closing] = harness.exiting[..] else {
        panic!("one session closing: {:?}", harness.exiting);
    };
    harness.collector.shutdown(harness.now);
    let mut closed = Vec::new();
    while let Some(action) = harness.collector.poll_action() {
        if let Action::Command {
            conn,
            command: LinkCommand::Close,
        } = action
        {
            closed.push(conn);
        }
    }
    assert!(closed.contains(&closing), "{closed:?}");
    assert_eq!(harness.collector.connection_count(), 0);
    assert_eq!(harness.collector.poll_timeout(), None);
}
