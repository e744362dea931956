//! Reading the alerts file (`-a`, `alerts_path`) into the alert set the daemon evaluates.

use std::path::Path;

use pgexporter_core::alerts::AlertSet;
use pgexporter_core::config::MainConfig;

use crate::metric_files::read_bounded;

/// The alerts to evaluate: `None` when alerting is off; else the built-in alerts with the
/// alerts file applied, the command line's (`-a`) in place of `alerts_path`. Alerting is on
/// with `alerts = on` or with either file.
///
/// # Errors
/// A message naming the file that cannot be read or holds an invalid alert.
pub fn load(command_line: Option<&Path>, main: &MainConfig) -> Result<Option<AlertSet>, String> {
    let file = command_line.or(main.alerts_path.as_deref().map(Path::new));
    if !main.alerts && file.is_none() {
        return Ok(None);
    }
    let builtin = AlertSet::builtin();
    let Some(file) = file else {
        return Ok(Some(builtin));
    };
    let text = read_bounded(file)?;
    builtin
        .with_file(&file.display().to_string(), &text)
        .map(Some)
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "pgexporter-alert-files-{name}-{}.yaml",
            std::process::id()
        ));
        fs::write(&path, text).unwrap();
        path
    }

    fn threshold(set: &AlertSet, name: &str) -> f64 {
        set.alerts()
            .iter()
            .find(|alert| alert.name == name)
            .map(|alert| alert.threshold)
            .unwrap()
    }

    #[test]
    fn off_unless_switched_on_or_given_a_file() {
        assert_eq!(load(None, &MainConfig::default()), Ok(None));
        let on = MainConfig {
            alerts: true,
            ..MainConfig::default()
        };
        assert_eq!(load(None, &on), Ok(Some(AlertSet::builtin())));
    }

    #[test]
    fn the_command_line_file_wins_over_alerts_path() {
        let configured = temp_file("configured", "- name: xid_wraparound\n  threshold: 7\n");
        let given = temp_file("given", "- name: xid_wraparound\n  threshold: 9\n");
        let main = MainConfig {
            alerts_path: Some(configured.display().to_string()),
            ..MainConfig::default()
        };
        let from_config = load(None, &main).unwrap().unwrap();
        assert_eq!(threshold(&from_config, "xid_wraparound"), 7.0);
        let from_flag = load(Some(&given), &main).unwrap().unwrap();
        assert_eq!(threshold(&from_flag, "xid_wraparound"), 9.0);
        fs::remove_file(configured).unwrap();
        fs::remove_file(given).unwrap();
    }

    #[test]
    fn a_bad_file_is_an_error_naming_it() {
        let bad = temp_file("bad", "- name: connections_high\n  threshold: many\n");
        let error = load(Some(&bad), &MainConfig::default()).unwrap_err();
        assert!(error.starts_with(&bad.display().to_string()), "{error}");
        fs::remove_file(&bad).unwrap();
        let missing = load(Some(&bad), &MainConfig::default()).unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
    }
}
