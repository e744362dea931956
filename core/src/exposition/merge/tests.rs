//! Merging on small bodies, the output read back by the strict parser.

use bytes::Bytes;

use super::*;
use crate::exposition::parse::parse;
use crate::exposition::strict_parser;

fn text(body: &str) -> Exposition {
    parse(Bytes::copy_from_slice(body.as_bytes()), SourceFormat::Text).unwrap()
}

fn openmetrics(body: &str) -> Exposition {
    parse(
        Bytes::copy_from_slice(body.as_bytes()),
        SourceFormat::OpenMetrics,
    )
    .unwrap()
}

fn merged(sources: &[Source<'_>], format: Format, skip: &dyn Fn(&str) -> bool) -> String {
    let mut out = BytesMut::new();
    write_merged(&mut out, format, sources, skip);
    if format == Format::OpenMetrics {
        out.put_slice(b"# EOF\n");
    }
    let body = String::from_utf8(out.to_vec()).unwrap();
    strict_parser::parse(&body, format).unwrap_or_else(|error| panic!("{error}\n{body}"));
    body
}

/// The merge of `exposition` alone, labelled `label="value"`, into `format`.
fn alone(exposition: &Exposition, label: &str, value: &str, format: Format) -> String {
    let sources = [Source {
        label,
        value,
        exposition,
    }];
    merged(&sources, format, &|_| false)
}

#[test]
fn families_merge_by_name_with_the_source_label_first() {
    let a = text(
        "# HELP up Up.\n# TYPE up gauge\nup 1\n# TYPE only_a counter\nonly_a{endpoint=\"x\"} 2 1000\n",
    );
    let b = text(
        "# HELP up Other help.\n# TYPE up gauge\nup{job=\"q\\\"\"} 0\n# TYPE zz untyped\nzz 3\n",
    );
    let sources = [
        Source {
            label: "endpoint",
            value: "a:1",
            exposition: &a,
        },
        Source {
            label: "endpoint",
            value: "b:2",
            exposition: &b,
        },
    ];
    assert_eq!(
        merged(&sources, Format::Text, &|_| false),
        concat!(
            "# TYPE only_a counter\n",
            "only_a{endpoint=\"a:1\",exported_endpoint=\"x\"} 2 1000\n",
            "# HELP up Up.\n# TYPE up gauge\n",
            "up{endpoint=\"a:1\"} 1\n",
            "up{endpoint=\"b:2\",job=\"q\\\"\"} 0\n",
            "# TYPE zz untyped\nzz{endpoint=\"b:2\"} 3\n",
        )
    );
    let skipped = merged(&sources, Format::Text, &|name| name == "up");
    assert!(!skipped.contains("up{"), "{skipped}");
}

#[test]
fn a_type_conflict_costs_the_later_source_its_family() {
    let a = text("# TYPE m gauge\nm 1\n");
    let b = text("# TYPE m counter\nm 2\n");
    let sources = [
        Source {
            label: "server",
            value: "a",
            exposition: &a,
        },
        Source {
            label: "server",
            value: "b",
            exposition: &b,
        },
    ];
    assert_eq!(
        merged(&sources, Format::Text, &|_| false),
        "# TYPE m gauge\nm{server=\"a\"} 1\n"
    );
}

#[test]
fn openmetrics_families_in_the_text_format() {
    let source = openmetrics(
        "# HELP req Requests.\n# TYPE req counter\nreq_total 10 1.5\nreq_created 1e9\n\
         # TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 1\nlat_count 1\nlat_sum 2\nlat_created 3\n\
         # TYPE build info\nbuild_info{v=\"1\"} 1\n# TYPE st stateset\nst{st=\"a\"} 1\n\
         # TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 4\nq_gcount 4\nq_gsum 9\n# EOF\n",
    );
    assert_eq!(
        alone(&source, "endpoint", "e", Format::Text),
        concat!(
            "# TYPE build_info gauge\nbuild_info{endpoint=\"e\",v=\"1\"} 1\n",
            "# TYPE lat histogram\nlat_bucket{endpoint=\"e\",le=\"+Inf\"} 1\n",
            "lat_count{endpoint=\"e\"} 1\nlat_sum{endpoint=\"e\"} 2\n",
            "# TYPE q_bucket gauge\nq_bucket{endpoint=\"e\",le=\"+Inf\"} 4\n",
            "# TYPE q_gcount gauge\nq_gcount{endpoint=\"e\"} 4\n",
            "# TYPE q_gsum gauge\nq_gsum{endpoint=\"e\"} 9\n",
            "# HELP req_total Requests.\n# TYPE req_total counter\n",
            "req_total{endpoint=\"e\"} 10 1500\n",
            "# TYPE st gauge\nst{endpoint=\"e\",st=\"a\"} 1\n",
        )
    );
}

#[test]
fn text_families_in_openmetrics() {
    let source = text(
        "# HELP a_total A \"quoted\" help.\n# TYPE a_total counter\na_total 1\n\
         # TYPE b counter\nb 2 -1500\n# TYPE c untyped\nc 3 1700000000123\n",
    );
    assert_eq!(
        alone(&source, "server", "s", Format::OpenMetrics),
        concat!(
            "# HELP a A \\\"quoted\\\" help.\n# TYPE a counter\na_total{server=\"s\"} 1\n",
            "# TYPE b counter\nb_total{server=\"s\"} 2 -1.500\n",
            "# TYPE c unknown\nc{server=\"s\"} 3 1700000000.123\n",
            "# EOF\n",
        )
    );
}

#[test]
fn a_renamed_label_never_meets_another() {
    let source = text("m{endpoint=\"a\",exported_endpoint=\"b\"} 1\n");
    assert_eq!(
        alone(&source, "endpoint", "e", Format::Text),
        "# TYPE m untyped\nm{endpoint=\"e\",exported_exported_endpoint=\"a\",exported_endpoint=\"b\"} 1\n"
    );
}
