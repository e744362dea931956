//! The Grafana dashboard `contrib/grafana/pgexporter.json`: its JSON holds what a Grafana import
//! needs, every family it names is one the exporter exposes, and every PromQL expression of it
//! (panel targets and template variables) answers from a real Prometheus that scrapes the
//! exporter on a primary with pg_stat_statements and its streaming replica.
//!
//! A panel that answers only with a replica or an extension says so on a line of its
//! description: `Needs: replica` or `Needs: extension NAME`; a panel naming a replication or an
//! extension family without it fails. The end-to-end test gives every requirement and fails on
//! one it does not give, so no expression goes unchecked.
//!
//! Build the binaries first: `cargo build -j2 --bins`. Needs Debian's `prometheus`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_core::metrics::MetricSet;
use pgexporter_tests::cluster::MATRIX_MAJORS;
use pgexporter_tests::exporter::{Exporter, ExporterHome, eventually, sample_value};
use pgexporter_tests::prometheus::{Prometheus, label};
use pgexporter_tests::reference::{self, Role, SETTINGS_FAMILIES};
use pgexporter_tests::reference_extensions;
use pgexporter_tests::{ClusterOptions, PgCluster};
use serde_json::Value;

/// The dashboard, as shipped.
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contrib/grafana/pgexporter.json"
);

/// The data source input every panel, target and variable refers to.
const DATASOURCE_INPUT: &str = "DS_PROMETHEUS";

/// The dashboard schema of current Grafana (12).
const MIN_SCHEMA_VERSION: u64 = 41;

/// The width of Grafana's grid.
const GRID_WIDTH: u64 = 24;

/// How often Prometheus scrapes the exporter.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(2);

/// What stands for `$__interval` and `$__rate_interval`: Grafana's rate interval is at least
/// four scrape intervals; five leave room for a late scrape.
const INTERVALS: [(&str, &str); 2] = [("$__rate_interval", "10s"), ("$__interval", "2s")];

/// How long every expression may take to answer once Prometheus has a rate window of scrapes.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);

/// The database the test creates beside `postgres`, so that `$database` has two values.
const SECOND_DATABASE: &str = "shop";

/// The prefix of a description line that says what a panel needs.
const NEEDS: &str = "Needs:";

/// What a panel may need beyond a primary server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Requirement {
    /// A streaming replica (of a primary the dashboard also shows).
    Replica,
    /// An extension created in the monitored databases.
    Extension(String),
}

impl Requirement {
    /// Reads the text after `Needs:`; `None` when it is neither form.
    fn parse(text: &str) -> Option<Requirement> {
        match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["replica"] => Some(Requirement::Replica),
            ["extension", name] => Some(Requirement::Extension((*name).to_owned())),
            _ => None,
        }
    }
}

/// What the end-to-end test sets up: a replica and pg_stat_statements (which the cluster
/// fixture preloads and creates).
fn given() -> BTreeSet<Requirement> {
    BTreeSet::from([
        Requirement::Replica,
        Requirement::Extension("pg_stat_statements".to_owned()),
    ])
}

/// One PromQL expression of the dashboard and where it is.
#[derive(Debug)]
struct Expression {
    /// `panel "TITLE" target A`, for messages.
    place: String,
    /// The expression with Grafana's variables still in it.
    expr: String,
    /// What its panel says it needs.
    needs: BTreeSet<Requirement>,
}

/// A template variable whose query is `label_values(SELECTOR, LABEL)`.
#[derive(Debug)]
struct Variable {
    name: String,
    selector: String,
    label: String,
}

fn dashboard() -> Value {
    let text = fs::read_to_string(DASHBOARD)
        .unwrap_or_else(|error| panic!("cannot read {DASHBOARD}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{DASHBOARD}: {error}"))
}

fn panels(dashboard: &Value) -> &[Value] {
    dashboard["panels"]
        .as_array()
        .expect("the dashboard has a panels list")
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or_default()
}

/// The requirements of a panel's `Needs:` lines; panics on a line it cannot read.
fn needs(panel: &Value) -> BTreeSet<Requirement> {
    panel["description"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix(NEEDS))
        .map(|text| {
            Requirement::parse(text).unwrap_or_else(|| {
                panic!(
                    "panel {:?}: {NEEDS}{text} is neither `replica` nor `extension NAME`",
                    title(panel)
                )
            })
        })
        .collect()
}

/// Every target expression of every panel (rows hold none: the dashboard's rows are expanded).
fn expressions(dashboard: &Value) -> Vec<Expression> {
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        let needs = needs(panel);
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_else(|| {
                panic!("panel {:?}: a target without an expression", title(panel))
            });
            found.push(Expression {
                place: format!(
                    "panel {:?} target {}",
                    title(panel),
                    target["refId"].as_str().unwrap_or("?")
                ),
                expr: expr.to_owned(),
                needs: needs.clone(),
            });
        }
    }
    found
}

/// The template variables, in their order (each may use the ones before it).
fn variables(dashboard: &Value) -> Vec<Variable> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("the dashboard has template variables")
        .iter()
        .map(|variable| {
            let name = variable["name"]
                .as_str()
                .expect("a variable name")
                .to_owned();
            let query = variable["query"]["query"]
                .as_str()
                .unwrap_or_else(|| panic!("variable {name}: no query"));
            assert_eq!(
                variable["definition"].as_str(),
                Some(query),
                "variable {name}: the definition Grafana shows is not the query it runs"
            );
            let (selector, label) = query
                .strip_prefix("label_values(")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|inner| inner.rsplit_once(','))
                .unwrap_or_else(|| {
                    panic!("variable {name}: {query} is not label_values(..., label)")
                });
            Variable {
                name,
                selector: selector.trim().to_owned(),
                label: label.trim().to_owned(),
            }
        })
        .collect()
}

/// Every `pgexporter_*` name in `expr`.
fn family_names(expr: &str) -> impl Iterator<Item = &str> {
    expr.match_indices("pgexporter_").map(|(start, _)| {
        let rest = &expr[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// A data source reference to the import's input.
fn assert_datasource(reference: &Value, place: &str) {
    assert_eq!(reference["type"], "prometheus", "{place}: {reference}");
    assert_eq!(
        reference["uid"],
        format!("${{{DATASOURCE_INPUT}}}"),
        "{place}: {reference}"
    );
}

#[test]
fn the_dashboard_holds_what_a_grafana_import_needs() {
    let dashboard = dashboard();
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|input| input["name"] == DATASOURCE_INPUT
            && input["type"] == "datasource"
            && input["pluginId"] == "prometheus"),
        "no Prometheus data source input {DATASOURCE_INPUT}: {inputs:?}"
    );
    assert!(
        dashboard["schemaVersion"].as_u64() >= Some(MIN_SCHEMA_VERSION),
        "schemaVersion {}",
        dashboard["schemaVersion"]
    );
    for key in ["uid", "title"] {
        assert!(
            dashboard[key].as_str().is_some_and(|text| !text.is_empty()),
            "no {key}"
        );
    }

    let mut ids = HashSet::new();
    let mut occupied = HashSet::new();
    let mut rows = 0;
    for panel in panels(&dashboard) {
        let name = title(panel);
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name:?}: no id"));
        assert!(ids.insert(id), "{name:?}: id {id} is used twice");
        let position = &panel["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|key| {
            position[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{name:?}: gridPos.{key} missing: {position}"))
        });
        assert!(
            h > 0 && w > 0 && x + w <= GRID_WIDTH,
            "{name:?}: {position}"
        );
        for cell in (x..x + w).flat_map(|column| (y..y + h).map(move |line| (column, line))) {
            assert!(
                occupied.insert(cell),
                "{name:?} overlaps another panel at {cell:?}"
            );
        }
        if panel["type"] == "row" {
            rows += 1;
            assert_eq!(panel["collapsed"], false, "{name:?}");
            continue;
        }
        assert_datasource(&panel["datasource"], name);
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{name:?} has no target");
        let mut ref_ids = HashSet::new();
        for target in targets {
            assert_datasource(&target["datasource"], name);
            assert!(
                ref_ids.insert(target["refId"].as_str().expect("a refId")),
                "{name:?}: a refId is used twice"
            );
        }
    }
    assert_eq!(rows, 5, "overview, databases, replication, WAL, queries");
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        assert_datasource(&variable["datasource"], "a template variable");
    }
    let names: Vec<String> = variables(&dashboard).into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["job", "instance", "server", "database"]);
    for expression in expressions(&dashboard) {
        for requirement in &expression.needs {
            assert!(
                given().contains(requirement),
                "{}: needs {requirement:?}, which the end-to-end test does not set up",
                expression.place
            );
        }
    }
}

/// Every family this exporter exposes on some version and role: those it keeps from the
/// reference's lists (extensions included) and those its built-in set adds; with the prefix of
/// the one-per-setting families.
fn known_families() -> (BTreeSet<String>, String) {
    let set = MetricSet::builtin().expect("the built-in set loads");
    let mut known = BTreeSet::new();
    for major in MATRIX_MAJORS {
        for role in Role::ALL {
            known.extend(reference::families(major, role).into_iter().map(|f| f.name));
            known.extend(
                reference::declared_families(&set, major, role)
                    .into_iter()
                    .map(|f| f.name),
            );
        }
    }
    known.extend(
        reference_extensions::reference_families()
            .into_iter()
            .map(|family| family.family),
    );
    let settings_prefix = SETTINGS_FAMILIES.trim_end_matches('*').to_owned();
    (known, settings_prefix)
}

#[test]
fn every_family_the_dashboard_names_is_one_the_exporter_exposes() {
    let (known, settings_prefix) = known_families();
    let dashboard = dashboard();
    let mut queries: Vec<(String, String)> = expressions(&dashboard)
        .into_iter()
        .map(|expression| (expression.place, expression.expr))
        .collect();
    queries.extend(
        variables(&dashboard)
            .into_iter()
            .map(|variable| (format!("variable {}", variable.name), variable.selector)),
    );
    let mut unknown = Vec::new();
    for (place, expr) in &queries {
        let mut names = family_names(expr).peekable();
        assert!(names.peek().is_some(), "{place}: {expr} names no family");
        for name in names {
            if !known.contains(name) && !name.starts_with(&settings_prefix) {
                unknown.push(format!("{place}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "families nobody exposes:\n{}",
        unknown.join("\n")
    );
}

/// Families that have samples only where a standby streams: on its primary
/// (`pg_stat_replication`, the slot it streams through) or on the replica itself.
const REPLICATION_FAMILIES: [&str; 4] = [
    "pgexporter_pg_stat_replication",
    "pgexporter_pg_replication_slots_",
    "pgexporter_pg_stat_walreceiver_",
    "pgexporter_pg_wal_last_received",
];

#[test]
fn every_panel_that_needs_a_replica_or_an_extension_says_so() {
    let extension_of: BTreeMap<String, String> = reference_extensions::reference_families()
        .into_iter()
        .map(|family| (family.family, family.extension))
        .collect();
    let mut unmarked = Vec::new();
    for expression in expressions(&dashboard()) {
        for name in family_names(&expression.expr) {
            let needed = match extension_of.get(name) {
                Some(extension) => Some(Requirement::Extension(extension.clone())),
                None if REPLICATION_FAMILIES
                    .iter()
                    .any(|prefix| name.starts_with(prefix)) =>
                {
                    Some(Requirement::Replica)
                }
                None => None,
            };
            if let Some(requirement) = needed.filter(|needed| !expression.needs.contains(needed)) {
                unmarked.push(format!(
                    "{}: {name} needs {requirement:?}",
                    expression.place
                ));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "panels without their {NEEDS} line:\n{}",
        unmarked.join("\n")
    );
}

/// `values` as Grafana writes a multi-value variable into a regex matcher: an alternation of
/// the values, regex-escaped, with the backslashes doubled for the PromQL string.
fn regex_alternation(values: &BTreeSet<String>) -> String {
    let escaped: Vec<String> = values
        .iter()
        .map(|value| {
            value
                .chars()
                .map(|c| match c {
                    '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$'
                    | '\\' => format!("\\\\{c}"),
                    _ => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!("({})", escaped.join("|"))
}

/// `expr` with every variable of `values` and every interval substituted; panics when a `$`
/// is left, which would be a variable the dashboard does not define.
fn substitute(expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut result = expr.to_owned();
    for (name, value) in INTERVALS {
        result = result.replace(name, value);
    }
    // Longer names first, so that `$instance` is not read as a shorter variable's name.
    let mut names: Vec<&String> = values.keys().collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    for name in names {
        result = result.replace(&format!("${name}"), &values[name]);
    }
    assert!(!result.contains('$'), "an unknown variable in {expr}");
    result
}

#[test]
fn every_expression_of_the_dashboard_answers_from_a_primary_and_its_replica() {
    let dashboard = dashboard();
    let (primary, replica) = PgCluster::start_primary_and_replica(ClusterOptions::default());
    primary.psql(&format!("CREATE DATABASE {SECOND_DATABASE}"));
    primary.psql_in(
        SECOND_DATABASE,
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric); \
         INSERT INTO orders SELECT n, n * 1.5 FROM generate_series(1, 1000) AS n; \
         UPDATE orders SET total = total + 1 WHERE id % 10 = 0; \
         DELETE FROM orders WHERE id % 7 = 0",
    );
    eventually("the replica streams", || primary.replica_streams());
    let home = ExporterHome::new();
    let port = home.write_servers_config(&[("primary", &primary), ("replica", &replica)], "");
    let exporter = Exporter::start(&home, port, &[]);
    eventually("both servers answer a scrape", || {
        let body = exporter.scrape();
        ["primary", "replica"].iter().all(|server| {
            sample_value(
                &body,
                &format!("pgexporter_postgresql_active{{server=\"{server}\"}}"),
            ) == Some(1.0)
        })
    });
    let prometheus = Prometheus::start(exporter.address(), SCRAPE_INTERVAL);
    // A rate window's worth of scrapes of both servers.
    let rate_window = INTERVALS[0].1;
    prometheus.eventually(
        &format!("count_over_time(pgexporter_postgresql_active[{rate_window}]) >= 4"),
        |samples| samples.len() == 2,
        || exporter.log(),
    );

    // Each variable's values, found by its query with the variables before it substituted.
    let mut values = BTreeMap::new();
    let mut found = BTreeMap::new();
    for variable in variables(&dashboard) {
        let selector = substitute(&variable.selector, &values);
        let samples = prometheus.eventually(
            &selector,
            |samples| !samples.is_empty(),
            || format!("variable {}\nexporter: {}", variable.name, exporter.log()),
        );
        let labels: BTreeSet<String> = samples
            .iter()
            .map(|sample| label(sample, &variable.label).to_owned())
            .filter(|value| !value.is_empty())
            .collect();
        assert!(
            !labels.is_empty(),
            "variable {}: no {} label",
            variable.name,
            variable.label
        );
        values.insert(variable.name.clone(), regex_alternation(&labels));
        found.insert(variable.name, labels);
    }
    assert_eq!(
        found["server"],
        BTreeSet::from(["primary".into(), "replica".into()])
    );
    assert!(
        ["postgres", SECOND_DATABASE]
            .iter()
            .all(|database| found["database"].contains(*database)),
        "{found:?}"
    );

    let given = given();
    let expressions = expressions(&dashboard);
    let not_given: Vec<&Expression> = expressions
        .iter()
        .filter(|expression| !expression.needs.is_subset(&given))
        .collect();
    assert!(not_given.is_empty(), "needs not set up here: {not_given:?}");
    let mut pending: Vec<(String, String)> = expressions
        .iter()
        .map(|expression| {
            (
                expression.place.clone(),
                substitute(&expression.expr, &values),
            )
        })
        .collect();
    let started = Instant::now();
    loop {
        pending.retain(|(_, promql)| prometheus.query(promql).is_empty());
        if pending.is_empty() || started.elapsed() > ANSWER_TIMEOUT {
            break;
        }
        thread::sleep(SCRAPE_INTERVAL);
    }
    let silent: Vec<String> = pending
        .iter()
        .map(|(place, promql)| format!("{place}: {promql}"))
        .collect();
    assert!(
        silent.is_empty(),
        "expressions without data:\n{}\nexporter: {}",
        silent.join("\n"),
        exporter.log()
    );
}
