//! One connection on the history port: `GET /history/<metric>` answered with JSON, piece by
//! piece as the daemon reads the database.
//!
//! A request the API refuses (SPEC §11) is answered here: 404 for another path, 400 for a
//! metric name or a parameter that cannot be. Otherwise each piece of the answer is a
//! [`Job::History`] and comes back as an [`Answer::History`]: the first opens a chunked 200
//! response (500 when the database cannot be read, 503 when too many queries wait), the
//! following ones are asked for as each is written, so the connection holds one piece at a
//! time whatever the window. A database that fails after the first piece cuts the body short.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;

use super::{Answer, Job};
use crate::history::api::Refusal;
use crate::history::{HistoryAnswer, HistoryJob, HistoryRequest, PageStart, StoreKind};
use crate::http::{Event, HttpConfig, HttpConnection, HttpError, Response, Status};
use crate::machine::{Machine, Peer};

/// The `Content-Type` of answers.
const JSON: &str = "application/json; charset=utf-8";

/// The answer in progress.
struct Answering {
    metric: String,
    head_only: bool,
    /// Whether the 200 head was sent.
    started: bool,
}

/// An HTTP connection of the history port as a [`Machine`] whose events are [`Job`]s.
pub struct HistoryService {
    http: HttpConnection,
    store: StoreKind,
    answering: Option<Answering>,
    jobs: VecDeque<Job>,
}

impl HistoryService {
    /// A connection accepted at `now` that answers from `store`; `config` routes the history
    /// paths.
    pub fn new(config: HttpConfig, store: StoreKind, now: Instant) -> Self {
        HistoryService {
            http: HttpConnection::new(config, now),
            store,
            answering: None,
            jobs: VecDeque::new(),
        }
    }

    /// Takes the connection's events: refusals are answered, requests become jobs.
    fn follow(&mut self, now: Instant) {
        while let Some(event) = self.http.poll_event() {
            match event {
                Event::Request(request) => match HistoryRequest::parse(&request.target) {
                    Ok(history) => {
                        self.jobs.push_back(Job::History(HistoryJob {
                            store: self.store,
                            metric: history.metric.clone(),
                            start: PageStart::First {
                                timestamp: history.timestamp,
                                duration: history.duration,
                            },
                        }));
                        self.answering = Some(Answering {
                            metric: history.metric,
                            head_only: request.head_only,
                            started: false,
                        });
                    }
                    Err(refusal) => {
                        let status = match refusal {
                            Refusal::NotFound => Status::NotFound,
                            Refusal::BadMetric | Refusal::BadParameter(_) => Status::BadRequest,
                        };
                        let message = format!("{refusal}\n");
                        self.respond(now, status, message.as_bytes());
                    }
                },
                Event::Rejected { status, reason } => {
                    tracing::debug!("history request refused with {}: {reason:?}", status.code());
                }
                Event::Closed(reason) => tracing::trace!("history connection closed: {reason:?}"),
            }
        }
    }

    fn respond(&mut self, now: Instant, status: Status, body: &[u8]) {
        let response = Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
            allow_gzip: false,
        };
        report(self.http.respond(now, response));
    }

    /// Writes `answer` to the request in progress.
    fn answer(&mut self, now: Instant, mut answering: Answering, answer: HistoryAnswer) {
        let refusal = match answer {
            HistoryAnswer::Piece { body, next } => {
                if !answering.started {
                    answering.started = true;
                    report(self.http.respond_streaming(Status::Ok, JSON, true));
                }
                report(self.http.send_body_chunk(&body));
                match next {
                    Some(cursor) if !answering.head_only => {
                        self.jobs.push_back(Job::History(HistoryJob {
                            store: self.store,
                            metric: answering.metric.clone(),
                            start: PageStart::After(cursor),
                        }));
                        self.answering = Some(answering);
                    }
                    _ => report(self.http.finish_body(now)),
                }
                return;
            }
            HistoryAnswer::Failed => (
                Status::InternalServerError,
                &b"the history database cannot be read\n"[..],
            ),
            HistoryAnswer::Busy => (
                Status::ServiceUnavailable,
                &b"too many history queries are waiting\n"[..],
            ),
        };
        if answering.started {
            self.http.abort();
        } else {
            self.respond(now, refusal.0, refusal.1);
        }
    }
}

/// Logs a misuse of the connection (a bug here, never the peer's doing).
fn report(result: Result<(), HttpError>) {
    if let Err(error) = result {
        tracing::error!("cannot answer a history request: {error}");
    }
}

http_machine!(HistoryService);

/// A piece of the answer in progress; other answers, or one with no request in progress, are
/// dropped.
impl Peer for HistoryService {
    type Message = Answer;

    fn handle_message(&mut self, now: Instant, answer: Answer) {
        let Answer::History(answer) = answer else {
            return;
        };
        let Some(answering) = self.answering.take() else {
            return;
        };
        self.answer(now, answering, answer);
        self.follow(now);
    }
}

#[cfg(test)]
mod tests;
