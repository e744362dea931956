//! `/readyz` across the daemon: the daemon decides whether the exporter is ready and answers
//! the connection's [`Job::Readiness`](super::Job::Readiness) with a body in the one form
//! every runtime already carries ([`Answer::Rendered`]); the connection turns it into 200 or
//! 503.

use bytes::Bytes;

use super::Answer;
use super::site::Reply;

/// The body of a ready answer, and of `/healthz`.
pub const READY: &[u8] = b"ok\n";

/// The daemon's answer to a readiness job: ready, or the one-line reason it is not.
pub fn answer(state: Result<(), String>) -> Answer {
    let body = match state {
        Ok(()) => Bytes::from_static(READY),
        Err(reason) => Bytes::from(format!("not ready: {}\n", reason.replace('\n', " "))),
    };
    Answer::Rendered(Some(body))
}

/// The reply of an answer made by [`answer`]: 200 `ok`, else 503 with the reason (also when
/// the daemon gave no answer in time).
pub(super) fn reply(body: Option<&[u8]>) -> Reply<'_> {
    match body {
        Some(READY) => Reply::Health(Ok(READY)),
        Some(reason) => Reply::Health(Err(reason)),
        None => Reply::Health(Err(b"not ready: the daemon did not answer\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_not_ready_cross_as_bodies() {
        let body = |answer: Answer| match answer {
            Answer::Rendered(Some(body)) => body,
            _ => panic!("a rendered body"),
        };
        let ready = body(answer(Ok(())));
        assert!(matches!(reply(Some(&ready)), Reply::Health(Ok(b"ok\n"))));
        let down = body(answer(Err("no server answered\nits scrape".into())));
        let Reply::Health(Err(reason)) = reply(Some(&down)) else {
            panic!("503");
        };
        assert_eq!(reason, b"not ready: no server answered its scrape\n");
        assert!(matches!(reply(None), Reply::Health(Err(_))));
    }
}
