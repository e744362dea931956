//! A primary and its streaming replica, in one call.
//!
//! The replica is a cold copy of the stopped primary's data directory with `standby.signal`
//! and a `primary_conninfo` pointing at the primary's Unix socket; it streams through the
//! physical slot [`STANDBY_SLOT`], so the primary keeps the WAL it needs.

use std::fs;
use std::process::Command;

use super::tools::run;
use super::watchdog::Watchdog;
use super::{ClusterOptions, PgCluster, SUPERUSER, append, fresh_directory};

/// The physical replication slot the replica streams from.
pub const STANDBY_SLOT: &str = "standby";

/// The replica's `application_name` on the primary (`pg_stat_replication`).
pub const STANDBY_NAME: &str = "standby";

/// Settings of a primary that feeds a streaming replica and can decode logically.
const PRIMARY_SETTINGS: [&str; 3] = [
    "wal_level = logical",
    "max_wal_senders = 10",
    "max_replication_slots = 10",
];

impl PgCluster {
    /// Starts a primary with `options` (`wal_level = logical`) and a streaming replica of it,
    /// and returns both once the replica accepts connections. Panics with the server log
    /// when either does not come up.
    pub fn start_primary_and_replica(options: ClusterOptions) -> (PgCluster, PgCluster) {
        let mut primary_options = options;
        primary_options
            .settings
            .extend(PRIMARY_SETTINGS.iter().map(|line| (*line).to_owned()));
        let mut primary = PgCluster::start(primary_options);
        primary.psql(&format!(
            "SELECT pg_create_physical_replication_slot('{STANDBY_SLOT}')"
        ));
        primary.stop();
        let mut replica = primary.cold_copy_as_standby();
        primary.start_again();
        replica.start_on_a_free_port();
        (primary, replica)
    }

    /// Whether the replica started with this primary streams from it: `pg_stat_replication`
    /// shows [`STANDBY_NAME`] in state `streaming`.
    pub fn replica_streams(&self) -> bool {
        self.psql(&format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}' \
             AND state = 'streaming'"
        ))
        .trim()
            == "1"
    }

    /// A new cluster directory holding a copy of this stopped cluster's data, set up to stream
    /// from it; not started.
    fn cold_copy_as_standby(&self) -> PgCluster {
        let dir = fresh_directory();
        self.tools.give_away(&dir);
        let mut replica = PgCluster {
            tools: self.tools.clone(),
            dir,
            port: 0,
            ca_file: self.ca_file.clone(),
            running: false,
            watchdog: None,
        };
        replica.watchdog = Some(Watchdog::spawn(
            replica.pg_ctl_stop_immediate(),
            &replica.dir,
        ));
        // `cp -a` keeps modes and, when running as root, the postgres ownership.
        let mut copy = Command::new("cp");
        copy.arg("-a").arg(self.data_dir()).arg(replica.data_dir());
        run(&mut copy, "cp -a (copying the primary's data directory)");
        append(
            &replica.data_dir().join("postgresql.conf"),
            &format!(
                "\n# streaming replica of {primary}\n\
                 unix_socket_directories = '{dir}'\n\
                 primary_conninfo = 'host={primary} port={port} user={SUPERUSER} application_name={STANDBY_NAME}'\n\
                 primary_slot_name = '{STANDBY_SLOT}'\n\
                 hot_standby = on\n",
                primary = self.dir.display(),
                dir = replica.dir.display(),
                port = self.port,
            ),
        );
        let signal = replica.data_dir().join("standby.signal");
        fs::write(&signal, "").unwrap_or_else(|e| panic!("cannot write {}: {e}", signal.display()));
        replica.tools.give_away(&signal);
        replica
    }
}
