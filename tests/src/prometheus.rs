//! A real Prometheus server (Debian's `prometheus`) scraping exporters, and its HTTP query API.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::http_client;

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Prometheus::eventually`] waits for a query to give the expected answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(90);

/// One sample of a query's result vector: its labels and value.
pub type QuerySample = (serde_json::Map<String, serde_json::Value>, f64);

/// A running Prometheus with its own configuration and storage directory; stopped and removed
/// on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on a free port of 127.0.0.1, scraping `target` (`host:port`) every
    /// `interval` with its default scrape settings (the default `Accept` header included), and
    /// waits until it is ready. Panics, saying what to install, when `prometheus` is missing.
    pub fn start(target: SocketAddr, interval: Duration) -> Prometheus {
        let job = format!(
            "  - job_name: pgexporter\n    static_configs:\n      - targets: ['{target}']\n"
        );
        Prometheus::with_scrape_configs(&job, interval)
    }

    /// Starts Prometheus with `scrape_configs` (the YAML list items under `scrape_configs:`,
    /// indented by two spaces), scraping every `interval` with a timeout of the same length.
    pub fn with_scrape_configs(scrape_configs: &str, interval: Duration) -> Prometheus {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pgexporter-prometheus-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data")).expect("create the Prometheus directory");
        let config = format!(
            "global:\n  scrape_interval: {seconds}s\n  scrape_timeout: {seconds}s\n\
             scrape_configs:\n{scrape_configs}",
            seconds = interval.as_secs().max(1),
        );
        fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("prometheus.log")).expect("the log file"))
            .spawn()
            .unwrap_or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    panic!("`prometheus` not found: install the Debian package prometheus")
                }
                _ => panic!("cannot start prometheus: {e}"),
            });
        let mut prometheus = Prometheus {
            child,
            address,
            dir,
        };
        prometheus.wait_until_ready();
        prometheus
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll prometheus") {
                panic!("prometheus exited with {status}: {}", self.log());
            }
            if std::net::TcpStream::connect(self.address).is_ok()
                && http_client::get(self.address, "/-/ready", &[]).status == 200
            {
                return;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "prometheus did not become ready: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prometheus's own log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Runs the instant PromQL query `promql` and returns the result vector's samples as
    /// (labels, value). Panics when the API answers an error.
    pub fn query(&self, promql: &str) -> Vec<QuerySample> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let response = http_client::get(self.address, &path, &[]);
        let body: serde_json::Value =
            serde_json::from_slice(&response.body).expect("the query API answers JSON");
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("a result vector")
            .iter()
            .map(|sample| {
                let labels = sample["metric"].as_object().cloned().unwrap_or_default();
                let value = sample["value"][1]
                    .as_str()
                    .and_then(|text| text.parse().ok())
                    .expect("a sample value");
                (labels, value)
            })
            .collect()
    }

    /// Runs `promql` until `expected` holds for its samples (as the scrapes come in), and
    /// returns them; panics with both logs after a generous wait. `context` is added to the
    /// panic message (an exporter's log, say).
    pub fn eventually(
        &self,
        promql: &str,
        expected: impl Fn(&[QuerySample]) -> bool,
        context: impl Fn() -> String,
    ) -> Vec<QuerySample> {
        let started = Instant::now();
        loop {
            let samples = self.query(promql);
            if expected(&samples) {
                return samples;
            }
            assert!(
                started.elapsed() < QUERY_TIMEOUT,
                "{promql} never gave the expected answer; last: {samples:?}\n\
                 prometheus: {}\n{}",
                self.log(),
                context()
            );
            thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The value of `label` in a query sample's labels.
pub fn label<'a>(sample: &'a QuerySample, label: &str) -> &'a str {
    sample
        .0
        .get(label)
        .and_then(|value| value.as_str())
        .unwrap_or_default()
}

/// `text` percent-encoded for a URL query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode("rate(x{a=\"b\"}[1m])"),
            "rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29"
        );
    }
}
