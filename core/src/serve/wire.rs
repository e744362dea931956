//! Jobs as bytes, for a runtime whose connections live in another process than the daemon
//! (the fork runtime's channel): every kind of job crosses the same way, so a new kind needs
//! nothing new in the runtime.

use std::time::Duration;

use super::{BridgeJob, BridgeView, Job, ProbeJob, ScrapeJob};
use crate::exposition::Format;
use crate::management::{Document, Request, Transport};
use crate::plan::DEFAULT_SCRAPE_TIMEOUT;

const SCRAPE: u8 = 1;
const MANAGEMENT: u8 = 2;
const PROBE: u8 = 3;
const BRIDGE: u8 = 4;

/// Bytes that are not a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed job message")]
pub struct MalformedJob;

impl Job {
    /// The job as one message.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut message = Vec::new();
        match self {
            Job::Scrape(scrape) => {
                message.extend([SCRAPE, format_byte(scrape.format)]);
                message.extend(timeout_bytes(scrape.timeout));
            }
            Job::Management(request) => {
                message.extend([MANAGEMENT, u8::from(request.transport == Transport::Remote)]);
                message.extend(request.document.to_json());
            }
            Job::Probe(probe) => {
                message.extend([PROBE, format_byte(probe.format)]);
                message.extend(timeout_bytes(probe.timeout));
                message.extend(probe.target.as_bytes());
            }
            Job::Bridge(bridge) => {
                message.extend([BRIDGE, u8::from(bridge.view == BridgeView::Json)]);
                message.extend(timeout_bytes(bridge.timeout));
            }
        }
        message
    }

    /// The job of a message made by [`Job::to_wire`].
    ///
    /// # Errors
    /// [`MalformedJob`] for anything else.
    pub fn from_wire(message: &[u8]) -> Result<Job, MalformedJob> {
        let job = match message {
            [SCRAPE, format, timeout @ ..] => Job::Scrape(ScrapeJob {
                format: format_of(*format)?,
                timeout: timeout_of(timeout)?,
            }),
            [MANAGEMENT, remote, json @ ..] => Job::Management(Request {
                document: Document::parse(json).map_err(|_| MalformedJob)?,
                transport: match remote {
                    0 => Transport::Local,
                    1 => Transport::Remote,
                    _ => return Err(MalformedJob),
                },
            }),
            [PROBE, format, rest @ ..] if rest.len() >= 8 => {
                let (timeout, target) = rest.split_at(8);
                Job::Probe(ProbeJob {
                    target: String::from_utf8(target.to_vec()).map_err(|_| MalformedJob)?,
                    timeout: timeout_of(timeout)?,
                    format: format_of(*format)?,
                })
            }
            [BRIDGE, view, timeout @ ..] => Job::Bridge(BridgeJob {
                view: match view {
                    0 => BridgeView::Text,
                    1 => BridgeView::Json,
                    _ => return Err(MalformedJob),
                },
                timeout: timeout_of(timeout)?,
            }),
            _ => return Err(MalformedJob),
        };
        Ok(job)
    }

    /// The longest the daemon's answer to the job may take: its scrape timeout (or the
    /// default one); `None` for a management request, bounded by its connection's own timeout.
    pub fn answer_bound(&self) -> Option<Duration> {
        let timeout = match self {
            Job::Scrape(ScrapeJob { timeout, .. })
            | Job::Probe(ProbeJob { timeout, .. })
            | Job::Bridge(BridgeJob { timeout, .. }) => *timeout,
            Job::Management(_) => return None,
        };
        Some(timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT))
    }
}

fn format_byte(format: Format) -> u8 {
    u8::from(format == Format::OpenMetrics)
}

fn format_of(byte: u8) -> Result<Format, MalformedJob> {
    match byte {
        0 => Ok(Format::Text),
        1 => Ok(Format::OpenMetrics),
        _ => Err(MalformedJob),
    }
}

/// A timeout as eight bytes of milliseconds, zero for none.
fn timeout_bytes(timeout: Option<Duration>) -> [u8; 8] {
    let millis = timeout.map_or(0, |timeout| timeout.as_millis().max(1));
    u64::try_from(millis).unwrap_or(u64::MAX).to_be_bytes()
}

fn timeout_of(bytes: &[u8]) -> Result<Option<Duration>, MalformedJob> {
    let millis = u64::from_be_bytes(bytes.try_into().map_err(|_| MalformedJob)?);
    Ok((millis > 0).then(|| Duration::from_millis(millis)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::{Command, Header, Object, Output};

    #[test]
    fn every_job_crosses_whole() {
        let ping = Document::request(
            Header::new(Command::Ping, Output::Json, "20261125000000"),
            Object::new(),
        );
        let jobs = [
            Job::Scrape(ScrapeJob {
                format: Format::OpenMetrics,
                timeout: Some(Duration::from_millis(1500)),
            }),
            Job::Scrape(ScrapeJob {
                format: Format::Text,
                timeout: None,
            }),
            Job::Management(Request {
                document: ping,
                transport: Transport::Remote,
            }),
            Job::Probe(ProbeJob {
                target: "primary é".into(),
                timeout: Some(Duration::from_secs(4)),
                format: Format::Text,
            }),
            Job::Bridge(BridgeJob {
                timeout: None,
                view: BridgeView::Json,
            }),
        ];
        for job in jobs {
            assert_eq!(Job::from_wire(&job.to_wire()), Ok(job.clone()));
        }
    }

    #[test]
    fn garbage_is_refused_and_bounds_follow_the_timeout() {
        for garbage in [
            &[][..],
            &[SCRAPE, 0, 1],
            &[SCRAPE, 7, 0, 0, 0, 0, 0, 0, 0, 0],
            &[MANAGEMENT, 0, b'{'],
            &[PROBE, 0, 0],
            &[BRIDGE, 2, 0, 0, 0, 0, 0, 0, 0, 0],
            &[9],
        ] {
            assert_eq!(Job::from_wire(garbage), Err(MalformedJob), "{garbage:?}");
        }
        let bridge = Job::Bridge(BridgeJob {
            timeout: Some(Duration::from_secs(3)),
            view: BridgeView::Text,
        });
        assert_eq!(bridge.answer_bound(), Some(Duration::from_secs(3)));
        let scrape = Job::Scrape(ScrapeJob {
            timeout: None,
            format: Format::Text,
        });
        assert_eq!(scrape.answer_bound(), Some(DEFAULT_SCRAPE_TIMEOUT));
    }
}
