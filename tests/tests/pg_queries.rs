//! Queries through the blocking client against a real PostgreSQL: pipelines with failures,
//! NULLs, multi-row results, the server version, servers that go away mid-result, and a
//! CancelRequest.
//!
//! Most tests share one cluster kept in a `OnceLock` (stopped and removed by the fixture's
//! watchdog when the process exits, since statics are never dropped); the test that stops the
//! server starts its own.

use std::io::Write;
use std::net::TcpStream;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use pgexporter_core::pg::{CancelKey, QueryError, TlsMode};
use pgexporter_tests::client::{connect, params, single_value, sqlstate, tcp, unix};
use pgexporter_tests::cluster::{MONITOR_USER, SCRAM_USER, TRUST_USER};
use pgexporter_tests::pg_client::{DriverError, PgClient};
use pgexporter_tests::{ClusterOptions, PgCluster};

fn cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| PgCluster::start(ClusterOptions::default()))
}

/// What query `i` of the pipeline is, and what it must give.
enum Expected {
    Value(String),
    SqlState(&'static str),
}

fn pipeline_query(i: usize) -> (String, Expected) {
    match i % 5 {
        1 => ("SELECT 1 / 0".to_owned(), Expected::SqlState("22012")),
        3 => (
            "SELECT * FROM no_such_table".to_owned(),
            Expected::SqlState("42P01"),
        ),
        4 if i.is_multiple_of(2) => ("SELEC 1".to_owned(), Expected::SqlState("42601")),
        _ => (
            format!("SELECT {i} * 10"),
            Expected::Value((i * 10).to_string()),
        ),
    }
}

#[test]
fn a_pipeline_of_twenty_with_failures_gives_each_its_own_result() {
    let mut client = connect(&tcp(cluster()), SCRAM_USER, TlsMode::Off, None);
    let (queries, expected): (Vec<String>, Vec<Expected>) = (0..20).map(pipeline_query).unzip();
    let sql: Vec<&str> = queries.iter().map(String::as_str).collect();
    let results = client.pipeline(&sql);
    assert_eq!(results.len(), 20);
    let mut failures = 0;
    for (i, (result, expected)) in results.iter().zip(&expected).enumerate() {
        match (result, expected) {
            (Ok(result), Expected::Value(value)) => {
                assert_eq!(result.rows.len(), 1, "query {i}");
                assert_eq!(result.rows[0].get(0), Some(value.as_str()), "query {i}");
                assert_eq!(result.command_tag, "SELECT 1", "query {i}");
            }
            (Err(QueryError::Server(error)), Expected::SqlState(code)) => {
                assert_eq!(error.code(), *code, "query {i}: {error}");
                assert_eq!(error.severity(), "ERROR", "query {i}");
                assert!(!error.message().is_empty(), "query {i}");
                failures += 1;
            }
            (other, _) => panic!("query {i} ({}): unexpected {other:?}", sql[i]),
        }
    }
    assert!(failures >= 5, "only {failures} failing queries");
    assert_eq!(
        single_value(&mut client, "SELECT 'still usable'").as_deref(),
        Some("still usable")
    );
}

#[test]
fn a_failed_query_leaves_the_session_usable() {
    let mut client = connect(&unix(cluster()), TRUST_USER, TlsMode::Off, None);
    let error = client.query("SELECT 1 / 0").expect_err("division by zero");
    assert_eq!(sqlstate(&error), Some("22012"), "{error:?}");
    assert!(!client.is_closed());
    assert_eq!(single_value(&mut client, "SELECT 2").as_deref(), Some("2"));
}

#[test]
fn nulls_come_back_as_none() {
    let mut client = connect(&tcp(cluster()), TRUST_USER, TlsMode::Off, None);
    let result = client
        .query("SELECT NULL::int, '', 'x', NULL::text")
        .expect("one row");
    let row = &result.rows[0];
    assert_eq!(row.len(), 4);
    assert_eq!(row.get(0), None);
    assert_eq!(row.get(1), Some(""));
    assert_eq!(row.get(2), Some("x"));
    assert_eq!(row.get(3), None);
    assert_eq!(result.columns.len(), 4);
}

#[test]
fn multi_row_results_keep_their_order() {
    let mut client = connect(&tcp(cluster()), MONITOR_USER, TlsMode::Off, None);
    let result = client
        .query(
            "SELECT n, CASE WHEN n % 3 = 0 THEN NULL ELSE 'row ' || n END \
             FROM generate_series(1, 2000) n ORDER BY n",
        )
        .expect("2000 rows");
    assert_eq!(result.rows.len(), 2000);
    assert_eq!(result.command_tag, "SELECT 2000");
    for (i, row) in result.rows.iter().enumerate() {
        let n = i + 1;
        assert_eq!(row.get(0), Some(n.to_string().as_str()));
        let label = (n % 3 != 0).then(|| format!("row {n}"));
        assert_eq!(row.get(1), label.as_deref(), "row {n}");
    }
}

#[test]
fn statements_without_rows_report_their_tag() {
    let mut client = connect(&tcp(cluster()), TRUST_USER, TlsMode::Off, None);
    let result = client
        .query("SET application_name = 'renamed'")
        .expect("SET");
    assert!(result.rows.is_empty());
    assert_eq!(result.command_tag, "SET");
    assert_eq!(
        single_value(&mut client, "SHOW application_name").as_deref(),
        Some("renamed")
    );
}

#[test]
fn server_version_num_matches_show_server_version_num() {
    let mut client = connect(&tcp(cluster()), MONITOR_USER, TlsMode::Off, None);
    let shown = single_value(&mut client, "SHOW server_version_num").expect("not NULL");
    let shown: u32 = shown.parse().expect("a number");
    assert_eq!(client.connection().server_version_num(), Some(shown));
    assert!(shown >= 100_000, "{shown}");
}

/// The query thread's outcome (rows received, or why not) and its client.
type Streaming = thread::JoinHandle<(Result<usize, DriverError>, PgClient)>;

/// Starts, on another thread, a query that streams part of its rows and then sleeps for ten
/// minutes; returns once the backend is inside the sleep, with the thread and the backend's
/// cancel key (its pid and secret).
fn stream_then_sleep(cluster: &PgCluster, application_name: &str) -> (Streaming, CancelKey) {
    let mut parameters = params(TRUST_USER, TlsMode::Off);
    parameters.application_name = application_name.to_owned();
    let mut client = PgClient::connect(&tcp(cluster), parameters, None).expect("connect");
    let key = client
        .connection()
        .cancel_key()
        .expect("BackendKeyData arrived");
    let streaming = thread::spawn(move || {
        let outcome = client
            .query(
                "SELECT n, repeat('y', 200), CASE WHEN n = 500 THEN pg_sleep(600) END \
                 FROM generate_series(1, 1000) n",
            )
            .map(|result| result.rows.len());
        (outcome, client)
    });
    wait_for_sleep(cluster, key.process_id());
    (streaming, key)
}

/// Waits until backend `pid` is inside `pg_sleep`, having sent the rows before it.
fn wait_for_sleep(cluster: &PgCluster, pid: i32) {
    let sql = format!("SELECT wait_event FROM pg_stat_activity WHERE pid = {pid}");
    for _ in 0..600 {
        if cluster.psql(&sql).trim() == "PgSleep" {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("backend {pid} never reached pg_sleep");
}

#[test]
fn a_backend_terminated_mid_result_ends_with_a_clear_error() {
    let cluster = cluster();
    let (streaming, key) = stream_then_sleep(cluster, "terminated-mid-result");
    let pid = key.process_id();
    let terminated = cluster.psql(&format!("SELECT pg_terminate_backend({pid})"));
    assert_eq!(terminated.trim(), "t");
    let (outcome, client) = streaming.join().expect("the query thread does not panic");
    let error = outcome.expect_err("the backend was terminated");
    assert_eq!(sqlstate(&error), Some("57P01"), "{error:?}");
    assert!(
        error.to_string().contains("terminating connection"),
        "{error}"
    );
    assert!(client.is_closed());
}

#[test]
fn a_server_stopped_immediately_mid_result_ends_with_a_clear_error() {
    let mut cluster = PgCluster::start(ClusterOptions::default());
    let (streaming, _) = stream_then_sleep(&cluster, "crashed-mid-result");
    cluster.stop_immediately();
    let (outcome, client) = streaming.join().expect("the query thread does not panic");
    let error = outcome.expect_err("the server went away");
    assert!(client.is_closed());
    assert!(matches!(error, DriverError::Connection { .. }), "{error:?}");
}

#[test]
fn a_cancel_request_ends_the_running_query_and_keeps_the_session() {
    let cluster = cluster();
    let (streaming, key) = stream_then_sleep(cluster, "cancelled-mid-result");
    let mut packet = BytesMut::new();
    key.cancel_request(&mut packet);
    let mut socket = TcpStream::connect((cluster.host(), cluster.port())).expect("connect");
    socket.write_all(&packet).expect("send the CancelRequest");
    let (outcome, mut client) = streaming.join().expect("the query thread does not panic");
    let error = outcome.expect_err("the query was cancelled");
    assert_eq!(sqlstate(&error), Some("57014"), "{error:?}");
    assert!(!client.is_closed());
    assert_eq!(single_value(&mut client, "SELECT 3").as_deref(), Some("3"));
}
