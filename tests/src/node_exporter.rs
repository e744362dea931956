//! Debian's `prometheus-node-exporter`, an exporter that is not pgexporter: what the bridge and
//! `type = prometheus` servers must aggregate as well.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::exporter::free_port;

/// How long the node exporter may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running node exporter on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct NodeExporter {
    child: Child,
    address: SocketAddr,
}

impl NodeExporter {
    /// Starts the node exporter on a free port with its default collectors and waits until it
    /// listens. Panics, saying what to install, when it is missing.
    pub fn start() -> NodeExporter {
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| match error.kind() {
                std::io::ErrorKind::NotFound => panic!(
                    "`prometheus-node-exporter` not found: install the Debian package prometheus-node-exporter"
                ),
                _ => panic!("cannot start prometheus-node-exporter: {error}"),
            });
        let mut exporter = NodeExporter { child, address };
        let started = Instant::now();
        while TcpStream::connect(address).is_err() {
            if let Some(status) = exporter.child.try_wait().expect("poll the node exporter") {
                panic!("prometheus-node-exporter exited with {status}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "prometheus-node-exporter did not listen on {address}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
