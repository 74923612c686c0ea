//! Reading what the server said: `429` details, error bodies, and transport failures turned
//! into [`Error`]s.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// The last response of a request, once nothing more is to be retried.
pub(crate) struct Answer {
    pub response: reqwest::Response,
    pub status: u16,
    pub attempts: u32,
}

/// A `429` as the server described it.
#[derive(Clone)]
pub(crate) struct Throttle {
    pub retry_after: Duration,
    /// A `Retry-After` that was neither seconds nor a date, as sent (printable part).
    pub retry_after_unreadable: Option<String>,
    pub window: String,
    pub limit: Option<u32>,
    pub reset: Option<chrono::DateTime<chrono::Utc>>,
}

impl Throttle {
    pub fn into_error(self) -> Error {
        Error::RateLimited {
            window: self.window,
            limit: self.limit,
            reset: self.reset,
            retry_after: self.retry_after,
            retry_after_unreadable: self.retry_after_unreadable,
        }
    }
}

/// What a `429` says: its headers, and the limit from its body's `message`
/// (`"API calls quota exceeded! maximum admitted 60 per 1m."`).
pub(crate) async fn throttle(response: reqwest::Response) -> Throttle {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, retry_after_unreadable) = match header("retry-after") {
        None => (Duration::from_secs(1), None),
        Some(raw) => match parse_retry_after(&raw, chrono::Utc::now()) {
            Some(wait) => (wait, None),
            None => (Duration::from_secs(1), Some(printable(&raw))),
        },
    };
    let window = header("x-rate-limit-limit").unwrap_or_else(|| "unknown".to_owned());
    let reset = header("x-rate-limit-reset")
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let body = response.bytes().await.unwrap_or_default();
    let limit = error_message(&body)
        .split("maximum admitted ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Throttle {
        retry_after,
        retry_after_unreadable,
        window,
        limit,
        reset,
    }
}

/// The `error` (or `message`) of a standard error body, or the start of the body.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(
            Body { error: Some(m), .. }
            | Body {
                message: Some(m), ..
            },
        ) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// A status the request does not expect, with the start of its body.
pub(crate) fn unexpected(status: u16, path: &str, body: &[u8]) -> Error {
    Error::UnexpectedStatus {
        status,
        path: path.to_owned(),
        body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// What a final non-`200` answer means when the request has no meaning of its own for it:
/// a server error after its retries, otherwise an unexpected status.
pub(crate) async fn failure(path: &str, answer: Answer) -> Error {
    if (300..400).contains(&answer.status) {
        let response = &answer.response;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|value| printable(&String::from_utf8_lossy(value.as_bytes())))
            .unwrap_or_else(|| "nowhere (no Location header)".to_owned());
        return Error::Redirected {
            path: path.to_owned(),
            status: answer.status,
            location,
            origin: response.url().origin().ascii_serialization(),
        };
    }
    let body = answer.response.bytes().await.unwrap_or_default();
    if (500..600).contains(&answer.status) {
        return Error::Server {
            status: answer.status,
            attempts: answer.attempts,
            message: error_message(&body),
        };
    }
    unexpected(answer.status, path, &body)
}

pub(crate) fn transport(
    path: &str,
    attempts: u32,
    source: reqwest::Error,
    read_timeout: Duration,
) -> Error {
    if source.is_timeout() {
        return Error::Timeout {
            path: path.to_owned(),
            timeout: read_timeout,
        };
    }
    Error::Transport {
        path: path.to_owned(),
        attempts,
        source,
    }
}

/// A failure while the body was arriving: a stall, or a connection that ended early.
pub(crate) fn body_error(
    path: &str,
    bytes: u64,
    records: u64,
    source: reqwest::Error,
    read_timeout: Duration,
) -> Error {
    if source.is_timeout() {
        return Error::Timeout {
            path: path.to_owned(),
            timeout: read_timeout,
        };
    }
    Error::BodyCutShort {
        path: path.to_owned(),
        bytes,
        records,
        detail: format!("the connection ended: {source}"),
    }
}

/// Server-supplied text with every secret replaced and control characters dropped: a hostile
/// or careless server may echo the API Key or a token back, or send terminal escapes.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "<redacted>");
    }
    printable(&text)
}

/// Server-supplied text made safe to print: no control characters (which could drive a
/// terminal), at most 200 characters.
pub(crate) fn printable(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.chars().filter(|c| !c.is_control()).nth(200).is_some() {
        out.push('…');
    }
    out
}

/// A small document's whole body, refused past `limit` bytes (counted as they arrive, after
/// any decompression) and past the request's total deadline.
pub(crate) async fn read_document(
    path: &str,
    mut response: reqwest::Response,
    limit: u64,
    deadline: Duration,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
                    return Err(Error::TooLarge {
                        path: path.to_owned(),
                        what: "the document".to_owned(),
                        limit,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(Error::Deadline {
                    path: path.to_owned(),
                    deadline,
                })
            }
            Err(e) => return Err(body_error(path, body.len() as u64, 0, e, deadline)),
        }
    }
}

/// `Retry-After` as RFC 9110 has it: a number of seconds, or an HTTP date (then the wait is
/// until that date, none if it has passed). `None` for anything else.
pub(crate) fn parse_retry_after(raw: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date_and_nothing_else() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 10:15:00 GMT", now),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for garbage in ["soon", "-5", "1.5", "", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn printable_strips_control_characters_and_length() {
        assert_eq!(printable("ok\u{1b}[31mred\n"), "ok[31mred");
        assert_eq!(printable(&"x".repeat(500)).chars().count(), 201);
    }
}
