//! A custom metrics file in the reference's own shapes loads unchanged and means what it means
//! to the reference: a histogram whose `_sum` and `_count` come first in the row is found by
//! name and named by its tag, a label column after the value column labels the samples, and
//! a definition of a family the exporter writes itself is set aside with a warning while the
//! family stays written once.

use std::fs;

use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Written in the reference's shapes: numeric `version`s, `sort`, `server`, descriptions on
/// labels, trailing semicolons, and the column order its own files use.
const REFERENCE_SHAPED: &str = "\
version: 10
metrics:
  - tag: postgresql_primary
    collector: primary
    sort: name
    server: both
    queries:
      - query: SELECT 0;
        version: 10
        columns:
          - description: A second definition of a family the exporter writes
            type: gauge
  - tag: custom_idle_seconds
    collector: custom_idle
    queries:
      - query: SELECT 'app' AS application_name, 7.5::float8 AS seconds_sum, 3 AS seconds_count,
               ARRAY[1, 5, 10] AS seconds, ARRAY[1, 2, 3] AS seconds_bucket;
        version: 10
        columns:
          - name: application_name
            type: label
          - name: seconds
            type: histogram
            description: Idle seconds
  - tag: custom_file_settings
    collector: custom_settings
    sort: data
    queries:
      - query: SELECT 'postgresql.conf' AS sourcefile, 3 AS count, 'true' AS applied;
        version: 10
        columns:
          - name: sourcefile
            type: label
          - type: gauge
            description: Settings applied
          - name: applied
            type: label
            description: Whether they were applied
";

#[test]
fn a_file_in_the_reference_shapes_means_the_same() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    let file = home.dir().join("reference.yaml");
    fs::write(&file, REFERENCE_SHAPED).unwrap();
    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &["-Y", file.to_str().unwrap()]);
    let body = exporter.scrape();
    for line in [
        "# TYPE pgexporter_custom_idle_seconds histogram\n",
        "pgexporter_custom_idle_seconds_bucket{server=\"primary\",application_name=\"app\",database=\"postgres\",le=\"5\"} 2\n",
        "pgexporter_custom_idle_seconds_bucket{server=\"primary\",application_name=\"app\",database=\"postgres\",le=\"+Inf\"} 3\n",
        "pgexporter_custom_idle_seconds_sum{server=\"primary\",application_name=\"app\",database=\"postgres\"} 7.5\n",
        "pgexporter_custom_idle_seconds_count{server=\"primary\",application_name=\"app\",database=\"postgres\"} 3\n",
        "pgexporter_custom_file_settings{server=\"primary\",sourcefile=\"postgresql.conf\",applied=\"true\",database=\"postgres\"} 3\n",
        "pgexporter_postgresql_primary{server=\"primary\"} 1\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert_eq!(
        body.matches("# TYPE pgexporter_postgresql_primary ")
            .count(),
        1,
        "{body}"
    );
    let log = exporter.log();
    assert!(
        log.contains("metric 'postgresql_primary' is set aside: the exporter writes 'pgexporter_postgresql_primary' itself"),
        "{log}"
    );
}
