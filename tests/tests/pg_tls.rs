//! TLS modes `off`, `try` and `on` against servers with and without SSL, with and without CA
//! verification.
//!
//! The tests of this binary share two clusters (one with SSL, one without) kept in `OnceLock`s.
//! Statics are never dropped, so these clusters are stopped and removed by the fixture's watchdog
//! when the process exits.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pgexporter_core::pg::{Error, TlsMode};
use pgexporter_tests::client::{connect, params, single_value, tcp, unix};
use pgexporter_tests::cluster::{MONITOR_USER, SCRAM_USER, TRUST_USER};
use pgexporter_tests::pg_client::{DriverError, PgClient};
use pgexporter_tests::{ClusterOptions, PgCluster};
use pgexporter_tls::{TlsError, client_config};
use rustls::ClientConfig;

fn ssl_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        PgCluster::start(ClusterOptions {
            ssl: true,
            ..ClusterOptions::default()
        })
    })
}

fn plain_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| PgCluster::start(ClusterOptions::default()))
}

fn verifying(ca_file: PathBuf) -> Arc<ClientConfig> {
    client_config(&pgexporter_core::plan::ClientTlsFiles {
        ca_file: Some(ca_file),
        ..pgexporter_core::plan::ClientTlsFiles::default()
    })
    .expect("client configuration with a CA")
}

/// A CA that signed nothing these servers present.
fn unrelated_ca() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tls/testdata/other-ca.crt")
}

/// What the server says about this session's TLS.
fn server_sees_ssl(client: &mut PgClient) -> bool {
    let ssl = single_value(
        client,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    ssl.as_deref() == Some("t")
}

#[test]
fn off_against_an_ssl_server_stays_in_clear() {
    let mut client = connect(&tcp(ssl_cluster()), TRUST_USER, TlsMode::Off, None);
    assert!(!client.is_tls());
    assert!(!server_sees_ssl(&mut client));
}

#[test]
fn try_against_an_ssl_server_uses_tls() {
    let mut client = connect(&tcp(ssl_cluster()), SCRAM_USER, TlsMode::Try, None);
    assert!(client.is_tls());
    assert!(server_sees_ssl(&mut client));
    client.close().expect("terminate and close_notify");
}

#[test]
fn on_against_an_ssl_server_with_its_ca_verifies_the_chain() {
    let ca = ssl_cluster()
        .ca_file()
        .expect("the ssl cluster has a CA")
        .to_path_buf();
    let mut client = connect(
        &tcp(ssl_cluster()),
        MONITOR_USER,
        TlsMode::On,
        Some(verifying(ca)),
    );
    assert!(client.is_tls());
    assert!(server_sees_ssl(&mut client));
}

#[test]
fn on_with_a_wrong_ca_fails_on_the_certificate() {
    let config = Some(verifying(unrelated_ca()));
    let error = PgClient::connect(&tcp(ssl_cluster()), params(TRUST_USER, TlsMode::On), config)
        .expect_err("the chain does not lead to this CA");
    assert!(
        matches!(
            &error,
            DriverError::Tls {
                source: TlsError::Protocol(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                )),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("TLS"), "{error}");
}

#[test]
fn on_against_a_server_without_ssl_fails_clearly() {
    let error = PgClient::connect(&tcp(plain_cluster()), params(TRUST_USER, TlsMode::On), None)
        .expect_err("the server refuses TLS");
    assert!(
        matches!(
            error,
            DriverError::Connection {
                source: Error::TlsRefused,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("does not accept TLS"), "{error}");
}

#[test]
fn try_against_a_server_without_ssl_falls_back_to_clear() {
    let mut client = connect(&tcp(plain_cluster()), SCRAM_USER, TlsMode::Try, None);
    assert!(!client.is_tls());
    assert!(!server_sees_ssl(&mut client));
}

#[test]
fn try_over_the_unix_socket_falls_back_to_clear() {
    let mut client = connect(&unix(ssl_cluster()), TRUST_USER, TlsMode::Try, None);
    assert!(!client.is_tls());
    assert_eq!(single_value(&mut client, "SELECT 1").as_deref(), Some("1"));
}

#[test]
fn queries_over_tls_return_large_results() {
    let mut client = connect(&tcp(ssl_cluster()), TRUST_USER, TlsMode::On, None);
    let result = client
        .query("SELECT n, repeat('x', 100) FROM generate_series(1, 5000) n")
        .expect("a result of about half a megabyte");
    assert_eq!(result.rows.len(), 5000);
    assert_eq!(result.rows[4999].get(0), Some("5000"));
    assert_eq!(result.rows[0].get(1).map(str::len), Some(100));
}
