//! The fixture itself against a real PostgreSQL: start-up, roles, TLS, restart, cleanup.

use pgexporter_tests::cluster::{MD5_USER, MONITOR_USER, ROLES};
use pgexporter_tests::{ClusterOptions, PgCluster};

#[test]
fn starts_with_every_role_and_pg_stat_statements() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let roles = cluster.psql("SELECT rolname FROM pg_roles WHERE rolcanlogin ORDER BY rolname");
    for role in ROLES {
        assert!(
            roles.lines().any(|line| line == role.name),
            "{} missing from {roles}",
            role.name
        );
    }
    let preload = cluster.psql("SHOW shared_preload_libraries");
    assert_eq!(preload.trim(), "pg_stat_statements");
    let statements = cluster.psql("SELECT count(*) >= 0 FROM pg_stat_statements");
    assert_eq!(statements.trim(), "t");
    let monitor = cluster.psql(&format!(
        "SELECT pg_has_role('{}', 'pg_monitor', 'MEMBER')",
        MONITOR_USER.name
    ));
    assert_eq!(monitor.trim(), "t");
    let md5 = cluster.psql(&format!(
        "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = '{}'",
        MD5_USER.name
    ));
    assert_eq!(md5.trim(), "md5");
    assert!(
        cluster
            .socket_dir()
            .join(format!(".s.PGSQL.{}", cluster.port()))
            .exists()
    );
    assert_eq!(cluster.ca_file(), None);
}

#[test]
fn ssl_cluster_exposes_its_ca_and_serves_tls() {
    let cluster = PgCluster::start(ClusterOptions {
        ssl: true,
        ..ClusterOptions::default()
    });
    assert_eq!(cluster.psql("SHOW ssl").trim(), "on");
    let ca = cluster.ca_file().expect("an ssl cluster has a CA file");
    let pem = std::fs::read_to_string(ca).expect("read the CA file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
}

#[test]
fn stops_and_starts_again_on_the_same_port_with_the_same_data_also_after_a_crash() {
    let mut cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)");
    let port = cluster.port();
    cluster.stop();
    assert!(
        !cluster
            .socket_dir()
            .join(format!(".s.PGSQL.{port}"))
            .exists()
    );
    cluster.start_again();
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.psql("SELECT n FROM kept").trim(), "42");
    cluster.stop_immediately();
    cluster.start_again();
    assert_eq!(
        cluster.psql("SELECT n FROM kept").trim(),
        "42",
        "lost after crash recovery"
    );
}

#[test]
fn drop_stops_the_server_and_removes_the_directory() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let dir = cluster.socket_dir().to_path_buf();
    let port = cluster.port();
    drop(cluster);
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open"
    );
}

#[test]
fn drop_cleans_up_after_a_panicking_test() {
    let dir = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let cluster = PgCluster::start(ClusterOptions::default());
        *dir.lock().expect("lock") = Some(cluster.socket_dir().to_path_buf());
        panic!("the test failed");
    });
    assert!(outcome.is_err());
    let dir = dir
        .into_inner()
        .expect("lock")
        .expect("the cluster started");
    assert!(!dir.exists(), "{} is still there", dir.display());
}
