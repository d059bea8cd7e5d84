//! A small blocking HTTP/1.1 client over `TcpStream` with keep-alive, for the load, backup and
//! crash tests: one connection per client thread, reused across requests, every wait bounded.
//!
//! A transport failure is a value ([`WireError`]), never a panic, because a crash test has to
//! tell "the server answered" from "no answer arrived". The client never retries on its own:
//! a retried upload could turn one acknowledged 201 into a 409 and hide what happened.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A complete response.
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (give it lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 400;
        let shown = &self.body[..self.body.len().min(SHOWN)];
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("body", &String::from_utf8_lossy(shown))
            .finish()
    }
}

/// Why no complete response arrived.
#[derive(Debug)]
pub enum WireError {
    /// No connection could be made (server down, port closed).
    Connect(io::Error),
    /// The request could not be sent, and no response could be read either.
    Send(io::Error),
    /// The request was sent (perhaps partly) but the response did not arrive in full.
    Receive(io::Error),
    /// Bytes arrived that are not an HTTP/1.1 response.
    Malformed(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Connect(e) => write!(f, "connect: {e}"),
            WireError::Send(e) => write!(f, "send: {e}"),
            WireError::Receive(e) => write!(f, "receive: {e}"),
            WireError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

/// One keep-alive connection to `addr` (`host:port`), reopened when the server closes it.
pub struct Client {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
    /// Connections opened so far.
    pub connects: u64,
}

impl Client {
    /// A client whose reads and writes each time out after 60 s.
    pub fn new(addr: &str) -> Client {
        Client::with_timeout(addr, Duration::from_secs(60))
    }

    pub fn with_timeout(addr: &str, timeout: Duration) -> Client {
        Client {
            addr: addr.to_owned(),
            conn: None,
            timeout,
            connects: 0,
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Result<Reply, WireError> {
        self.request("GET", path, &[], &[])
    }

    /// Sends one request and reads its response. The connection is kept for the next request
    /// unless the server closes it (or says `Connection: close`), or anything fails.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, WireError> {
        let (result, reusable) = self.exchange(method, path, headers, body);
        match &result {
            Ok(reply) if reusable && reply.header("connection") != Some("close") => {}
            _ => self.conn = None,
        }
        result
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, WireError> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).map_err(WireError::Connect)?;
            stream
                .set_read_timeout(Some(self.timeout))
                .map_err(WireError::Connect)?;
            stream
                .set_write_timeout(Some(self.timeout))
                .map_err(WireError::Connect)?;
            stream.set_nodelay(true).map_err(WireError::Connect)?;
            self.connects += 1;
            self.conn = Some(BufReader::with_capacity(1 << 16, stream));
        }
        Ok(self.conn.as_mut().unwrap())
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Result<Reply, WireError>, bool) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if !body.is_empty() || matches!(method, "PUT" | "POST") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let conn = match self.connect() {
            Ok(conn) => conn,
            Err(e) => return (Err(e), false),
        };
        let sent = {
            let stream = conn.get_mut();
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body))
                .and_then(|()| stream.flush())
        };
        match sent {
            Ok(()) => {
                let result = read_response(conn, method == "HEAD").map_err(|e| match e {
                    ReadError::Io(e) => WireError::Receive(e),
                    ReadError::Malformed(m) => WireError::Malformed(m),
                });
                (result, true)
            }
            // The server may have answered before taking the whole body (507 or 413 while
            // the body streams in) and closed the connection: the answer is still readable,
            // the connection is not.
            Err(send_error) => {
                let result =
                    read_response(conn, method == "HEAD").map_err(|_| WireError::Send(send_error));
                (result, false)
            }
        }
    }
}

enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(r: &mut BufReader<TcpStream>) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete response",
        )));
    }
    if !line.ends_with(b"\n") {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a header line",
        )));
    }
    String::from_utf8(line)
        .map(|l| l.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|_| ReadError::Malformed("header line is not UTF-8".into()))
}

fn read_head(r: &mut BufReader<TcpStream>) -> Result<(u16, Vec<(String, String)>), ReadError> {
    let status_line = read_line(r)?;
    let mut parts = status_line.split_whitespace();
    let status = match (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(v), Some(s)) if v.starts_with("HTTP/1.") => s,
        _ => return Err(ReadError::Malformed(format!("status line {status_line:?}"))),
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| ReadError::Malformed(format!("header line {line:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    Ok((status, headers))
}

fn read_response(r: &mut BufReader<TcpStream>, head_only: bool) -> Result<Reply, ReadError> {
    let (mut status, mut headers) = read_head(r)?;
    // Interim responses (100 Continue) carry no body; the final one follows.
    while (100..200).contains(&status) {
        (status, headers) = read_head(r)?;
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if head_only || status == 204 || status == 304 {
        // No body, whatever Content-Length says.
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line = read_line(r)?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Malformed(format!("chunk size {line:?}")))?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            if !read_line(r)?.is_empty() {
                return Err(ReadError::Malformed("chunk not followed by CRLF".into()));
            }
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ReadError::Malformed(format!("content-length {len:?}")))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
        headers.push(("connection".into(), "close".into()));
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}
