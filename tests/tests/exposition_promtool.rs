//! The exposition the core writes passes `promtool check metrics` (parse and lint).

use bytes::BytesMut;
use pgexporter_core::exposition::value::{label_value, parse_number_array, sample_value};
use pgexporter_core::exposition::{Encoder, Format, Histogram, MetricType};
use pgexporter_tests::promtool::check_metrics;

/// A body with every family type, special values and labels that need escaping.
fn body() -> BytesMut {
    let encoder = Encoder::new(Format::Text);
    let mut out = BytesMut::new();
    encoder
        .family(
            &mut out,
            "pgexporter_state",
            "1 while running",
            MetricType::Gauge,
        )
        .sample(&[], 1.0);
    encoder
        .family(
            &mut out,
            "pgexporter_query_executions_total",
            "Queries run, with a \\ backslash\nand a newline in the help.",
            MetricType::Counter,
        )
        .sample(&[], 12345.0);
    encoder
        .family(
            &mut out,
            "pgexporter_pg_settings_work_mem",
            "Sets the \"maximum\" memory.",
            MetricType::Gauge,
        )
        .sample(&[("server", "primary")], sample_value(Some("4096")))
        .sample(&[("server", "replica \"b\"")], sample_value(Some("off")))
        .sample(&[("server", "C:\\data\\pg")], sample_value(Some("NaN")))
        .sample(&[("server", "two\nlines")], f64::INFINITY)
        .sample(&[("server", "négatif")], f64::NEG_INFINITY)
        .sample(&[("server", label_value(None))], 1.5e-9);
    encoder
        .family(
            &mut out,
            "pgexporter_custom-query value",
            "Sanitised name.",
            MetricType::Untyped,
        )
        .sample(&[("server", "primary"), ("bad label", "x")], -3.25);
    let mut bounds = Vec::new();
    let mut counts = Vec::new();
    parse_number_array("{1,5,30,NULL}", 64, &mut bounds).expect("array text");
    parse_number_array("{2,4,8,9}", 64, &mut counts).expect("array text");
    let histogram = Histogram {
        upper_bounds: &bounds[..3],
        cumulative_counts: &counts[..3],
        sum: 99.5,
        count: 9.0,
    };
    encoder
        .histogram_family(&mut out, "pgexporter_pg_process_idle_seconds", "Idle time.")
        .histogram(
            &[("server", "primary"), ("application_name", "psql")],
            &histogram,
        )
        .expect("matching lengths")
        .histogram(
            &[("server", "primary"), ("application_name", "")],
            &histogram,
        )
        .expect("matching lengths");
    encoder.finish(&mut out);
    out
}

#[test]
fn promtool_accepts_the_text_format() {
    let body = body();
    let report = check_metrics(&body);
    assert!(
        report.code == Some(0) && report.findings().is_empty(),
        "promtool check metrics failed ({:?}):\n{}\nbody:\n{}",
        report.code,
        report.output,
        String::from_utf8_lossy(&body)
    );
}
