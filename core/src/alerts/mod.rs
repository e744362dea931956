//! Alerts (SPEC §10): conditions evaluated on every scrape, published as the families
//! `pgexporter_alert_<name>{server, alert, type}` (1 firing, 0 not).
//!
//! Seven alerts are built in; an alerts file (`alerts_path`, `-a`) in the reference's layout
//! adds alerts and overrides built-in ones field by field. A `query` alert compares the first
//! column of the first row its query returns with its threshold; the queries run on each
//! server's main connection, pipelined with the metric queries of the scrape. A `connection`
//! alert fires when the server did not answer the scrape.
//!
//! ```
//! use pgexporter_core::alerts::AlertSet;
//!
//! let file = "alerts:\n  - name: connections_high\n    threshold: 90\n";
//! let set = AlertSet::builtin().with_file("alerts.yaml", file).unwrap();
//! let alert = set.alerts().iter().find(|alert| alert.name == "connections_high").unwrap();
//! assert_eq!(alert.threshold, 90.0);
//! assert!(alert.fires(91.0));
//! assert!(!alert.fires(90.0));
//! ```

mod parse;

use serde::Deserialize;

pub use parse::AlertError;

/// The built-in alerts, in the alerts file layout.
const BUILTIN: &str = include_str!("builtin.yaml");

/// Most alerts one set may hold (built-in ones included): each is a query per server and
/// scrape.
pub const MAX_ALERTS: usize = 64;

/// Prefix of every alert family.
pub const FAMILY_PREFIX: &str = "pgexporter_alert_";

/// How an alert is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// Fires when the server did not answer the scrape.
    Connection,
    /// Compares the first column of the first row of its query with the threshold.
    Query,
}

impl AlertKind {
    /// The `type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Connection => "connection",
            AlertKind::Query => "query",
        }
    }
}

/// The comparison of a query alert: `value <operator> threshold` fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    /// `>` (the default).
    #[serde(rename = ">")]
    Greater,
    /// `<`.
    #[serde(rename = "<")]
    Less,
    /// `>=`.
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// `<=`.
    #[serde(rename = "<=")]
    LessOrEqual,
    /// `==`.
    #[serde(rename = "==")]
    Equal,
    /// `!=`.
    #[serde(rename = "!=")]
    NotEqual,
}

impl Operator {
    /// Whether `value <self> threshold` holds (never for NaN).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Greater => value > threshold,
            Operator::Less => value < threshold,
            Operator::GreaterOrEqual => value >= threshold,
            Operator::LessOrEqual => value <= threshold,
            Operator::Equal => value == threshold,
            Operator::NotEqual => !value.is_nan() && value != threshold,
        }
    }
}

/// The servers an alert applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Servers {
    /// Every server (`all`).
    All,
    /// The servers of these section names.
    Named(Vec<String>),
}

impl Servers {
    /// Whether the server of section `name` is one of them.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Servers::All => true,
            Servers::Named(names) => names.iter().any(|known| known == name),
        }
    }
}

/// One alert, complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The name: the family is `pgexporter_alert_<name>`, and the `alert` label.
    pub name: String,
    /// The family's HELP text.
    pub description: String,
    /// How it is evaluated.
    pub kind: AlertKind,
    /// The SQL of a query alert (empty for a connection alert).
    pub query: String,
    /// The comparison of a query alert.
    pub operator: Operator,
    /// What the query's value is compared with.
    pub threshold: f64,
    /// Where it applies.
    pub servers: Servers,
}

impl Alert {
    /// The family name, `pgexporter_alert_<name>`.
    pub fn family(&self) -> String {
        format!("{FAMILY_PREFIX}{}", self.name)
    }

    /// Whether a query alert fires for `value`, its query's first column.
    pub fn fires(&self, value: f64) -> bool {
        self.operator.holds(value, self.threshold)
    }

    /// Whether this alert runs a query on the server of section `server`.
    pub fn queries(&self, server: &str) -> bool {
        self.kind == AlertKind::Query && self.servers.includes(server)
    }
}

/// The alerts in force, in order: the built-in ones, then those a file adds.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSet {
    alerts: Vec<Alert>,
}

impl AlertSet {
    /// The seven built-in alerts.
    pub fn builtin() -> AlertSet {
        AlertSet::default()
            .with_file("builtin alerts", BUILTIN)
            .expect("the built-in alerts are valid")
    }

    /// This set with the alerts file `text` (named `name` in errors) applied: an alert of a
    /// known name changes the fields it gives, any other is added and must be complete.
    ///
    /// # Errors
    /// An [`AlertError`] naming the file, the line where known, and the alert at fault.
    pub fn with_file(self, name: &str, text: &str) -> Result<AlertSet, AlertError> {
        parse::apply_file(self, name, text)
    }

    /// The alerts, in order.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// Whether every position both sets have holds the same SQL in `other`: connections that
    /// prepared this set's queries (each named by its position) can run `other`'s.
    pub fn prepares_alike(&self, other: &AlertSet) -> bool {
        self.alerts
            .iter()
            .zip(&other.alerts)
            .all(|(mine, theirs)| mine.query == theirs.query)
    }
}

impl Default for AlertSet {
    /// No alerts.
    fn default() -> Self {
        AlertSet { alerts: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_builtin_alerts_with_the_reference_thresholds() {
        let set = AlertSet::builtin();
        let names: Vec<&str> = set
            .alerts()
            .iter()
            .map(|alert| alert.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "postgresql_down",
                "connections_high",
                "replication_lag",
                "wal_receiver_down",
                "replication_slot_inactive",
                "xid_wraparound",
                "multixact_wraparound"
            ]
        );
        let threshold = |name: &str| {
            set.alerts()
                .iter()
                .find(|alert| alert.name == name)
                .map(|alert| alert.threshold)
        };
        assert_eq!(threshold("connections_high"), Some(80.0));
        assert_eq!(threshold("replication_lag"), Some(300.0));
        assert_eq!(threshold("xid_wraparound"), Some(1.5e9));
        assert_eq!(threshold("multixact_wraparound"), Some(1.5e9));
        assert_eq!(set.alerts()[0].kind, AlertKind::Connection);
        assert!(
            set.alerts()[1..]
                .iter()
                .all(|alert| alert.kind == AlertKind::Query
                    && !alert.query.is_empty()
                    && alert.servers == Servers::All)
        );
    }

    #[test]
    fn operators_compare_the_value_with_the_threshold() {
        let cases = [
            (Operator::Greater, [false, false, true]),
            (Operator::Less, [true, false, false]),
            (Operator::GreaterOrEqual, [false, true, true]),
            (Operator::LessOrEqual, [true, true, false]),
            (Operator::Equal, [false, true, false]),
            (Operator::NotEqual, [true, false, true]),
        ];
        for (operator, expected) in cases {
            let got = [1.0, 2.0, 3.0].map(|value| operator.holds(value, 2.0));
            assert_eq!(got, expected, "{operator:?}");
            assert!(
                !operator.holds(f64::NAN, 2.0),
                "{operator:?} never fires on NaN"
            );
        }
    }

    #[test]
    fn servers_select_by_section_name() {
        assert!(Servers::All.includes("any"));
        let named = Servers::Named(vec!["primary".into(), "replica".into()]);
        assert!(named.includes("replica"));
        assert!(!named.includes("other"));
    }

    #[test]
    fn prepares_alike_ignores_thresholds_and_added_alerts_but_not_sql() {
        let builtin = AlertSet::builtin();
        let raised = builtin
            .clone()
            .with_file("a.yaml", "- name: xid_wraparound\n  threshold: 5\n")
            .unwrap();
        assert!(builtin.prepares_alike(&raised));
        let added = builtin
            .clone()
            .with_file("a.yaml", "- name: more\n  description: d\n  type: query\n  query: SELECT 2\n  threshold: 1\n")
            .unwrap();
        assert!(builtin.prepares_alike(&added));
        let rewritten = builtin
            .clone()
            .with_file("a.yaml", "- name: xid_wraparound\n  query: SELECT 1\n")
            .unwrap();
        assert!(!builtin.prepares_alike(&rewritten));
    }
}
