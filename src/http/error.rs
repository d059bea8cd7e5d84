//! The one mapping from domain errors to a status code and a body.
//!
//! Every error is `text/plain; charset=utf-8`, one line: the go command shows that line to its
//! user as `server response: ...` (spec.md §1.5). A 5xx gets a generic text; its details go to
//! the log, once, here. Never answer 404 for an internal failure: under `GOPROXY=a,b` a 404
//! makes the go command ask the next proxy about a private module (spec.md §1.4).

use http::{header, HeaderValue, StatusCode};

use super::body::{typed_response, Response};

use crate::{admin, auth, gomod, ingest, store};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Extra headers (`WWW-Authenticate`, `Allow`, `Content-Range`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with a status and a one-line message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 500 whose details are logged and not shown.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; see the server log",
        )
    }

    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The response: one line of text, never cached.
    #[must_use]
    pub fn into_response(self) -> Response {
        let mut line = one_line(&self.message);
        line.push('\n');
        let mut resp = typed_response(line, "text/plain; charset=utf-8", "no-store");
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        for (name, value) in self.headers {
            h.append(name, value);
        }
        resp
    }
}

/// `text` as one printable line of at most `MAX_LINE` bytes, for the go command to show
/// (it stops at a blank line and at ~648 bytes, and drops non-printable text, spec.md §1.5).
/// Lines are joined with `; `, control characters become spaces, and any word longer than
/// `MAX_WORD` bytes (an attacker's 4 KB file name, say) keeps only its ends, so the reason
/// after it stays visible.
#[must_use]
pub fn one_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let joined = cleaned
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.is_empty() {
        return "error".to_owned();
    }
    let words: Vec<String> = joined.split(' ').map(shorten_word).collect();
    let line = words.join(" ");
    if line.len() <= MAX_LINE {
        return line;
    }
    let mut end = MAX_LINE - 3;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// Longest error line sent.
const MAX_LINE: usize = 400;
/// Longest word kept whole in an error line.
const MAX_WORD: usize = 80;

fn shorten_word(word: &str) -> String {
    if word.len() <= MAX_WORD {
        return word.to_owned();
    }
    let mut head = 36;
    while !word.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = word.len() - 36;
    while !word.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}...{}", &word[..head], &word[tail..])
}

impl From<store::Error> for ApiError {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::VersionExists { .. }
            | store::Error::TombstoneMismatch { .. }
            | store::Error::LogConflict { .. }
            | store::Error::PathTaken { .. }
            | store::Error::NeedsClaim { .. }
            | store::Error::PrivateUncovered { .. }
            | store::Error::UserExists { .. }
            | store::Error::NameTaken { .. }
            | store::Error::OwnerExists { .. }
            | store::Error::LastAdmin => ApiError::new(StatusCode::CONFLICT, err.to_string()),
            store::Error::NoSuchUser { .. }
            | store::Error::NoSuchOwner { .. }
            | store::Error::NotAnOrg { .. } => ApiError::not_found(err.to_string()),
            store::Error::QuotaExceeded { quota, message } => {
                // Gitea answers a package quota with 403; a byte quota is also a size limit.
                let status = match quota {
                    store::Quota::Bytes => StatusCode::PAYLOAD_TOO_LARGE,
                    store::Quota::Versions => StatusCode::FORBIDDEN,
                };
                ApiError::new(status, message)
            }
            e if e.is_disk_full() => disk_full(&e),
            other => ApiError::internal("store", &other),
        }
    }
}

/// The answer when the disk is full (507): the request changed nothing.
fn disk_full(err: &dyn std::fmt::Display) -> ApiError {
    tracing::error!("disk full: {err}");
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "the server's disk is full; nothing was stored",
    )
}

impl From<ingest::Error> for ApiError {
    fn from(err: ingest::Error) -> Self {
        if err.is_disk_full() {
            return disk_full(&err);
        }
        match err {
            ingest::Error::Empty => ApiError::bad_request(err.to_string()),
            ingest::Error::TooLarge { .. }
            | ingest::Error::Zip(gomod::zip::ZipError::TooLarge(_)) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, err.to_string())
            }
            ingest::Error::Zip(_) => ApiError::bad_request(err.to_string()),
            ingest::Error::Store(e) => e.into(),
            ingest::Error::Io(e) => ApiError::internal("upload spool", &e),
        }
    }
}

impl From<auth::Error> for ApiError {
    fn from(err: auth::Error) -> Self {
        match err {
            auth::Error::MissingCredentials
            | auth::Error::Malformed
            | auth::Error::InvalidCredentials
            | auth::Error::Expired => ApiError::new(StatusCode::UNAUTHORIZED, err.to_string())
                .with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"goshelf\""),
                ),
            auth::Error::Forbidden { .. } => ApiError::new(StatusCode::FORBIDDEN, err.to_string()),
        }
    }
}

impl From<admin::Error> for ApiError {
    fn from(err: admin::Error) -> Self {
        match err {
            admin::Error::Invalid(m) => ApiError::bad_request(m),
            admin::Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            admin::Error::NotFound(m) | admin::Error::NoRoute(m, false) => ApiError::not_found(m),
            admin::Error::NoRoute(m, true) => ApiError::new(StatusCode::METHOD_NOT_ALLOWED, m),
            admin::Error::Store(e) => e.into(),
        }
    }
}

/// The answer to a request body that could not be read: `408` when it stalled (the edge's
/// idle deadline, `body::Timed`), naming it `what`; `400` otherwise.
#[must_use]
pub fn body_error_named(err: &(dyn std::error::Error + 'static), what: &str) -> ApiError {
    match super::body::is_stalled(err) {
        Some(stalled) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "{what} stalled: no data for {} seconds",
                stalled.0.as_secs()
            ),
        ),
        None => ApiError::bad_request(format!("reading the {what}: {err}")),
    }
}

/// `body_error_named` for an upload.
#[must_use]
pub fn body_error(err: &(dyn std::error::Error + 'static)) -> ApiError {
    body_error_named(err, "upload")
}

/// Turns warp's own rejections (unknown path, wrong method, bad header) into an `ApiError`.
#[must_use]
pub fn from_rejection(rej: &warp::Rejection) -> ApiError {
    if rej.is_not_found() {
        ApiError::not_found("not found")
    } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rej.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if let Some(e) = rej.find::<warp::reject::InvalidHeader>() {
        ApiError::bad_request(e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::MissingHeader>() {
        ApiError::bad_request(e.to_string())
    } else {
        ApiError::bad_request(format!("bad request: {rej:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_lines_strips_controls_and_keeps_the_reason_visible() {
        assert_eq!(one_line("a: b\nc: d"), "a: b; c: d");
        assert_eq!(one_line("\n\n  x\ty  \n"), "x y");
        assert_eq!(one_line(""), "error");
        assert!(one_line(&"é".repeat(1000)).len() <= 400);
        let long = format!(
            "m@v1.0.0/{0}: malformed file path \"{0}\": invalid char",
            "a".repeat(5000)
        );
        let line = one_line(&long);
        assert!(
            line.len() <= 400 && line.contains("malformed file path"),
            "{line}"
        );
        assert!(line.ends_with("invalid char"), "{line}");
    }
}
