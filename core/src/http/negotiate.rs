//! Content negotiation: which exposition format and whether gzip, from `Accept` and
//! `Accept-Encoding`.
//!
//! Both headers are lists of `token;param=value` elements with an optional `q` weight between 0
//! and 1 (default 1). Elements that cannot be read (a bad `q`, a media range without `/`) are
//! skipped. A header may come in several lines; feed each to the same accumulator.

/// The best match seen so far for one target: how specific the range was and its weight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BestMatch(Option<(u8, u16)>);

impl BestMatch {
    /// Records a matching element; a more specific match replaces a less specific one, and
    /// among equally specific ones the highest weight wins.
    fn offer(&mut self, specificity: u8, weight: u16) {
        let better = match self.0 {
            None => true,
            Some((best_specificity, best_weight)) => {
                specificity > best_specificity
                    || (specificity == best_specificity && weight > best_weight)
            }
        };
        if better {
            self.0 = Some((specificity, weight));
        }
    }

    fn weight(self) -> u16 {
        self.0.map_or(0, |(_, weight)| weight)
    }
}

/// Parses a `q` value (`0`, `0.5`, `1.000`) into thousandths; `None` when it is not one.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for position in 0..3 {
        let digit = fraction.as_bytes().get(position).map_or(0, |b| b - b'0');
        thousandths = thousandths * 10 + u16::from(digit);
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One list element split into its token, its `q` weight and its other parameters.
struct Element<'a> {
    token: &'a str,
    weight: u16,
    params: &'a str,
}

/// The elements of one header value; unreadable ones are skipped.
fn elements(value: &str) -> impl Iterator<Item = Element<'_>> {
    value.split(',').filter_map(|element| {
        let mut parts = element.split(';');
        let token = parts.next()?.trim();
        if token.is_empty() {
            return None;
        }
        let mut weight = 1000;
        for param in parts {
            if param.trim().is_empty() {
                continue;
            }
            let (key, param_value) = param.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("q") {
                weight = parse_weight(param_value.trim())?;
            }
        }
        let params = element.split_once(';').map_or("", |(_, params)| params);
        Some(Element {
            token,
            weight,
            params,
        })
    })
}

/// The value of the `version` parameter among `params` (`;a=b;version=1.0.0`), quotes removed.
fn version_param(params: &str) -> Option<&str> {
    params.split(';').find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("version")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// Accumulates `Accept` header values and decides between OpenMetrics and the text format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptMedia {
    openmetrics: BestMatch,
    text: BestMatch,
}

impl AcceptMedia {
    /// Takes one `Accept` header value into account.
    pub fn add_header(&mut self, value: &str) {
        for element in elements(value) {
            let Some((kind, subtype)) = element.token.split_once('/') else {
                continue;
            };
            let version = version_param(element.params);
            let targets = [
                (
                    &mut self.openmetrics,
                    "application",
                    "openmetrics-text",
                    "1.0.0",
                ),
                (&mut self.text, "text", "plain", "0.0.4"),
            ];
            for (best, target_kind, target_subtype, target_version) in targets {
                let specificity = if kind == "*" && subtype == "*" {
                    Some(0)
                } else if !kind.eq_ignore_ascii_case(target_kind) {
                    None
                } else if subtype == "*" {
                    Some(1)
                } else if !subtype.eq_ignore_ascii_case(target_subtype) {
                    None
                } else {
                    match version {
                        None => Some(2),
                        Some(v) if v == target_version => Some(3),
                        Some(_) => None,
                    }
                };
                if let Some(specificity) = specificity {
                    best.offer(specificity, element.weight);
                }
            }
        }
    }

    /// Whether OpenMetrics 1.0.0 is acceptable and weighted strictly above the text format
    /// 0.0.4; ties and an absent header choose the text format.
    pub fn prefers_openmetrics(&self) -> bool {
        let openmetrics = self.openmetrics.weight();
        openmetrics > 0 && openmetrics > self.text.weight()
    }
}

/// Accumulates `Accept-Encoding` header values and decides whether gzip is acceptable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    gzip: BestMatch,
}

impl AcceptEncoding {
    /// Takes one `Accept-Encoding` header value into account. `gzip` and `x-gzip` name gzip;
    /// `*` stands for it when it is not named; `identity` and others do not affect it.
    pub fn add_header(&mut self, value: &str) {
        for element in elements(value) {
            if element.token.eq_ignore_ascii_case("gzip")
                || element.token.eq_ignore_ascii_case("x-gzip")
            {
                self.gzip.offer(1, element.weight);
            } else if element.token == "*" {
                self.gzip.offer(0, element.weight);
            }
        }
    }

    /// Whether gzip has a weight above zero.
    pub fn accepts_gzip(&self) -> bool {
        self.gzip.weight() > 0
    }
}

/// Whether the single `Accept` header `value` prefers OpenMetrics (see [`AcceptMedia`]).
///
/// ```
/// use pgexporter_core::http::prefers_openmetrics;
/// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
///                   version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert!(prefers_openmetrics(prometheus));
/// assert!(!prefers_openmetrics("text/plain, application/openmetrics-text"));
/// assert!(!prefers_openmetrics("*/*"));
/// ```
pub fn prefers_openmetrics(value: &str) -> bool {
    let mut accept = AcceptMedia::default();
    accept.add_header(value);
    accept.prefers_openmetrics()
}

/// Whether the single `Accept-Encoding` header `value` accepts gzip (see [`AcceptEncoding`]).
///
/// ```
/// use pgexporter_core::http::accepts_gzip;
/// assert!(accepts_gzip("gzip, deflate"));
/// assert!(!accepts_gzip("gzip;q=0, identity"));
/// assert!(accepts_gzip("*"));
/// assert!(!accepts_gzip("identity"));
/// ```
pub fn accepts_gzip(value: &str) -> bool {
    let mut accept = AcceptEncoding::default();
    accept.add_header(value);
    accept.accepts_gzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_strictly() {
        assert_eq!(parse_weight("0"), Some(0));
        assert_eq!(parse_weight("0.5"), Some(500));
        assert_eq!(parse_weight("0.125"), Some(125));
        assert_eq!(parse_weight("1"), Some(1000));
        assert_eq!(parse_weight("1.000"), Some(1000));
        assert_eq!(parse_weight("1.5"), None);
        assert_eq!(parse_weight("0.1234"), None);
        assert_eq!(parse_weight("-1"), None);
        assert_eq!(parse_weight(""), None);
        assert_eq!(parse_weight("0.x"), None);
    }

    #[test]
    fn openmetrics_needs_a_strictly_higher_weight() {
        assert!(prefers_openmetrics("application/openmetrics-text"));
        assert!(prefers_openmetrics(
            "application/openmetrics-text; version=1.0.0, text/plain;q=0.9"
        ));
        assert!(!prefers_openmetrics(
            "application/openmetrics-text;q=0.5, text/plain;q=0.5"
        ));
        assert!(!prefers_openmetrics(
            "text/plain;version=0.0.4,application/openmetrics-text;q=0.9"
        ));
        assert!(!prefers_openmetrics(""));
    }

    #[test]
    fn unsupported_openmetrics_version_does_not_match() {
        assert!(!prefers_openmetrics(
            "application/openmetrics-text;version=0.0.1"
        ));
        assert!(prefers_openmetrics(
            "application/openmetrics-text;version=\"1.0.0\""
        ));
    }

    #[test]
    fn more_specific_ranges_win() {
        // text/plain is refused explicitly even though */* would allow it.
        assert!(prefers_openmetrics("*/*;q=0.1, text/plain;q=0"));
        // openmetrics is refused explicitly; application/* does not bring it back.
        assert!(!prefers_openmetrics(
            "application/*, application/openmetrics-text;q=0"
        ));
        assert!(prefers_openmetrics("application/*, text/*;q=0.2"));
    }

    #[test]
    fn multiple_accept_lines_combine() {
        let mut accept = AcceptMedia::default();
        accept.add_header("text/plain;q=0.3");
        accept.add_header("application/openmetrics-text;q=0.6");
        assert!(accept.prefers_openmetrics());
    }

    #[test]
    fn unreadable_elements_are_skipped() {
        assert!(!prefers_openmetrics("application/openmetrics-text;q=2"));
        assert!(!prefers_openmetrics("openmetrics"));
        assert!(prefers_openmetrics(",,application/openmetrics-text,"));
    }

    #[test]
    fn gzip_encoding_cases() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("GZIP;q=0.1"));
        assert!(accepts_gzip("x-gzip"));
        assert!(accepts_gzip("br, *;q=0.5"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("deflate, br"));
        assert!(!accepts_gzip(""));
    }
}
