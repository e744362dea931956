//! The web console (SPEC §9): one self-contained page and its `/api` JSON, served on the
//! `console` port from the exporter's own scrape results.
//!
//! A `/api` request is a scrape job like `/metrics`; its result, rendered as exposition text
//! (the form every runtime can hand over), is read back and grouped into categories by shared
//! name prefix. The page fetches `/api` and builds its rows with text nodes only: label values
//! are PostgreSQL's data and never become markup.

mod api;

use std::time::Instant;

pub use api::{api_json, category_of};

use crate::http::{HttpConnection, HttpError, Request, Response, Route, Status};
use crate::serve::FORBIDDEN;

/// The page: HTML, CSS and script in one file, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("page.html");

/// Whether answering `request` on the console port needs a scrape result.
pub fn needs_scrape(request: &Request) -> bool {
    request.route == Route::Api
}

/// Answers `request` on the console port: the page, the `/api` JSON built from `rendered`
/// (exposition text; `None` when there is no scrape result: 503).
///
/// # Errors
/// The connection's [`HttpError`] when no request is waiting for an answer (a caller bug).
pub fn respond(
    http: &mut HttpConnection,
    now: Instant,
    request: &Request,
    rendered: Option<&[u8]>,
) -> Result<(), HttpError> {
    let json;
    let response = match (request.route, rendered) {
        (Route::Index, _) => Response {
            status: Status::Ok,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes(),
            allow_gzip: true,
        },
        (Route::Api, Some(text)) => {
            json = api_json(&String::from_utf8_lossy(text));
            Response {
                status: Status::Ok,
                content_type: "application/json",
                body: json.as_bytes(),
                allow_gzip: true,
            }
        }
        (Route::Api, None) => Response {
            status: Status::ServiceUnavailable,
            content_type: "application/json",
            body: b"{\"error\":\"no scrape result\"}",
            allow_gzip: false,
        },
        // The console routes neither (`Paths::Console`).
        (Route::Metrics | Route::History, _) => FORBIDDEN,
    };
    http.respond(now, response)
}
