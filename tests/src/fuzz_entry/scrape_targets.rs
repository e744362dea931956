//! The targets of what the exporter reads from other exporters: their HTTP responses
//! (`http_client_response`) and their exposition bodies (`exposition_parse`).

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use pgexporter_core::exposition::Format;
use pgexporter_core::exposition::merge::{Source, write_merged};
use pgexporter_core::exposition::parse::{SourceFormat, parse};
use pgexporter_core::exposition::strict_parser;
use pgexporter_core::http::client::{ClientEvent, ClientLimits, Get, HttpClient};
use pgexporter_core::machine::Machine;

use super::{MACHINE_TIMEOUT, pieces};

/// The body limit of the fuzzed client: small, so that inputs reach it.
const BODY_LIMIT: usize = 64 * 1024;

/// `exposition_parse`: the first byte picks how the rest is read (even: the text format, odd:
/// OpenMetrics). A body the parser accepts is merged as the bridge does, into both formats;
/// each merged body must read back through the strict parser, and a text body merged into the
/// text format must keep every sample.
pub fn exposition_parse(data: &[u8]) {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let format = if choice % 2 == 0 {
        SourceFormat::Text
    } else {
        SourceFormat::OpenMetrics
    };
    let Ok(exposition) = parse(Bytes::copy_from_slice(body), format) else {
        return;
    };
    let sources = [Source {
        label: "endpoint",
        value: "fuzz:9100",
        exposition: &exposition,
    }];
    for output in [Format::Text, Format::OpenMetrics] {
        let mut out = BytesMut::new();
        write_merged(&mut out, output, &sources, &|_| false);
        if output == Format::OpenMetrics {
            out.put_slice(b"# EOF\n");
        }
        let merged = std::str::from_utf8(&out).expect("the merge writes UTF-8");
        let families = strict_parser::parse(merged, output)
            .unwrap_or_else(|error| panic!("{error}: {format:?} body merged into {merged:?}"));
        if format == SourceFormat::Text && output == Format::Text {
            let samples: usize = families.iter().map(|family| family.samples.len()).sum();
            assert_eq!(samples, exposition.sample_count(), "{merged}");
        }
    }
}

/// `http_client_response`: an [`HttpClient`] that sent one GET is given the input as the
/// server's bytes, cut by [`pieces`] (first byte: split seed), then the end of the stream and
/// its deadline. It must report exactly one outcome, a response whose body is within the limit.
pub fn http_client_response(data: &[u8]) {
    let now = Instant::now();
    let mut client = HttpClient::new(ClientLimits {
        max_head_bytes: 4096,
        max_body_bytes: BODY_LIMIT,
    });
    let get = Get {
        host: "fuzz:9100",
        path: "/metrics",
        accept: "text/plain",
    };
    client
        .get(now, &get, now + MACHINE_TIMEOUT)
        .expect("a new client takes a request");
    let mut events = Vec::new();
    for piece in pieces(data) {
        client.handle_input(now, piece);
        events.extend(std::iter::from_fn(|| client.poll_event()));
    }
    client.handle_eof(now);
    client.handle_timeout(now + MACHINE_TIMEOUT + Duration::from_secs(1));
    events.extend(std::iter::from_fn(|| client.poll_event()));
    assert_eq!(events.len(), 1, "one exchange, one outcome: {events:?}");
    assert!(client.is_finished(), "the stream ended");
    if let Some(ClientEvent::Response(response)) = events.first() {
        assert!(response.body.len() <= BODY_LIMIT);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The seeds are real exporters' bodies: each must parse, or the target would only ever
    /// see refusals.
    #[test]
    fn every_recorded_body_parses() {
        let seeds =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus-seeds/exposition_parse");
        let mut read = 0;
        for entry in std::fs::read_dir(&seeds).expect("the seed folder") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let (&choice, body) = data.split_first().expect("a format byte");
            let format = if choice % 2 == 0 {
                SourceFormat::Text
            } else {
                SourceFormat::OpenMetrics
            };
            let exposition = parse(Bytes::copy_from_slice(body), format)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(exposition.sample_count() > 10, "{}", path.display());
            read += 1;
        }
        assert!(read >= 6, "{read} seeds");
    }
}
