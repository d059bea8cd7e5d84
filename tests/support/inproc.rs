//! Requests without sockets: [`request`] builds one (the shape of `warp::test::request()`, which
//! these tests used before the edge moved to hyper 1) and [`RequestBuilder::reply`] answers it
//! through `goshelf::http::oneshot`, i.e. the same dispatch, cache, routes and finishing as a
//! connection's requests, from a local plain-HTTP connection unless `.tls()` says otherwise.

use bytes::Bytes;
use goshelf::http::{AppState, ConnInfo};
use http::{HeaderName, HeaderValue, Method, Request, Response};

/// A request under construction: `GET /` with no headers and no body.
pub struct RequestBuilder {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    conn: ConnInfo,
}

/// A new request.
pub fn request() -> RequestBuilder {
    RequestBuilder {
        method: Method::GET,
        path: "/".to_owned(),
        headers: Vec::new(),
        body: Bytes::new(),
        conn: ConnInfo::local(),
    }
}

impl RequestBuilder {
    pub fn method(mut self, method: &str) -> Self {
        self.method = Method::from_bytes(method.as_bytes()).unwrap();
        self
    }

    /// The request target: a path, with a query if any.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_ref()).unwrap(),
        ));
        self
    }

    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Bytes::copy_from_slice(body.as_ref());
        self
    }

    /// As if it came over HTTPS.
    pub fn tls(mut self) -> Self {
        self.conn.tls = true;
        self
    }

    /// From this client address.
    pub fn peer(mut self, ip: std::net::IpAddr) -> Self {
        self.conn.peer = goshelf::http::Peer(ip);
        self
    }

    /// The answer, body read in full.
    pub async fn reply(self, state: &AppState) -> Response<Bytes> {
        let mut req = Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.path.parse().unwrap();
        for (name, value) in self.headers {
            req.headers_mut().append(name, value);
        }
        goshelf::http::oneshot(state, self.conn, req).await
    }
}
