//! The web console (SPEC §9): one self-contained page and its `/api` JSON, served on the
//! `console` port from the exporter's own scrape results.
//!
//! A `/api` request is a scrape job like `/metrics`; its result, rendered as exposition text
//! (the form every runtime can hand over), is read back and grouped into categories by shared
//! name prefix. The page fetches `/api` and builds its rows with text nodes only: label values
//! are PostgreSQL's data and never become markup.

mod api;

pub use api::{api_json, category_of};

/// The page: HTML, CSS and script in one file, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("page.html");
