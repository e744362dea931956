//! Reading an alerts file and applying it to a set.
//!
//! The layout is the reference's `pgexporter_alerts.yaml`: a top-level `alerts` holding a
//! sequence of alerts (a bare sequence is read too). Each alert has `name` and any of
//! `description`, `type`, `query`, `operator`, `threshold`, `servers`. Unknown keys are errors,
//! so a misspelt key is never silently ignored.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Alert, AlertKind, AlertSet, MAX_ALERTS, Operator, Servers};
use crate::metrics::{DefinitionError, Place, Source, SourceFormat, is_metric_name, read_raw};

/// Why an alerts file was refused. Every variant names the place at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// Not YAML, or not the shape of an alerts file (unknown key, wrong type, unknown
    /// operator or type).
    #[error(transparent)]
    Syntax(#[from] DefinitionError),
    /// An alert breaks a rule (a new alert without its required fields, a name that cannot be
    /// part of a family name, a name given twice).
    #[error("{place}: alert '{name}': {message}")]
    Invalid {
        /// Where the alert is.
        place: Place,
        /// Its name.
        name: String,
        /// What rule was broken.
        message: String,
    },
    /// More alerts than [`MAX_ALERTS`].
    #[error("{place}: more than {MAX_ALERTS} alerts")]
    TooMany {
        /// The alert past the limit.
        place: Place,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped {
    alerts: Vec<RawAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: Spanned<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<AlertKind>,
    query: Option<String>,
    operator: Option<Operator>,
    threshold: Option<f64>,
    servers: Option<RawServers>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawServers {
    One(String),
    Many(Vec<String>),
}

impl RawServers {
    fn into_servers(self) -> Servers {
        let names = match self {
            RawServers::One(name) => vec![name],
            RawServers::Many(names) => names,
        };
        if names.iter().any(|name| name == "all") {
            Servers::All
        } else {
            Servers::Named(names)
        }
    }
}

/// Reads the alerts of `text`, in either layout. When neither reads, the error is that of the
/// layout the parser got further with.
fn read_alerts(name: &str, text: &str) -> Result<Vec<RawAlert>, DefinitionError> {
    let source = Source::new(name, text, SourceFormat::Yaml);
    let wrapped = match read_raw::<Wrapped>(&source) {
        Ok(file) => return Ok(file.alerts),
        Err(error) => error,
    };
    read_raw::<Vec<RawAlert>>(&source).map_err(|bare| {
        let line = |error: &DefinitionError| match error {
            DefinitionError::Syntax { place, .. } => place.line,
            _ => 0,
        };
        if line(&bare) > line(&wrapped) {
            bare
        } else {
            wrapped
        }
    })
}

/// `set` with the alerts file `text` applied; see [`AlertSet::with_file`].
pub(super) fn apply_file(
    mut set: AlertSet,
    file: &str,
    text: &str,
) -> Result<AlertSet, AlertError> {
    let mut seen: Vec<String> = Vec::new();
    for raw in read_alerts(file, text)? {
        let place = Place {
            file: file.to_owned(),
            line: raw.name.referenced.line(),
            column: raw.name.referenced.column(),
        };
        let name = raw.name.value.clone();
        let invalid = |message: &str| AlertError::Invalid {
            place: place.clone(),
            name: name.clone(),
            message: message.to_owned(),
        };
        if seen.contains(&name) {
            return Err(invalid("given twice in this file"));
        }
        seen.push(name.clone());
        match set.alerts.iter_mut().find(|alert| alert.name == name) {
            Some(alert) => apply_override(alert, raw),
            None => {
                if set.alerts.len() >= MAX_ALERTS {
                    return Err(AlertError::TooMany { place });
                }
                if !is_metric_name(&name) {
                    return Err(invalid(
                        "the name must be letters, digits and '_', not starting with a digit",
                    ));
                }
                set.alerts.push(new_alert(raw).map_err(invalid)?);
            }
        }
    }
    Ok(set)
}

/// Changes the fields of `alert` that `raw` gives.
fn apply_override(alert: &mut Alert, raw: RawAlert) {
    if let Some(description) = raw.description {
        alert.description = description;
    }
    if let Some(kind) = raw.kind {
        alert.kind = kind;
    }
    if let Some(query) = raw.query {
        alert.query = query;
    }
    if let Some(operator) = raw.operator {
        alert.operator = operator;
    }
    if let Some(threshold) = raw.threshold {
        alert.threshold = threshold;
    }
    if let Some(servers) = raw.servers {
        alert.servers = servers.into_servers();
    }
}

/// A new alert from `raw`, which must say everything an alert needs.
fn new_alert(raw: RawAlert) -> Result<Alert, &'static str> {
    let description = raw.description.ok_or("a new alert needs a description")?;
    let kind = raw
        .kind
        .ok_or("a new alert needs a type (connection or query)")?;
    let threshold = raw.threshold.ok_or("a new alert needs a threshold")?;
    let query = match kind {
        AlertKind::Query => raw
            .query
            .filter(|query| !query.trim().is_empty())
            .ok_or("a query alert needs a query")?,
        AlertKind::Connection => String::new(),
    };
    Ok(Alert {
        name: raw.name.value,
        description,
        kind,
        query,
        operator: raw.operator.unwrap_or(Operator::Greater),
        threshold,
        servers: raw.servers.map_or(Servers::All, RawServers::into_servers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(text: &str) -> Result<AlertSet, AlertError> {
        AlertSet::builtin().with_file("alerts.yaml", text)
    }

    fn alert<'a>(set: &'a AlertSet, name: &str) -> &'a Alert {
        set.alerts()
            .iter()
            .find(|alert| alert.name == name)
            .unwrap()
    }

    #[test]
    fn an_override_changes_only_the_fields_it_gives() {
        let builtin = AlertSet::builtin();
        let set = applied(
            "alerts:\n  - name: postgresql_down\n    servers: primary\n\
             \n  - name: connections_high\n    threshold: 90\n    operator: \">=\"\n",
        )
        .unwrap();
        let down = alert(&set, "postgresql_down");
        assert_eq!(down.servers, Servers::Named(vec!["primary".into()]));
        assert_eq!(
            down.description,
            alert(&builtin, "postgresql_down").description
        );
        let high = alert(&set, "connections_high");
        assert_eq!(
            (high.threshold, high.operator),
            (90.0, Operator::GreaterOrEqual)
        );
        assert_eq!(high.query, alert(&builtin, "connections_high").query);
        assert_eq!(set.alerts().len(), 7);
    }

    #[test]
    fn new_alerts_are_added_in_either_layout() {
        let wrapped = "alerts:\n- name: lag_bytes\n  description: Lag.\n  type: query\n  \
                       query: SELECT 1\n  threshold: 524288000\n  servers: [replica, standby]\n";
        let set = applied(wrapped).unwrap();
        let added = alert(&set, "lag_bytes");
        assert_eq!(added.operator, Operator::Greater, "the default operator");
        assert_eq!(added.threshold, 524_288_000.0);
        assert_eq!(
            added.servers,
            Servers::Named(vec!["replica".into(), "standby".into()])
        );
        assert_eq!(added.family(), "pgexporter_alert_lag_bytes");
        let bare = "- name: lag_bytes\n  description: Lag.\n  type: connection\n  threshold: 0\n";
        let set = applied(bare).unwrap();
        assert_eq!(alert(&set, "lag_bytes").kind, AlertKind::Connection);
        assert_eq!(alert(&set, "lag_bytes").servers, Servers::All);
    }

    #[test]
    fn incomplete_or_misspelt_alerts_are_refused_with_their_place() {
        let missing = applied("alerts:\n  - name: mine\n    type: query\n    threshold: 1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "alerts.yaml:2:11: alert 'mine': a new alert needs a description"
        );
        let no_query = applied("- name: mine\n  description: d\n  type: query\n  threshold: 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            no_query.ends_with("a query alert needs a query"),
            "{no_query}"
        );
        let misspelt = applied("alerts:\n  - name: connections_high\n    treshold: 90\n")
            .unwrap_err()
            .to_string();
        assert!(misspelt.starts_with("alerts.yaml:3"), "{misspelt}");
        assert!(misspelt.contains("treshold"), "{misspelt}");
        let operator = applied("- name: connections_high\n  operator: '=>'\n")
            .unwrap_err()
            .to_string();
        assert!(operator.contains("alerts.yaml:2"), "{operator}");
        let twice = applied(
            "- name: xid_wraparound\n  threshold: 1\n- name: xid_wraparound\n  threshold: 2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(twice.ends_with("given twice in this file"), "{twice}");
        let bad_name =
            applied("- name: 'a-b'\n  description: d\n  type: connection\n  threshold: 0\n")
                .unwrap_err()
                .to_string();
        assert!(bad_name.contains("letters, digits"), "{bad_name}");
    }

    #[test]
    fn the_number_of_alerts_is_bounded() {
        let mut text = String::new();
        for index in 0..MAX_ALERTS {
            text.push_str(&format!(
                "- name: a{index}\n  description: d\n  type: connection\n  threshold: 0\n"
            ));
        }
        let error = applied(&text).unwrap_err();
        assert!(matches!(error, AlertError::TooMany { .. }), "{error}");
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let huge = "#".repeat(crate::metrics::MAX_SOURCE_LEN + 1);
        assert!(matches!(applied(&huge), Err(AlertError::Syntax(_))));
    }
}
