//! The parser on real exporters' shapes, the reference's variant, and what it must refuse.

use super::*;

fn text(body: &str) -> Exposition {
    parse(Bytes::copy_from_slice(body.as_bytes()), SourceFormat::Text)
        .unwrap_or_else(|error| panic!("{error}\n{body}"))
}

fn openmetrics(body: &str) -> Exposition {
    parse(
        Bytes::copy_from_slice(body.as_bytes()),
        SourceFormat::OpenMetrics,
    )
    .unwrap_or_else(|error| panic!("{error}\n{body}"))
}

fn refused(body: &str, format: SourceFormat) -> ParseError {
    match parse(Bytes::copy_from_slice(body.as_bytes()), format) {
        Ok(exposition) => panic!("accepted {body:?}: {exposition:?}"),
        Err(error) => error,
    }
}

/// Family name, type and sample count of each family.
fn shapes(exposition: &Exposition) -> Vec<(&str, FamilyType, usize)> {
    exposition
        .families()
        .map(|family| (family.name(), family.kind(), family.sample_count()))
        .collect()
}

/// Checks that each body is refused in `format` at the line given, for a reason containing the
/// text given.
fn assert_refusals(format: SourceFormat, cases: &[(&str, usize, &str)]) {
    for &(body, line, reason) in cases {
        let error = refused(body, format);
        assert_eq!(error.line, line, "{body:?}: {error}");
        assert!(error.reason.contains(reason), "{body:?}: {error}");
    }
}

/// Family name, type, and each sample as `name{labels} value`.
fn summary(exposition: &Exposition) -> Vec<(String, FamilyType, Vec<String>)> {
    exposition
        .families()
        .map(|family| {
            let samples = family
                .samples()
                .map(|sample| {
                    let labels: Vec<String> = sample
                        .labels()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect();
                    format!(
                        "{}{{{}}} {}",
                        sample.name(),
                        labels.join(","),
                        sample.value()
                    )
                })
                .collect();
            (family.name().to_owned(), family.kind(), samples)
        })
        .collect()
}

/// The shape of Go client_golang's text output (node_exporter, postgres_exporter).
const GO_TEXT: &str = r#"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.4e-05
go_gc_duration_seconds{quantile="1"} 0.000134
go_gc_duration_seconds_sum 0.001234
go_gc_duration_seconds_count 12
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 12345.67
node_cpu_seconds_total{cpu="0",mode="user"} 89.1
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 3
http_request_duration_seconds_bucket{le="+Inf"} 5
http_request_duration_seconds_sum 0.7
http_request_duration_seconds_count 5
# HELP node_uname_info Labeled system information as provided by the uname system call.
# TYPE node_uname_info gauge
node_uname_info{domainname="(none)",machine="x86_64",nodename="db\"1\\a",release="6.1.0"} 1
"#;

#[test]
fn go_clients_text_output() {
    let exposition = text(GO_TEXT);
    assert_eq!(
        shapes(&exposition),
        [
            ("go_gc_duration_seconds", FamilyType::Summary, 4),
            ("node_cpu_seconds_total", FamilyType::Counter, 2),
            ("http_request_duration_seconds", FamilyType::Histogram, 4),
            ("node_uname_info", FamilyType::Gauge, 1),
        ]
    );
    assert_eq!(
        summary(&exposition)[2].2[1],
        "http_request_duration_seconds_bucket{le=+Inf} 5"
    );
    let uname = exposition.families().nth(3).unwrap();
    let nodename = uname.samples().next().unwrap().labels().nth(2).unwrap().1;
    assert_eq!(nodename, r#"db\"1\\a"#);
    assert_eq!(unescape_label_value(nodename), r#"db"1\a"#);
    assert_eq!(exposition.sample_count(), 11);
    assert_eq!(
        uname.help().as_deref(),
        Some("Labeled system information as provided by the uname system call.")
    );
}

#[test]
fn the_references_own_form() {
    let body = "#HELP pgexporter_state The state of pgexporter\n#TYPE pgexporter_state gauge\n\
                pgexporter_state 1\n\n#HELP pgexporter_pg_db_conn Connections\n\
                #TYPE pgexporter_pg_db_conn gauge\npgexporter_pg_db_conn{server=\"primary\", database=\"postgres\"} 3\r\n";
    let exposition = text(body);
    let families = summary(&exposition);
    assert_eq!(families[0].0, "pgexporter_state");
    assert_eq!(families[0].1, FamilyType::Gauge);
    assert_eq!(
        families[1].2,
        ["pgexporter_pg_db_conn{server=primary,database=postgres} 3"]
    );
    assert_eq!(
        exposition.families().next().unwrap().help().as_deref(),
        Some("The state of pgexporter")
    );
}

#[test]
fn loose_text_spacing_timestamps_and_untyped_families() {
    let body = "  a{ x = \"1\" , y=\"2\", } \t 1.5e3 1700000000000\n# a comment\n\
                b NaN\nc{} -Inf -5\nb_bucket 7\n";
    let exposition = text(body);
    let families = summary(&exposition);
    assert_eq!(families[0].2, ["a{x=1,y=2} 1500"]);
    assert_eq!(
        families
            .iter()
            .map(|(name, kind, _)| (name.as_str(), *kind))
            .collect::<Vec<_>>(),
        [
            ("a", FamilyType::Untyped),
            ("b", FamilyType::Untyped),
            ("c", FamilyType::Untyped),
            ("b_bucket", FamilyType::Untyped),
        ]
    );
    let stamps: Vec<Option<i64>> = exposition
        .families()
        .flat_map(|family| {
            family
                .samples()
                .map(|sample| sample.timestamp_ms())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(stamps, [Some(1_700_000_000_000), None, Some(-5), None]);
}

#[test]
fn interleaved_text_samples_are_grouped() {
    let exposition = text("# TYPE a gauge\na{i=\"1\"} 1\nb 2\na{i=\"2\"} 3\n");
    let families = summary(&exposition);
    assert_eq!(families[0].2, ["a{i=1} 1", "a{i=2} 3"]);
    assert_eq!(families[1].2, ["b{} 2"]);
}

#[test]
fn text_refusals_name_the_line() {
    let cases = [
        ("a 1\nb{x=\"1\" 2\n", 2, "expected ',' or '}'"),
        ("a{x=\"\\t\"} 1\n", 1, "bad escape"),
        ("a{x=\"1\",x=\"2\"} 1\n", 1, "given twice"),
        ("a one\n", 1, "bad value"),
        ("a 1 2 3\n", 1, "unexpected"),
        ("a 1 1.5\n", 1, "bad timestamp"),
        ("# TYPE a gauge\n# TYPE a counter\n", 2, "second TYPE"),
        ("a 1\n# TYPE a gauge\n", 2, "after the family's samples"),
        ("# TYPE a info\n", 1, "unknown type"),
        ("# TYPE h histogram\nh 1\n", 2, "does not fit"),
        ("9a 1\n", 1, "expected a metric name"),
        ("a{x=\"unterminated} 1\n", 1, "closing quote"),
        ("# HELP a bad \\q escape\n", 1, "bad escape"),
    ];
    assert_refusals(SourceFormat::Text, &cases);
    let not_utf8 = parse(
        Bytes::from_static(b"a 1\nb{x=\"\xff\"} 1\n"),
        SourceFormat::Text,
    );
    assert_eq!(not_utf8.unwrap_err().line, 2);
}

/// The shape of an OpenMetrics body from client_python or client_golang.
const OPENMETRICS: &str = "# HELP requests Requests served.\n# TYPE requests counter\n\
requests_total{path=\"/\"} 10 1700000000.5 # {trace_id=\"abc\"} 1 1700000000.1\n\
requests_created{path=\"/\"} 1.7e9\n\
# TYPE latency_seconds histogram\n# UNIT latency_seconds seconds\n\
latency_seconds_bucket{le=\"1.0\"} 2\nlatency_seconds_bucket{le=\"+Inf\"} 3\n\
latency_seconds_count 3\nlatency_seconds_sum 1.5\n\
# TYPE build info\nbuild_info{version=\"1.2\"} 1\n\
# TYPE state stateset\nstate{state=\"a\"} 1\nstate{state=\"b\"} 0\n\
# TYPE queue gaugehistogram\nqueue_bucket{le=\"+Inf\"} 4\nqueue_gcount 4\nqueue_gsum 9\n\
plain 5\n# EOF\n";

#[test]
fn openmetrics_families_suffixes_and_timestamps() {
    let exposition = openmetrics(OPENMETRICS);
    assert_eq!(
        shapes(&exposition),
        [
            ("requests", FamilyType::Counter, 2),
            ("latency_seconds", FamilyType::Histogram, 4),
            ("build", FamilyType::Info, 1),
            ("state", FamilyType::StateSet, 2),
            ("queue", FamilyType::GaugeHistogram, 3),
            ("plain", FamilyType::Untyped, 1),
        ]
    );
    let first = exposition
        .families()
        .next()
        .unwrap()
        .samples()
        .next()
        .unwrap();
    assert_eq!(first.timestamp_ms(), Some(1_700_000_000_500));
    assert_eq!(
        first.labels().count(),
        1,
        "the exemplar's labels are not the sample's"
    );
}

#[test]
fn openmetrics_refusals() {
    let cases = [
        ("a 1\n", 1, "no # EOF"),
        ("a 1\n# EOF\nb 2\n", 2, "after # EOF"),
        ("a 1\n# EOF", 2, "newline"),
        ("# TYPE a counter\na 1\n# EOF\n", 2, "does not follow"),
        (
            "# TYPE a gauge\na 1\nb 1\na 2\n# EOF\n",
            4,
            "does not follow",
        ),
        (
            "# TYPE a counter\na_total 1\nb 1\na_created 2\n# EOF\n",
            4,
            "does not follow",
        ),
        ("a 1\n# TYPE a gauge\n# EOF\n", 2, "after its family began"),
        ("a  1\n# EOF\n", 1, "bad value"),
        ("a{x=\"1\",} 1\n# EOF\n", 1, "comma"),
        ("a{x=\"1\"} 1 # trace\n# EOF\n", 1, "exemplar"),
        ("\n# EOF\n", 1, "metric name"),
        ("# TYPE a untyped\n# EOF\n", 1, "unknown type"),
        ("# UNIT a_bytes seconds\n# EOF\n", 1, "unit"),
    ];
    assert_refusals(SourceFormat::OpenMetrics, &cases);
}

#[test]
fn the_content_type_names_the_format() {
    assert_eq!(SourceFormat::of_content_type(None), SourceFormat::Text);
    assert_eq!(
        SourceFormat::of_content_type(Some("text/plain; version=0.0.4; charset=utf-8")),
        SourceFormat::Text
    );
    assert_eq!(
        SourceFormat::of_content_type(Some("application/openmetrics-text; version=1.0.0")),
        SourceFormat::OpenMetrics
    );
}

#[test]
fn every_prefix_of_a_body_is_handled_without_panic() {
    for body in [GO_TEXT, OPENMETRICS] {
        for format in [SourceFormat::Text, SourceFormat::OpenMetrics] {
            for end in 0..=body.len() {
                let Some(prefix) = body.get(..end) else {
                    continue;
                };
                // Either outcome is fine; it must not panic.
                let _ = parse(Bytes::copy_from_slice(prefix.as_bytes()), format);
            }
        }
    }
}
