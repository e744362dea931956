//! A cluster and a daemon with remote management, the fixture of the management tests.

use std::ffi::OsStr;
use std::process::Output;

use crate::cluster::PgCluster;

use super::{Exporter, ExporterHome, free_port};

/// The remote management admin of [`ManagedDaemon`].
pub const ADMIN: &str = "admin";
/// [`ADMIN`]'s password.
pub const ADMIN_PASSWORD: &str = "admin-secret-1";

/// A cluster and a daemon serving it with remote management on: the admins file holds
/// [`ADMIN`], `management` is a free port. Dropping it stops the daemon, then the cluster.
#[derive(Debug)]
pub struct ManagedDaemon {
    /// The running daemon.
    pub exporter: Exporter,
    /// Its directory, configuration and vault.
    pub home: ExporterHome,
    /// The cluster it scrapes.
    pub cluster: PgCluster,
    /// The remote management port.
    pub management: u16,
}

impl ManagedDaemon {
    /// Starts a cluster and a daemon whose `[pgexporter]` section also holds `extra`, in which
    /// `{dir}` stands for the home directory (for `log_path`, `pidfile`).
    pub fn start(extra: &str) -> ManagedDaemon {
        ManagedDaemon::start_with_env(extra, &[])
    }

    /// [`ManagedDaemon::start`] with extra environment variables for the daemon.
    pub fn start_with_env(extra: &str, env: &[(&str, &OsStr)]) -> ManagedDaemon {
        let cluster = PgCluster::start(Default::default());
        let home = ExporterHome::new();
        home.add_admin(ADMIN, ADMIN_PASSWORD);
        let management = free_port();
        let extra = extra.replace(
            "{dir}",
            home.dir().to_str().expect("temporary paths are UTF-8"),
        );
        let port = home.write_config(&cluster, &format!("management = {management}\n{extra}"));
        let admins = home.admins_file();
        let args = ["-A", admins.to_str().expect("temporary paths are UTF-8")];
        let exporter = Exporter::start_with_env(&home, port, &args, env);
        ManagedDaemon {
            exporter,
            home,
            cluster,
            management,
        }
    }

    /// Runs `pgexporter-cli -h 127.0.0.1 -p <management> -U admin -P <password> args` with the
    /// client environment `env`.
    pub fn cli_remote(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        let port = self.management.to_string();
        let mut all = vec![
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            ADMIN,
            "-P",
            ADMIN_PASSWORD,
        ];
        all.extend_from_slice(args);
        self.home.cli(&all, env)
    }
}
