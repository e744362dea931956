//! Connecting the blocking PostgreSQL client to a fixture cluster.

use std::sync::Arc;
use std::time::Duration;

use crate::pg_client::{DriverError, PgClient, PgTarget};
use pgexporter_core::pg::{ConnectParams, Error, QueryError, TlsMode};
use pgexporter_core::secret::Secret;
use rustls::ClientConfig;

use crate::cluster::{PgCluster, Role};

/// How long a test connection may take to start; generous, since the machine may be busy.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Parameters logging in as `role` (with its password) into database `postgres`.
pub fn params(role: Role, tls: TlsMode) -> ConnectParams {
    ConnectParams {
        user: role.name.to_owned(),
        database: "postgres".to_owned(),
        password: role.password.map(|p| Secret::new(p.as_bytes().to_vec())),
        application_name: "pgexporter-tests".to_owned(),
        tls,
        options: Vec::new(),
        connect_timeout: CONNECT_TIMEOUT,
    }
}

/// The cluster's TCP address.
pub fn tcp(cluster: &PgCluster) -> PgTarget {
    PgTarget::Tcp {
        host: cluster.host().to_owned(),
        port: cluster.port(),
    }
}

/// The cluster's Unix socket.
pub fn unix(cluster: &PgCluster) -> PgTarget {
    PgTarget::Unix {
        socket_dir: cluster.socket_dir().to_path_buf(),
        port: cluster.port(),
    }
}

/// Connects as `role` over `target`, panicking with the error when that fails.
pub fn connect(
    target: &PgTarget,
    role: Role,
    tls: TlsMode,
    config: Option<Arc<ClientConfig>>,
) -> PgClient {
    PgClient::connect(target, params(role, tls), config)
        .unwrap_or_else(|e| panic!("{} cannot connect to {target}: {e}", role.name))
}

/// The SQLSTATE of a server error inside `error`, wherever the driver reported it.
pub fn sqlstate(error: &DriverError) -> Option<&str> {
    match error {
        DriverError::Connection {
            source: Error::Server(server),
            ..
        }
        | DriverError::Query(QueryError::Server(server)) => Some(server.code()),
        _ => None,
    }
}

/// The value of the only column of the only row of `sql`'s result.
pub fn single_value(client: &mut PgClient, sql: &str) -> Option<String> {
    let result = client.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(
        result.rows.len(),
        1,
        "{sql} returned {} rows",
        result.rows.len()
    );
    result.rows[0].get(0).map(str::to_owned)
}
