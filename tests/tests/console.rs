//! The web console against a running exporter and real PostgreSQL: its HTTP answers and `/api`,
//! then the page in headless Chromium: a known metric's value in the table, search, the server
//! filter, the theme, and a label value holding HTML shown as text. A screenshot is written to
//! `target/console.png`.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use pgexporter_core::console::PAGE;
use pgexporter_tests::browser::Browser;
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};
use pgexporter_tests::http_client;
use pgexporter_tests::{ClusterOptions, PgCluster};
use serde_json::Value;

/// A custom metric whose label value is HTML that would run script if it became markup.
const PROBE: &str = r#"metrics:
  - tag: console_probe
    collector: console
    queries:
      - query: |
          SELECT '<b id="injected">bold</b><img src=x onerror="document.title=''owned''">' AS tag, 42 AS v
        columns:
          - name: tag
            type: label
          - name: v
            type: gauge
"#;

/// The probe's label value, as PostgreSQL returns it.
const PROBE_LABEL: &str =
    r#"<b id="injected">bold</b><img src=x onerror="document.title='owned'">"#;

/// The table's rows whose metric is the probe, as `[server, labels, value]`.
const PROBE_ROWS: &str = r#"[...document.querySelectorAll("tr.metric")]
    .filter((row) => row.cells[0].textContent === "pgexporter_console_probe_v")
    .map((row) => [row.cells[1].textContent, row.cells[2].textContent, row.cells[5].textContent])"#;

fn set_control(id: &str, value: &str, event: &str) -> String {
    format!(
        "(() => {{ const c = document.getElementById({id:?}); c.value = {value:?}; \
         c.dispatchEvent(new Event({event:?})); return true; }})()"
    )
}

#[test]
fn the_console_shows_the_fleet_in_a_browser() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    let metrics = home.dir().join("probe.yaml");
    fs::write(&metrics, PROBE).unwrap();
    let console_port = free_port();
    let port = home.write_servers_config(
        &[("primary", &cluster), ("second", &cluster)],
        &format!(
            "console = {console_port}\nmetrics_path = {}",
            metrics.display()
        ),
    );
    let exporter = Exporter::start(&home, port, &[]);
    let console = std::net::SocketAddr::from(([127, 0, 0, 1], console_port));

    let page = http_client::get(console, "/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.body, PAGE.as_bytes());
    for outside in ["http://", "https://", " src=", "<link", "@import"] {
        assert!(
            !PAGE.contains(outside),
            "the page fetches nothing: {outside}"
        );
    }
    assert_eq!(http_client::get(console, "/metrics", &[]).status, 403);
    assert_eq!(
        exporter.get("/api", &[]).status,
        403,
        "no /api on the metrics port"
    );
    let api = http_client::get(console, "/api", &[]);
    assert_eq!(api.status, 200, "{}", api.text());
    let answer: Value = serde_json::from_slice(&api.body).unwrap();
    let probes: Vec<&Value> = answer["categories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|category| category["name"] == "console")
        .flat_map(|category| category["metrics"].as_array().unwrap())
        .collect();
    assert_eq!(probes.len(), 2, "one per server: {probes:?}");
    assert_eq!(probes[0]["labels"]["tag"], PROBE_LABEL);
    assert_eq!(probes[0]["value"], 42.0);

    let mut browser = Browser::open(&format!("http://{console}/"), 1280, 900);
    browser.wait_for(
        "the first render",
        "document.body !== null && document.body.dataset.loaded === 'true'",
    );
    let first_render =
        browser.evaluate("performance.getEntriesByName('pgexporter-first-render')[0].startTime");
    eprintln!(
        "console page: {} bytes, first render after {first_render} ms",
        PAGE.len()
    );
    let rows = browser.evaluate(PROBE_ROWS);
    let label = format!("database=postgres, tag={PROBE_LABEL}");
    assert_eq!(
        rows,
        serde_json::json!([["primary", label, "42"], ["second", label, "42"]])
    );
    assert_eq!(
        browser.evaluate("document.getElementById('injected') === null && document.title"),
        "pgexporter console",
        "the label's HTML stays text"
    );

    let all = browser.evaluate("document.querySelectorAll('tr.metric').length");
    browser.evaluate(&set_control("search", "console_probe", "input"));
    let narrowed = browser.evaluate(
        "[...document.querySelectorAll('tr.metric')].map((row) => row.cells[0].textContent)",
    );
    assert_eq!(
        narrowed,
        serde_json::json!(["pgexporter_console_probe_v", "pgexporter_console_probe_v"]),
        "search keeps only matching rows of {all}"
    );
    browser.evaluate(&set_control("server", "second", "change"));
    assert_eq!(
        browser.evaluate(PROBE_ROWS),
        serde_json::json!([["second", label, "42"]])
    );

    let theme = "document.documentElement.dataset.theme";
    let before = browser.evaluate(theme);
    browser.evaluate("document.getElementById('theme').click() || true");
    let after = browser.evaluate(theme);
    assert_ne!(before, after, "the theme toggles");
    assert!(after == "dark" || after == "light", "{after}");

    browser.evaluate(&set_control("server", "", "change"));
    browser.evaluate(&set_control("search", "stat_database", "input"));
    browser.evaluate(&set_control("view", "advanced", "change"));
    std::thread::sleep(Duration::from_millis(200));
    let screenshot = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/console.png"
    ));
    browser.screenshot(&screenshot);
    assert!(fs::metadata(&screenshot).unwrap().len() > 1000);
}
