//! Reading custom metric definition files (`-Y`, `-J`, `metrics_path`) and extension
//! definition files (`extensions_path`) into a metric set.

use std::fs;
use std::path::{Path, PathBuf};

use pgexporter_core::config::MainConfig;
use pgexporter_core::metrics::{
    BUILTIN_SOURCES, MAX_SOURCE_LEN, MetricSet, Source, SourceFormat, load_extensions,
};

/// Custom definitions given on the command line, which replace the built-in set.
#[derive(Debug, Clone)]
pub struct Replacement {
    /// A file, or a directory of files of the format.
    pub path: PathBuf,
    /// YAML (`-Y`) or JSON (`-J`).
    pub format: SourceFormat,
}

/// The metric set to run: `replacement` when given, else the built-in set; plus the
/// definitions under `metrics_path` (a YAML or JSON file, or a directory of them); plus the
/// extension metrics: the shipped files, with those under `extensions_path` (a directory of
/// YAML files, or one file) added or replacing the shipped file of their extension, and
/// `extensions_top_statements` filled in.
///
/// # Errors
/// A message naming the file that cannot be read or that holds an invalid definition.
pub fn load(replacement: Option<&Replacement>, main: &MainConfig) -> Result<MetricSet, String> {
    let extension_files = match &main.extensions_path {
        Some(path) => read_definitions(Path::new(path), Some(SourceFormat::Yaml))?,
        None => Vec::new(),
    };
    let extension_sources: Vec<Source<'_>> = extension_files
        .iter()
        .map(|(name, text, format)| Source::new(name, text, *format))
        .collect();
    let extensions = load_extensions(&extension_sources, main.extensions_top_statements)
        .map_err(|error| error.to_string())?;
    load_definitions(replacement, main.metrics_path.as_deref().map(Path::new))?
        .with_extensions(extensions)
        .map_err(|error| error.to_string())
}

/// The built-in set or `replacement`, plus the definitions under `metrics_path`.
fn load_definitions(
    replacement: Option<&Replacement>,
    metrics_path: Option<&Path>,
) -> Result<MetricSet, String> {
    let mut files: Vec<(String, String, SourceFormat)> = Vec::new();
    match replacement {
        Some(replacement) => files.extend(read_definitions(
            &replacement.path,
            Some(replacement.format),
        )?),
        None => files.extend(
            BUILTIN_SOURCES
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned(), SourceFormat::Yaml)),
        ),
    }
    if let Some(path) = metrics_path {
        files.extend(read_definitions(path, None)?);
    }
    let sources: Vec<Source<'_>> = files
        .iter()
        .map(|(name, text, format)| Source::new(name, text, *format))
        .collect();
    MetricSet::from_sources(&sources).map_err(|error| error.to_string())
}

/// The format of `path` by its extension, when it is a definitions file.
fn format_of(path: &Path) -> Option<SourceFormat> {
    match path.extension()?.to_str()? {
        "yaml" | "yml" => Some(SourceFormat::Yaml),
        "json" => Some(SourceFormat::Json),
        _ => None,
    }
}

/// The definition files at `path` with their text: the file itself, or the files of a
/// directory in name order. `only` keeps one format; else both are read.
fn read_definitions(
    path: &Path,
    only: Option<SourceFormat>,
) -> Result<Vec<(String, String, SourceFormat)>, String> {
    let cannot = |error: std::io::Error| format!("{}: {error}", path.display());
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(path)
            .map_err(cannot)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|file| file.is_file() && format_of(file).is_some())
            .filter(|file| only.is_none() || format_of(file) == only)
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    files
        .into_iter()
        .map(|file| {
            let format = only
                .or_else(|| format_of(&file))
                .unwrap_or(SourceFormat::Yaml);
            let text = read_bounded(&file)?;
            Ok((file.display().to_string(), text, format))
        })
        .collect()
}

/// The text of the definitions file `file`, refused unread when larger than
/// [`MAX_SOURCE_LEN`].
///
/// # Errors
/// A message naming the file: missing, unreadable, too large or not UTF-8.
pub fn read_bounded(file: &Path) -> Result<String, String> {
    let size = fs::metadata(file)
        .map_err(|error| format!("{}: {error}", file.display()))?
        .len();
    if size > MAX_SOURCE_LEN as u64 {
        return Err(format!(
            "{}: larger than {MAX_SOURCE_LEN} bytes",
            file.display()
        ));
    }
    fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pgexporter-metric-files-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const CUSTOM: &str = "metrics:\n  - tag: custom_one\n    collector: custom\n    queries:\n      - query: SELECT 1\n        columns:\n          - type: gauge\n";

    #[test]
    fn builtin_set_plus_metrics_path() {
        let dir = temp_dir("path");
        fs::write(dir.join("a.yaml"), CUSTOM).unwrap();
        fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let main = MainConfig {
            metrics_path: Some(dir.display().to_string()),
            ..MainConfig::default()
        };
        let set = load(None, &main).unwrap();
        let tags: Vec<&str> = set
            .definitions()
            .iter()
            .filter(|d| d.extension.is_none())
            .map(|d| d.tag.as_str())
            .collect();
        assert!(tags.contains(&"pg_database_size"));
        assert_eq!(tags.last(), Some(&"custom_one"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_replacement_drops_the_builtin_set() {
        let dir = temp_dir("replace");
        let file = dir.join("custom.json");
        fs::write(&file, r#"{"metrics":[{"tag":"j","collector":"c","queries":[{"query":"SELECT 1","columns":[{"type":"gauge"}]}]}]}"#).unwrap();
        let replacement = Replacement {
            path: file,
            format: SourceFormat::Json,
        };
        let set = load(Some(&replacement), &MainConfig::default()).unwrap();
        assert_eq!(set.definitions()[0].tag, "j");
        assert!(
            set.definitions()[1..].iter().all(|d| d.extension.is_some()),
            "only the extension metrics stay"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_name_the_file() {
        let dir = temp_dir("broken");
        let file = dir.join("broken.yaml");
        fs::write(&file, "metrics:\n  - tag: x\n").unwrap();
        let error = load(
            Some(&Replacement {
                path: file.clone(),
                format: SourceFormat::Yaml,
            }),
            &MainConfig::default(),
        )
        .unwrap_err();
        assert!(error.starts_with(&file.display().to_string()), "{error}");
        let missing = dir.join("missing.yaml");
        let error = load(
            Some(&Replacement {
                path: missing.clone(),
                format: SourceFormat::Yaml,
            }),
            &MainConfig::default(),
        )
        .unwrap_err();
        assert!(error.starts_with(&missing.display().to_string()), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn extensions_path_adds_and_replaces_extension_files() {
        let dir = temp_dir("extensions");
        fs::write(
            dir.join("pgcrypto.yaml"),
            "extension: pgcrypto\nmetrics:\n  - metric: mine\n    queries:\n      - query: SELECT 1 AS n\n        version: '1.3'\n        columns: [{name: n, type: gauge}]\n",
        )
        .unwrap();
        fs::write(
            dir.join("other.yml"),
            "extension: other_ext\nmetrics:\n  - metric: m\n    queries:\n      - query: SELECT 1\n        version: '1'\n        columns: [{type: gauge}]\n",
        )
        .unwrap();
        fs::write(dir.join("notes.json"), "not read").unwrap();
        let main = MainConfig {
            extensions_path: Some(dir.display().to_string()),
            extensions_top_statements: 3,
            ..MainConfig::default()
        };
        let set = load(None, &main).unwrap();
        let of = |extension: &str| -> Vec<&str> {
            set.definitions()
                .iter()
                .filter(|d| d.extension.as_deref() == Some(extension))
                .map(|d| d.tag.as_str())
                .collect()
        };
        assert_eq!(of("pgcrypto"), ["pgcrypto_mine"]);
        assert_eq!(of("other_ext"), ["other_ext_m"]);
        assert!(!of("pg_stat_statements").is_empty());
        assert!(
            set.definitions()
                .iter()
                .flat_map(|d| &d.queries)
                .any(|q| q.sql.contains("LIMIT 3"))
        );

        fs::write(dir.join("broken.yaml"), "extension: x\nmetric: []\n").unwrap();
        let error = load(None, &main).unwrap_err();
        assert!(
            error.starts_with(&dir.join("broken.yaml").display().to_string()),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
