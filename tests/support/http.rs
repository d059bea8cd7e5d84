//! HTTP for tests: the real `curl` (the e2e guide asks for a real client), plus raw
//! HTTP/1.1 over `TcpStream` where a test needs control over when bytes are sent.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::run_with_timeout;

/// Credentials to send.
pub enum Auth<'a> {
    None,
    /// `Authorization: Bearer <token>`
    Bearer(&'a str),
    /// `Authorization: token <token>` (Gitea's form)
    Token(&'a str),
    /// `Authorization: Basic base64(user:password)`
    Basic(&'a str, &'a str),
}

impl Auth<'_> {
    fn curl_args(&self) -> Vec<String> {
        match self {
            Auth::None => vec![],
            Auth::Bearer(t) => vec!["-H".into(), format!("Authorization: Bearer {t}")],
            Auth::Token(t) => vec!["-H".into(), format!("Authorization: token {t}")],
            Auth::Basic(u, p) => vec!["-u".into(), format!("{u}:{p}")],
        }
    }
}

/// A response: status, the headers of the final response (after any `100 Continue`), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// curl's exit code and stderr; non-zero is possible when the server answers early and
    /// closes the connection while curl still sends (a 413 mid-upload).
    pub curl_exit: i32,
    pub curl_stderr: String,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The media type of Content-Type, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 2000;
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(SHOWN)]).into_owned();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("body", &text)
            .field("curl_exit", &self.curl_exit)
            .field("curl_stderr", &self.curl_stderr)
            .finish()
    }
}

/// Runs `curl -sS -o <file> -D <file> -w '%{http_code}' <auth> <args>` and returns the
/// response. Proxies from the environment are ignored (`--noproxy '*'`). Fails the test only
/// when no HTTP status arrived at all.
pub fn curl(auth: &Auth<'_>, args: &[&str]) -> Response {
    let scratch = tempfile::tempdir().unwrap();
    let body_path = scratch.path().join("body");
    let headers_path = scratch.path().join("headers");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--noproxy", "*", "--max-time", "60", "-o"])
        .arg(&body_path)
        .arg("-D")
        .arg(&headers_path)
        .args(["-w", "%{http_code}"])
        .args(auth.curl_args())
        .args(args);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(90));
    let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let status: u16 = code.parse().unwrap_or(0);
    let curl_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        status != 0,
        "curl got no HTTP response: {cmd:?}\nexit: {}\nstderr: {curl_stderr}\n(is `curl` \
         installed? `apt-get install curl`, or run `bash tests/run.sh`)",
        out.status
    );
    Response {
        status,
        headers: parse_last_header_block(&std::fs::read(&headers_path).unwrap_or_default()),
        body: std::fs::read(&body_path).unwrap_or_default(),
        curl_exit: out.status.code().unwrap_or(-1),
        curl_stderr,
    }
}

/// `curl -D` writes every header block (e.g. `100 Continue` first); keep the last one.
fn parse_last_header_block(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut headers = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            headers.clear();
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    headers
}

/// GET without credentials.
pub fn get(url: &str) -> Response {
    curl(&Auth::None, &[url])
}

/// HEAD without credentials (`curl -I`). curl writes the headers where a body would go and
/// reads no body after a HEAD, so `body` is left empty; [`raw_exchange`] can see a stray one.
pub fn head(url: &str) -> Response {
    let mut resp = curl(&Auth::None, &["-I", url]);
    resp.body.clear();
    resp
}

/// Sends `request` (a complete HTTP/1.1 request, which should say `Connection: close`) over a
/// raw socket and returns every byte the server sent back until it closed the connection.
pub fn raw_exchange(addr: &str, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    raw
}

/// PUT of a file as the raw body (`curl -T`), plus `extra` curl arguments.
pub fn put_file(url: &str, auth: &Auth<'_>, file: &Path, extra: &[&str]) -> Response {
    let file = file.to_str().unwrap();
    let mut args = vec!["-T", file];
    args.extend_from_slice(extra);
    args.push(url);
    curl(auth, &args)
}

/// Reads one header block (up to and including the blank line), byte by byte so that nothing
/// after it is consumed.
fn read_header_block(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "connection closed inside a header block: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// An HTTP/1.1 request over a raw socket whose last body byte is held back, so that many
/// requests can be made to arrive at the server at the same moment: [`PendingRequest::open`]
/// sends everything but the last byte, [`PendingRequest::finish`] sends it and reads the
/// status. With an `Expect: 100-continue` header, `open` first waits for the server's
/// `100 Continue`.
pub struct PendingRequest {
    stream: TcpStream,
    last: u8,
}

impl PendingRequest {
    pub fn open(
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Self {
        assert!(
            !body.is_empty(),
            "a pending request needs a body byte to hold back"
        );
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: \
             close\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let expects_continue = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue")
        });
        if expects_continue {
            // The server sends `100 Continue` once its handler starts reading the body: proof
            // that the request is being handled, not merely queued in the kernel.
            let interim = read_header_block(&mut stream);
            assert!(
                interim.starts_with("HTTP/1.1 100"),
                "expected 100 Continue, got {interim:?}"
            );
        }
        stream.write_all(&body[..body.len() - 1]).unwrap();
        stream.flush().unwrap();
        PendingRequest {
            stream,
            last: body[body.len() - 1],
        }
    }

    /// Sends the held-back byte and returns (status, whole raw response as text).
    pub fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&[self.last]).unwrap();
        self.stream.flush().unwrap();
        let mut raw = Vec::new();
        self.stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
        (status, text)
    }
}

/// A JSON API call on `server` with `auth`.
pub fn api(
    server: &super::TestServer,
    auth: &Auth<'_>,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Response {
    let url = format!("{}{path}", server.url());
    let body = body.map(|b| b.to_string());
    let mut args = vec!["-X", method];
    if let Some(b) = &body {
        args.extend([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            b.as_str(),
        ]);
    }
    args.push(&url);
    curl(auth, &args)
}

/// An admin API call on `server` that must answer `status`; its JSON (or null).
pub fn admin(
    server: &super::TestServer,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    status: u16,
) -> serde_json::Value {
    let resp = api(
        server,
        &Auth::Bearer(super::server::ADMIN_TOKEN),
        method,
        path,
        body,
    );
    assert_eq!(resp.status, status, "{method} {path}: {resp:?}");
    serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null)
}
