//! Jobs and history answers as bytes, for a runtime whose connections live in another process
//! than the daemon (the fork runtime's channel): every kind of job crosses the same way, so a
//! new kind needs nothing new in the runtime.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bytes::Bytes;

use super::{BridgeJob, BridgeView, Job, ProbeJob, ScrapeJob};
use crate::exposition::Format;
use crate::history::{
    Cursor, HistoryAnswer, HistoryJob, PIECE_TIMEOUT, PageStart, StoreKind, Window,
};
use crate::management::{Document, REFUSAL_DELAY, Request, Transport};
use crate::plan::DEFAULT_SCRAPE_TIMEOUT;

const SCRAPE: u8 = 1;
const MANAGEMENT: u8 = 2;
const PROBE: u8 = 3;
const BRIDGE: u8 = 4;
const HISTORY: u8 = 5;
const LOGIN_REFUSED: u8 = 6;
const READINESS: u8 = 7;

const HISTORY_PIECE: u8 = 1;
const HISTORY_FAILED: u8 = 2;
const HISTORY_BUSY: u8 = 3;

/// Bytes that are not a job (or not a history answer).
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
            Job::History(job) => {
                let (kind, numbers) = match job.start {
                    PageStart::First {
                        timestamp,
                        duration,
                    } => (
                        u8::from(timestamp.is_some()),
                        [timestamp.unwrap_or(0), duration, 0, 0],
                    ),
                    PageStart::After(cursor) => (2, cursor_numbers(cursor)),
                };
                message.extend([HISTORY, store_byte(job.store), kind]);
                for number in numbers {
                    message.extend(number.to_be_bytes());
                }
                message.extend(job.metric.as_bytes());
            }
            Job::Readiness => message.push(READINESS),
            Job::LoginRefused { source } => {
                message.push(LOGIN_REFUSED);
                match source {
                    None => {}
                    Some(IpAddr::V4(v4)) => message.extend(v4.octets()),
                    Some(IpAddr::V6(v6)) => message.extend(v6.octets()),
                }
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
            [HISTORY, store, kind, rest @ ..] => {
                let ([first, second, third, fourth], metric) = read_numbers(rest)?;
                let start = match kind {
                    0 | 1 => PageStart::First {
                        timestamp: (*kind == 1).then_some(first),
                        duration: second,
                    },
                    2 => PageStart::After(Cursor {
                        window: Window {
                            from: first,
                            to: second,
                        },
                        timestamp: third,
                        series: fourth,
                    }),
                    _ => return Err(MalformedJob),
                };
                Job::History(HistoryJob {
                    store: store_of(*store)?,
                    metric: String::from_utf8(metric.to_vec()).map_err(|_| MalformedJob)?,
                    start,
                })
            }
            [READINESS] => Job::Readiness,
            [LOGIN_REFUSED, address @ ..] => Job::LoginRefused {
                source: match address.len() {
                    0 => None,
                    4 => Some(IpAddr::V4(Ipv4Addr::from(read_octets::<4>(address)?))),
                    16 => Some(IpAddr::V6(Ipv6Addr::from(read_octets::<16>(address)?))),
                    _ => return Err(MalformedJob),
                },
            },
            _ => return Err(MalformedJob),
        };
        Ok(job)
    }

    /// The longest the daemon's answer to the job may take: its scrape timeout (or the
    /// default one, also for a readiness job, which may wait for a scrape), [`PIECE_TIMEOUT`]
    /// for a piece of a history answer; `None` for a management request, bounded by its
    /// connection's own timeout; [`REFUSAL_DELAY`] for a refused login, which is told after
    /// that delay when no answer comes.
    pub fn answer_bound(&self) -> Option<Duration> {
        let timeout = match self {
            Job::LoginRefused { .. } => return Some(REFUSAL_DELAY),
            Job::Scrape(ScrapeJob { timeout, .. })
            | Job::Probe(ProbeJob { timeout, .. })
            | Job::Bridge(BridgeJob { timeout, .. }) => *timeout,
            Job::Management(_) => return None,
            Job::History(_) => return Some(PIECE_TIMEOUT),
            Job::Readiness => None,
        };
        Some(timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT))
    }
}

impl HistoryAnswer {
    /// The answer as one message.
    pub fn to_wire(&self) -> Vec<u8> {
        match self {
            HistoryAnswer::Piece { body, next } => {
                let mut message = vec![HISTORY_PIECE, u8::from(next.is_some())];
                for number in next.map_or([0; 4], cursor_numbers) {
                    message.extend(number.to_be_bytes());
                }
                message.extend_from_slice(body);
                message
            }
            HistoryAnswer::Failed => vec![HISTORY_FAILED],
            HistoryAnswer::Busy => vec![HISTORY_BUSY],
        }
    }

    /// The answer of a message made by [`HistoryAnswer::to_wire`].
    ///
    /// # Errors
    /// [`MalformedJob`] for anything else.
    pub fn from_wire(message: &[u8]) -> Result<HistoryAnswer, MalformedJob> {
        match message {
            [HISTORY_PIECE, more @ (0 | 1), rest @ ..] => {
                let ([from, to, timestamp, series], body) = read_numbers(rest)?;
                let next = (*more == 1).then_some(Cursor {
                    window: Window { from, to },
                    timestamp,
                    series,
                });
                Ok(HistoryAnswer::Piece {
                    body: Bytes::copy_from_slice(body),
                    next,
                })
            }
            [HISTORY_FAILED] => Ok(HistoryAnswer::Failed),
            [HISTORY_BUSY] => Ok(HistoryAnswer::Busy),
            _ => Err(MalformedJob),
        }
    }
}

fn cursor_numbers(cursor: Cursor) -> [i64; 4] {
    [
        cursor.window.from,
        cursor.window.to,
        cursor.timestamp,
        cursor.series,
    ]
}

fn read_octets<const N: usize>(bytes: &[u8]) -> Result<[u8; N], MalformedJob> {
    bytes.try_into().map_err(|_| MalformedJob)
}

/// Four big-endian `i64`s, then the rest of the message.
fn read_numbers(message: &[u8]) -> Result<([i64; 4], &[u8]), MalformedJob> {
    let mut numbers = [0i64; 4];
    let mut rest = message;
    for number in &mut numbers {
        let (bytes, after) = rest.split_first_chunk::<8>().ok_or(MalformedJob)?;
        *number = i64::from_be_bytes(*bytes);
        rest = after;
    }
    Ok((numbers, rest))
}

fn store_byte(store: StoreKind) -> u8 {
    u8::from(store == StoreKind::Bridge)
}

fn store_of(byte: u8) -> Result<StoreKind, MalformedJob> {
    match byte {
        0 => Ok(StoreKind::Metrics),
        1 => Ok(StoreKind::Bridge),
        _ => Err(MalformedJob),
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
            Job::History(HistoryJob {
                store: StoreKind::Metrics,
                metric: "pgexporter_pg_database_size".into(),
                start: PageStart::First {
                    timestamp: Some(-5),
                    duration: -600,
                },
            }),
            Job::History(HistoryJob {
                store: StoreKind::Bridge,
                metric: "m".into(),
                start: PageStart::First {
                    timestamp: None,
                    duration: 3,
                },
            }),
            Job::History(HistoryJob {
                store: StoreKind::Bridge,
                metric: "m".into(),
                start: PageStart::After(CURSOR),
            }),
            Job::Readiness,
            Job::LoginRefused { source: None },
            Job::LoginRefused {
                source: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            },
            Job::LoginRefused {
                source: Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9))),
            },
        ];
        for job in jobs {
            assert_eq!(Job::from_wire(&job.to_wire()), Ok(job.clone()));
        }
    }

    const CURSOR: Cursor = Cursor {
        window: Window { from: -10, to: 20 },
        timestamp: 7,
        series: i64::MAX,
    };

    #[test]
    fn every_history_answer_crosses_whole() {
        for answer in [
            HistoryAnswer::Piece {
                body: Bytes::from_static(b"[{}"),
                next: Some(CURSOR),
            },
            HistoryAnswer::Piece {
                body: Bytes::from_static(b"]"),
                next: None,
            },
            HistoryAnswer::Failed,
            HistoryAnswer::Busy,
        ] {
            assert_eq!(HistoryAnswer::from_wire(&answer.to_wire()), Ok(answer));
        }
        for garbage in [&[][..], &[HISTORY_PIECE, 2], &[HISTORY_PIECE, 1, 0], &[9]] {
            assert_eq!(HistoryAnswer::from_wire(garbage), Err(MalformedJob));
        }
        assert_eq!(Job::from_wire(&[HISTORY, 3, 0]), Err(MalformedJob));
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
            &[LOGIN_REFUSED, 127, 0, 0],
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
