//! `/metrics` bodies rendered once per scrape result and shared by every connection answered
//! from it: the first connection that needs a format (and gzip) renders it, the others send
//! the same [`Bytes`].

use std::sync::{Arc, OnceLock, Weak};

use bytes::{Bytes, BytesMut};

use crate::exposition::Format;
use crate::http::{SharedBody, gzip_body};
use crate::scrape::{ExporterCounters, ScrapeResult};

/// A scrape result and the exporter's counts it is rendered with, and its bodies, each
/// rendered on first use: text and OpenMetrics, plain and gzip'd.
///
/// The counts (`pgexporter_logging_*`, `pgexporter_history_*`) are part of the body, so one
/// `ScrapeBodies` is shared only by the answers given with equal counts
/// ([`LatestBodies::share`]): every client sees the counts of the moment it was answered, as
/// when each rendered its own body.
#[derive(Debug)]
pub struct ScrapeBodies {
    result: Arc<ScrapeResult>,
    counters: ExporterCounters,
    /// Text, then OpenMetrics.
    plain: [OnceLock<Bytes>; 2],
    /// The same, gzip'd at the level of the first connection that asked.
    gzipped: [OnceLock<(u32, Bytes)>; 2],
}

impl ScrapeBodies {
    /// The bodies of `result` with `counters`, none rendered yet.
    pub fn new(result: Arc<ScrapeResult>, counters: ExporterCounters) -> ScrapeBodies {
        ScrapeBodies {
            result,
            counters,
            plain: Default::default(),
            gzipped: Default::default(),
        }
    }

    /// The result rendered.
    pub fn result(&self) -> &Arc<ScrapeResult> {
        &self.result
    }

    /// The counts rendered with it.
    pub fn counters(&self) -> ExporterCounters {
        self.counters
    }

    /// The body in `format`, rendered on the first call for that format.
    pub fn plain(&self, format: Format) -> Bytes {
        self.plain[slot(format)]
            .get_or_init(|| {
                let mut body = BytesMut::new();
                self.result.render(format, &self.counters, &mut body);
                body.freeze()
            })
            .clone()
    }

    /// The body in `format` gzip'd at `level`, compressed on the first call for that format.
    /// A later call at another level (a port configured otherwise) compresses a body of its
    /// own, not kept.
    pub fn gzipped(&self, format: Format, level: u32) -> Bytes {
        let compress = || Bytes::from(gzip_body(&self.plain(format), level));
        let (kept_level, kept) = self.gzipped[slot(format)].get_or_init(|| (level, compress()));
        if *kept_level == level {
            kept.clone()
        } else {
            compress()
        }
    }

    /// The body in `format`, as an HTTP response sends it.
    pub fn in_format(&self, format: Format) -> InFormat<'_> {
        InFormat {
            bodies: self,
            format,
        }
    }
}

/// One format of a [`ScrapeBodies`], plain or gzip'd as the request accepts.
#[derive(Debug, Clone, Copy)]
pub struct InFormat<'a> {
    bodies: &'a ScrapeBodies,
    format: Format,
}

impl SharedBody for InFormat<'_> {
    fn plain(&self) -> Bytes {
        self.bodies.plain(self.format)
    }

    fn gzipped(&self, level: u32) -> Bytes {
        self.bodies.gzipped(self.format, level)
    }
}

fn slot(format: Format) -> usize {
    match format {
        Format::Text => 0,
        Format::OpenMetrics => 1,
    }
}

/// The bodies the daemon answered with last, while a connection still holds them: the next
/// answer from the same result with equal counts shares them. Held weakly, so the bodies go
/// when the last connection answered from them has sent them (or the daemon answers from
/// another result); one at most, never growing.
#[derive(Debug, Default)]
pub(crate) struct LatestBodies(Weak<ScrapeBodies>);

impl LatestBodies {
    /// The bodies to answer with from `result` and `counters`: the latest ones when they are
    /// of this result with equal counts and still held, else new ones.
    pub(crate) fn share(
        &mut self,
        result: Arc<ScrapeResult>,
        counters: ExporterCounters,
    ) -> Arc<ScrapeBodies> {
        if let Some(latest) = self.0.upgrade()
            && Arc::ptr_eq(&latest.result, &result)
            && latest.counters == counters
        {
            return latest;
        }
        let bodies = Arc::new(ScrapeBodies::new(result, counters));
        self.0 = Arc::downgrade(&bodies);
        bodies
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::gunzip;
    use crate::scrape::LogCounters;

    pub(crate) use crate::scrape::empty_result;

    /// Counts with `info` log lines.
    pub(crate) fn counters(info: u64) -> ExporterCounters {
        ExporterCounters {
            logs: LogCounters {
                info,
                ..LogCounters::default()
            },
            history: None,
        }
    }

    #[test]
    fn each_format_and_encoding_is_rendered_once() {
        let bodies = ScrapeBodies::new(empty_result(crate::test_clock::origin()), counters(3));
        let text = bodies.plain(Format::Text);
        let openmetrics = bodies.plain(Format::OpenMetrics);
        assert_eq!(text.as_ptr(), bodies.plain(Format::Text).as_ptr());
        assert_eq!(
            openmetrics.as_ptr(),
            bodies.plain(Format::OpenMetrics).as_ptr()
        );
        assert!(String::from_utf8_lossy(&text).contains("pgexporter_logging_info 3\n"));
        assert!(openmetrics.ends_with(b"# EOF\n"));
        assert!(!text.ends_with(b"# EOF\n"));

        let gzipped = bodies.gzipped(Format::Text, 1);
        assert_eq!(gzipped.as_ptr(), bodies.gzipped(Format::Text, 1).as_ptr());
        assert_eq!(gunzip(&gzipped), text);
        let gzipped_openmetrics = bodies.gzipped(Format::OpenMetrics, 1);
        assert_eq!(
            gzipped_openmetrics.as_ptr(),
            bodies.gzipped(Format::OpenMetrics, 1).as_ptr()
        );
        assert_eq!(gunzip(&gzipped_openmetrics), openmetrics);

        let other_level = bodies.gzipped(Format::Text, 9);
        assert_ne!(other_level.as_ptr(), gzipped.as_ptr(), "compressed apart");
        assert_eq!(gunzip(&other_level), text);
        assert_eq!(
            gzipped.as_ptr(),
            bodies.gzipped(Format::Text, 1).as_ptr(),
            "the kept body stays"
        );
    }

    #[test]
    fn answers_share_bodies_of_one_result_with_equal_counts_while_held() {
        let now = crate::test_clock::origin();
        let result = empty_result(now);
        let mut latest = LatestBodies::default();
        let first = latest.share(Arc::clone(&result), counters(1));
        let second = latest.share(Arc::clone(&result), counters(1));
        assert!(Arc::ptr_eq(&first, &second));
        let recounted = latest.share(Arc::clone(&result), counters(2));
        assert!(!Arc::ptr_eq(&first, &recounted), "other counts, other body");
        let other = latest.share(empty_result(now), counters(2));
        assert!(!Arc::ptr_eq(&recounted, &other), "another result");
        let weak = Arc::downgrade(&other);
        drop((first, second, recounted, other));
        assert!(weak.upgrade().is_none(), "nothing keeps the bodies");
        let again = latest.share(result, counters(1));
        assert_eq!(Arc::strong_count(&again), 1, "rendered anew");
    }
}
