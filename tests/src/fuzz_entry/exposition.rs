//! The `exposition_strict` target: what the exposition encoder writes must read back through
//! the strict parser to what it was given.

use arbitrary::{Result, Unstructured};
use bytes::BytesMut;
use pgexporter_core::exposition::strict_parser::{self, ParsedFamily};
use pgexporter_core::exposition::{
    Encoder, Format, MetricType, sanitize_label_name, sanitize_metric_name,
};

/// The most labels one sample gets.
const MAX_LABELS: usize = 8;

/// One family of one sample, drawn from the input.
#[derive(Debug)]
struct Family<'a> {
    format: Format,
    metric_type: MetricType,
    name: &'a str,
    help: &'a str,
    labels: Vec<(&'a str, &'a str)>,
    value: f64,
}

impl<'a> Family<'a> {
    fn draw(input: &mut Unstructured<'a>) -> Result<Self> {
        let format = if input.arbitrary()? {
            Format::OpenMetrics
        } else {
            Format::Text
        };
        let metric_type =
            *input.choose(&[MetricType::Gauge, MetricType::Counter, MetricType::Untyped])?;
        let name = input.arbitrary()?;
        let help = input.arbitrary()?;
        let value = input.arbitrary()?;
        let labels = input
            .arbitrary_iter()?
            .take(MAX_LABELS)
            .collect::<Result<Vec<(&str, &str)>>>()?;
        Ok(Family {
            format,
            metric_type,
            name,
            help,
            labels,
            value,
        })
    }
}

/// `exposition_strict`: the input (read with `arbitrary`) picks a format, a metric type, a
/// family name, help text, a value and up to [`MAX_LABELS`] label names and values. The
/// encoder writes that family of one sample; the strict parser must read it back with the
/// help and label values unchanged, the names as sanitised, and the same value.
pub fn exposition_strict(data: &[u8]) {
    let Ok(family) = Family::draw(&mut Unstructured::new(data)) else {
        return;
    };
    let encoder = Encoder::new(family.format);
    let mut out = BytesMut::new();
    encoder
        .family(&mut out, family.name, family.help, family.metric_type)
        .sample(&family.labels, family.value);
    encoder.finish(&mut out);
    let body = std::str::from_utf8(&out).expect("the encoder writes UTF-8");
    let parsed = strict_parser::parse(body, family.format)
        .unwrap_or_else(|error| panic!("{error}: {family:?} wrote {body:?}"));
    check(&family, &parsed);
}

/// Asserts that `parsed` holds exactly `family`.
fn check(family: &Family<'_>, parsed: &[ParsedFamily]) {
    let [read] = parsed else {
        panic!("one family written, {} read", parsed.len());
    };
    let expected_help = (!family.help.is_empty()).then_some(family.help);
    assert_eq!(read.help.as_deref(), expected_help, "help text");
    let [sample] = &read.samples[..] else {
        panic!("one sample written, {} read", read.samples.len());
    };
    let metric_name = sanitize_metric_name(family.name);
    assert!(
        sample.name.starts_with(read.name.as_str()) && metric_name.starts_with(read.name.as_str()),
        "sample {} of family {} written as {metric_name}",
        sample.name,
        read.name
    );
    let expected_labels: Vec<(String, String)> = family
        .labels
        .iter()
        .map(|(name, value)| (sanitize_label_name(name).into_owned(), (*value).to_owned()))
        .collect();
    assert_eq!(sample.labels, expected_labels, "labels");
    let same_value =
        (sample.value.is_nan() && family.value.is_nan()) || sample.value == family.value;
    assert!(
        same_value,
        "value {} read back as {}",
        family.value, sample.value
    );
}
