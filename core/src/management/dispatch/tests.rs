use serde_json::json;

use super::*;
use crate::management::document;
use crate::management::fake_daemon::{CONFIG, FakeDaemon};

fn request(command: u32, arguments: serde_json::Value) -> Document {
    let mut header = Header::new(Command::Ping, Output::Json, "20261124235707");
    header.command = command;
    Document::request(header, arguments.as_object().unwrap().clone())
}

fn ask(daemon: &mut FakeDaemon, command: Command, arguments: serde_json::Value) -> Document {
    ask_over(daemon, command, arguments, Transport::Local)
}

fn ask_over(
    daemon: &mut FakeDaemon,
    command: Command,
    arguments: serde_json::Value,
    transport: Transport,
) -> Document {
    let request = request(command.code(), arguments);
    daemon.answer(&request, transport)
}

fn response_json(answer: &Document) -> String {
    let mut out = Vec::new();
    document::write_sorted(&mut out, &Value::Object(answer.response.clone().unwrap()));
    String::from_utf8(out).unwrap()
}

fn failure(answer: &Document) -> Option<ErrorCode> {
    match answer.outcome {
        Some(Outcome::Failure { error }) => ErrorCode::from_code(error),
        _ => None,
    }
}

#[test]
fn ping_answers_the_server_version() {
    let answer = ask(&mut FakeDaemon::new(), Command::Ping, json!({}));
    assert_eq!(response_json(&answer), r#"{"ServerVersion":"0.9.0"}"#);
    assert_eq!(
        answer.outcome,
        Some(Outcome::Success {
            time: "00:00:00".into()
        })
    );
    assert_eq!(answer.header.timestamp, "20261124235707");
    assert_eq!(answer.header.command, 5);
}

#[test]
fn status_and_details() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(&mut daemon, Command::Status, json!({}));
    assert_eq!(
        response_json(&answer),
        r#"{"NumberOfServers":1,"ServerVersion":"0.9.0","Servers":[{"Active":false,"Server":"primary"}]}"#
    );
    let answer = ask(&mut daemon, Command::StatusDetails, json!({}));
    assert_eq!(
        response_json(&answer),
        r#"{"NumberOfServers":1,"PgexporterFips":false,"ServerVersion":"0.9.0","Servers":[{"Active":false,"Fips":false,"Server":"primary"}]}"#
    );
}

#[test]
fn shutdown_and_clear_are_carried_out() {
    let mut daemon = FakeDaemon::new();
    assert!(
        ask(&mut daemon, Command::Shutdown, json!({}))
            .outcome
            .unwrap()
            .is_success()
    );
    assert_eq!(daemon.shutdowns, 1);
    let answer = ask(&mut daemon, Command::ClearPrometheus, json!({}));
    assert!(answer.outcome.unwrap().is_success());
    assert_eq!(daemon.clears, 1);
}

#[test]
fn conf_ls_lists_the_paths() {
    let answer = ask(&mut FakeDaemon::new(), Command::ConfLs, json!({}));
    assert_eq!(
        response_json(&answer),
        r#"{"ServerVersion":"0.9.0","admin_configuration_path":"","main_configuration_path":"/etc/pgexporter/pgexporter.conf","users_configuration_path":"/etc/pgexporter/pgexporter_users.conf"}"#
    );
}

#[test]
fn conf_get_lists_every_key_and_server() {
    let answer = ask(&mut FakeDaemon::new(), Command::ConfGet, json!({}));
    let response = answer.response.unwrap();
    assert_eq!(
        response["blocking_timeout"],
        json!({"string_value": "30s", "value": 30})
    );
    assert_eq!(response["server"]["primary"]["host"], json!("localhost"));
    assert_eq!(response["ServerVersion"], json!("0.9.0"));
}

#[test]
fn unknown_and_local_tool_commands_fail_with_code_2() {
    let mut daemon = FakeDaemon::new();
    for code in [0, 1, 11, 17, 18, 9999] {
        let answer = daemon.answer(&request(code, json!({})), Transport::Local);
        assert_eq!(failure(&answer), Some(ErrorCode::UnknownCommand), "{code}");
    }
}

#[test]
fn bad_payload_answer() {
    let answer = bad_payload("t");
    assert_eq!(failure(&answer), Some(ErrorCode::BadPayload));
    let json = String::from_utf8(answer.to_json()).unwrap();
    assert!(json.ends_with(r#""Outcome":{"Error":1,"Status":false},"Request":{}}"#));
}

#[test]
fn conf_set_live_key_is_applied() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(
        &mut daemon,
        Command::ConfSet,
        json!({"ConfigKey": "log_level", "ConfigValue": "debug2"}),
    );
    assert!(answer.outcome.as_ref().unwrap().is_success());
    assert_eq!(
        response_json(&answer),
        r#"{"ServerVersion":"0.9.0","config_key":"log_level","message":"'log_level' changed to 'debug2'","new_value":"debug2","old_value":"info","requested_value":"debug2","restart_required":false,"status":"success"}"#
    );
    assert_eq!(daemon.applied.len(), 1);
    assert_eq!(daemon.config.string_value("log_level").unwrap(), "debug2");
}

#[test]
fn conf_set_server_key_and_env_expansion() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(
        &mut daemon,
        Command::ConfSet,
        json!({"ConfigKey": "server.primary.tls_ca_file", "ConfigValue": "$HOME/ca.pem"}),
    );
    assert!(answer.outcome.unwrap().is_success());
    assert_eq!(
        daemon
            .config
            .server("primary")
            .unwrap()
            .tls_ca_file
            .as_deref(),
        Some("/home/pg/ca.pem")
    );
}

#[test]
fn conf_set_same_value_is_no_change() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(
        &mut daemon,
        Command::ConfSet,
        json!({"ConfigKey": "pgexporter.log_level", "ConfigValue": "INFO"}),
    );
    assert!(answer.outcome.as_ref().unwrap().is_success());
    assert_eq!(answer.response.unwrap()["status"], json!("no_change"));
    assert!(daemon.applied.is_empty());
}

#[test]
fn conf_set_restart_key_is_not_applied() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(
        &mut daemon,
        Command::ConfSet,
        json!({"ConfigKey": "metrics", "ConfigValue": "6000"}),
    );
    assert_eq!(failure(&answer), Some(ErrorCode::ConfSetRequiresRestart));
    let response = answer.response.unwrap();
    assert_eq!(response["status"], json!("restart_required"));
    assert_eq!(response["restart_required"], json!(true));
    assert_eq!(response["old_value"], json!("5002"));
    assert_eq!(response["new_value"], json!("6000"));
    assert!(daemon.applied.is_empty());
    assert_eq!(daemon.config.main.metrics, Some(5002));
}

#[test]
fn conf_set_errors() {
    let cases = [
        (json!({}), ErrorCode::ConfSetNoRequest),
        (
            json!({"ConfigKey": "log_level"}),
            ErrorCode::ConfSetMissingKeyOrValue,
        ),
        (
            json!({"ConfigValue": "x"}),
            ErrorCode::ConfSetMissingKeyOrValue,
        ),
        (
            json!({"ConfigKey": "log_level", "ConfigValue": 3}),
            ErrorCode::ConfSetMissingKeyOrValue,
        ),
        (
            json!({"ConfigKey": "no_such_key", "ConfigValue": "1"}),
            ErrorCode::ConfSetUnknownKey,
        ),
        (
            json!({"ConfigKey": "replica.port", "ConfigValue": "1"}),
            ErrorCode::ConfSetUnknownServer,
        ),
        (
            json!({"ConfigKey": "blocking_timeout", "ConfigValue": "soon"}),
            ErrorCode::ConfSetInvalidValue,
        ),
        (
            json!({"ConfigKey": "metrics_query_timeout", "ConfigValue": "10ms"}),
            ErrorCode::ConfSetInvalidValue,
        ),
    ];
    for (arguments, expected) in cases {
        let mut daemon = FakeDaemon::new();
        let answer = ask(&mut daemon, Command::ConfSet, arguments.clone());
        assert_eq!(failure(&answer), Some(expected), "{arguments}");
        assert!(daemon.applied.is_empty());
    }
}

#[test]
fn conf_reload_applies_live_changes() {
    let mut daemon = FakeDaemon::new();
    daemon.file = Ok(CONFIG.replace("metrics = 5002", "metrics = 5002\nlog_level = warn"));
    let answer = ask(&mut daemon, Command::ConfReload, json!({}));
    assert!(answer.outcome.as_ref().unwrap().is_success());
    let response = answer.response.unwrap();
    assert_eq!(response["status"], json!("success"));
    assert_eq!(response["restart_required"], json!(false));
    assert_eq!(daemon.config.string_value("log_level").unwrap(), "warn");
}

#[test]
fn conf_reload_without_change_reads_the_users_file_again() {
    let mut daemon = FakeDaemon::new();
    let answer = ask(&mut daemon, Command::ConfReload, json!({}));
    assert_eq!(answer.response.unwrap()["status"], json!("no_change"));
    assert_eq!(daemon.applied.len(), 1, "the plan is built again");
}

#[test]
fn conf_reload_refused_when_the_users_file_cannot_be_read() {
    let mut daemon = FakeDaemon::new();
    daemon.refuse_apply = true;
    let before = daemon.config.clone();
    let answer = ask(&mut daemon, Command::ConfReload, json!({}));
    assert!(!answer.outcome.as_ref().unwrap().is_success());
    assert!(daemon.applied.is_empty());
    assert_eq!(daemon.config, before);
}

#[test]
fn conf_reload_refuses_restart_changes_as_a_whole() {
    let mut daemon = FakeDaemon::new();
    daemon.file = Ok(CONFIG
        .replace("metrics = 5002", "metrics = 5003\nlog_level = warn")
        .replace("port = 5432", "port = 5433"));
    let answer = ask(&mut daemon, Command::ConfReload, json!({}));
    assert_eq!(failure(&answer), Some(ErrorCode::ConfSetRequiresRestart));
    let response = answer.response.unwrap();
    assert_eq!(response["restart_required"], json!(true));
    assert_eq!(
        response["message"],
        json!("reload refused, a restart is required for: metrics, primary.port")
    );
    assert!(daemon.applied.is_empty());
}

#[test]
fn conf_reload_of_a_broken_file_keeps_the_running_one() {
    let mut daemon = FakeDaemon::new();
    daemon.file = Err("line 3: bad".into());
    let answer = ask(&mut daemon, Command::ConfReload, json!({}));
    assert_eq!(failure(&answer), Some(ErrorCode::ConfSetError));
    assert!(daemon.applied.is_empty());
}

#[test]
fn a_change_that_cannot_be_applied_keeps_the_running_config() {
    let mut daemon = FakeDaemon::new();
    daemon.refuse_apply = true;
    let set = ask(
        &mut daemon,
        Command::ConfSet,
        json!({"ConfigKey": "log_level", "ConfigValue": "warn"}),
    );
    assert_eq!(failure(&set), Some(ErrorCode::ConfSetError));
    daemon.file = Ok(CONFIG.replace("metrics = 5002", "metrics = 5002\nlog_level = warn"));
    let reload = ask(&mut daemon, Command::ConfReload, json!({}));
    assert_eq!(failure(&reload), Some(ErrorCode::ConfSetError));
    assert_eq!(daemon.config.string_value("log_level").unwrap(), "info");
}

#[test]
fn conf_reload_is_refused_over_remote_management() {
    let mut daemon = FakeDaemon::new();
    daemon.file = Ok(CONFIG.replace("metrics = 5002", "metrics = 5002\nlog_level = warn"));
    let answer = ask_over(
        &mut daemon,
        Command::ConfReload,
        json!({}),
        Transport::Remote,
    );
    assert_eq!(failure(&answer), Some(ErrorCode::ConfSetError));
    assert!(daemon.applied.is_empty());
    let local = ask_over(&mut daemon, Command::Ping, json!({}), Transport::Remote);
    assert!(local.outcome.unwrap().is_success());
}

/// The frame bytes of `json`, uncompressed and unencrypted.
fn plain_frame(json: &str) -> Vec<u8> {
    let mut expected = vec![0, 0];
    expected.extend_from_slice(&(json.len() as u32).to_be_bytes());
    expected.extend_from_slice(json.as_bytes());
    expected
}

/// Runs `command` from its request frame to its answer frame.
fn answer_frame(daemon: &mut FakeDaemon, command: Command) -> (Vec<u8>, Vec<u8>) {
    use super::super::frame;
    let request = Document::request(
        Header::new(command, Output::Text, "20261124235707"),
        Object::new(),
    );
    let mut request_frame = bytes::BytesMut::new();
    frame::encode(
        &mut request_frame,
        &request.to_json(),
        Compression::None,
        Encryption::None,
        None,
    )
    .unwrap();
    let sent = request_frame.to_vec();
    let received = frame::decode(&mut request_frame).unwrap().unwrap();
    let parsed = Document::parse(&frame::open(&received, None).unwrap()).unwrap();
    let mut answer = daemon.answer(&parsed, Transport::Local);
    answer.header.timestamp = "20261124235708".to_owned();
    let mut answer_frame = bytes::BytesMut::new();
    frame::encode(
        &mut answer_frame,
        &answer.to_json(),
        parsed.header.compression,
        parsed.header.encryption,
        None,
    )
    .unwrap();
    (sent, answer_frame.to_vec())
}

#[test]
fn ping_frames_golden_bytes() {
    let (request, answer) = answer_frame(&mut FakeDaemon::new(), Command::Ping);
    assert_eq!(
        request,
        plain_frame(
            r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235707"},"Request":{}}"#
        )
    );
    assert_eq!(&request[..6], b"\x00\x00\x00\x00\x00\x84");
    assert_eq!(
        answer,
        plain_frame(
            r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235708"},"Outcome":{"Status":true,"Time":"00:00:00"},"Request":{},"Response":{"ServerVersion":"0.9.0"}}"#
        )
    );
}

#[test]
fn status_frames_golden_bytes() {
    let (request, answer) = answer_frame(&mut FakeDaemon::new(), Command::Status);
    assert_eq!(
        request,
        plain_frame(
            r#"{"Header":{"ClientVersion":"0.9.0","Command":3,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235707"},"Request":{}}"#
        )
    );
    assert_eq!(
        answer,
        plain_frame(
            r#"{"Header":{"ClientVersion":"0.9.0","Command":3,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235708"},"Outcome":{"Status":true,"Time":"00:00:00"},"Request":{},"Response":{"NumberOfServers":1,"ServerVersion":"0.9.0","Servers":[{"Active":false,"Server":"primary"}]}}"#
        )
    );
}
