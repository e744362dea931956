//! The blocking client logs in with every authentication method, over TCP and the Unix socket,
//! against a real PostgreSQL.
//!
//! The tests of this binary share one cluster kept in a `OnceLock`. Statics are never dropped,
//! so that cluster is stopped and removed by the fixture's watchdog when the process exits.

use std::sync::OnceLock;

use pgexporter_core::pg::{Error, TlsMode};
use pgexporter_core::secret::Secret;
use pgexporter_tests::client::{connect, params, single_value, sqlstate, tcp, unix};
use pgexporter_tests::cluster::{MD5_USER, PASSWORD_USER, ROLES, Role, SCRAM_USER, TRUST_USER};
use pgexporter_tests::pg_client::{DriverError, PgClient, PgTarget};
use pgexporter_tests::{ClusterOptions, PgCluster};

fn cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| PgCluster::start(ClusterOptions::default()))
}

fn logs_in_as_every_role(target: &PgTarget) {
    for role in ROLES {
        let mut client = connect(target, role, TlsMode::Off, None);
        assert!(client.connection().is_ready());
        assert_eq!(
            single_value(&mut client, "SELECT current_user").as_deref(),
            Some(role.name)
        );
        let key = client
            .connection()
            .cancel_key()
            .expect("BackendKeyData arrived");
        assert!(key.process_id() > 0);
        client.close().expect("terminate cleanly");
    }
}

#[test]
fn every_auth_method_logs_in_over_tcp() {
    logs_in_as_every_role(&tcp(cluster()));
}

#[test]
fn every_auth_method_logs_in_over_the_unix_socket() {
    logs_in_as_every_role(&unix(cluster()));
}

fn refused_with_wrong_password(role: Role, target: &PgTarget) {
    let mut wrong = params(role, TlsMode::Off);
    wrong.password = Some(Secret::new(b"not the password".to_vec()));
    let error = PgClient::connect(target, wrong, None).expect_err("a wrong password is refused");
    assert_eq!(sqlstate(&error), Some("28P01"), "{}: {error:?}", role.name);
    let message = error.to_string();
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(message.contains(role.name), "{message}");
    assert!(
        !message.contains("not the password"),
        "the password leaked: {message}"
    );
}

#[test]
fn wrong_password_is_refused_with_28p01_over_tcp() {
    for role in [PASSWORD_USER, MD5_USER, SCRAM_USER] {
        refused_with_wrong_password(role, &tcp(cluster()));
    }
}

#[test]
fn wrong_password_is_refused_with_28p01_over_the_unix_socket() {
    for role in [PASSWORD_USER, MD5_USER, SCRAM_USER] {
        refused_with_wrong_password(role, &unix(cluster()));
    }
}

#[test]
fn missing_password_is_reported_without_asking_the_server_twice() {
    for role in [PASSWORD_USER, MD5_USER, SCRAM_USER] {
        let mut without = params(role, TlsMode::Off);
        without.password = None;
        let error =
            PgClient::connect(&tcp(cluster()), without, None).expect_err("needs a password");
        assert!(
            matches!(
                error,
                DriverError::Connection {
                    source: Error::PasswordRequired,
                    ..
                }
            ),
            "{}: {error:?}",
            role.name
        );
    }
}

#[test]
fn unknown_role_is_refused_by_the_server() {
    let mut stranger = params(TRUST_USER, TlsMode::Off);
    stranger.user = "no_such_role".to_owned();
    let error = PgClient::connect(&tcp(cluster()), stranger, None).expect_err("no pg_hba line");
    assert_eq!(sqlstate(&error), Some("28000"), "{error:?}");
}

#[test]
fn nothing_listening_is_a_connect_error_naming_the_target() {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let target = PgTarget::Tcp {
        host: "127.0.0.1".to_owned(),
        port,
    };
    let error = PgClient::connect(&target, params(TRUST_USER, TlsMode::Off), None)
        .expect_err("nothing listens there");
    assert!(matches!(error, DriverError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}

#[test]
fn a_server_that_never_answers_times_out() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = listener.local_addr().expect("address").port();
    let target = PgTarget::Tcp {
        host: "127.0.0.1".to_owned(),
        port,
    };
    let mut silent = params(TRUST_USER, TlsMode::Off);
    silent.connect_timeout = std::time::Duration::from_millis(200);
    let error = PgClient::connect(&target, silent, None).expect_err("no answer");
    assert!(
        matches!(
            error,
            DriverError::Connection {
                source: Error::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    drop(listener);
}
