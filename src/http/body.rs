//! Bodies at the edge: [`Body`], what every handler answers with, and [`Timed`], the deadline
//! every request body is read under.
//!
//! `Body` is bytes in memory, or a stream of pieces of a known length (a zip read piece by
//! piece, a backup). It is `Send + Sync`, as warp 0.4 requires of a stream it serves, and its
//! length is exact whenever it is known, so hyper and `conn` write `content-length` from it.
//!
//! `Timed` wraps a request body: a frame that does not come for `idle` while the handler waits
//! for it ends the body with [`Stalled`], which `error::body_error` turns into a 408. Time the
//! handler spends elsewhere (writing a spool file, waiting for a validation slot) does not
//! count: the clock runs only between a poll that found nothing and the next frame.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};

/// A boxed error of a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every answer's type.
pub type Response = http::Response<Body>;

/// A stream of body pieces.
pub type PieceStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// A response body.
#[derive(Default)]
pub enum Body {
    /// Nothing (or all of it already taken).
    #[default]
    Empty,
    /// Bytes in memory, sent as one frame.
    Full(Bytes),
    /// Pieces from a stream; `len` is their total when known. A stream that ends early or
    /// runs long is an error, so the connection ends and the client sees a short body, never
    /// a wrong one.
    Stream {
        stream: PieceStream,
        len: Option<u64>,
        sent: u64,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream { len, sent, .. } => write!(f, "Body::Stream({len:?}, {sent} sent)"),
        }
    }
}

impl Body {
    /// No bytes.
    #[must_use]
    pub fn empty() -> Self {
        Body::Empty
    }

    /// Pieces from `stream`, `len` bytes in all when known.
    pub fn stream(
        len: Option<u64>,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    ) -> Self {
        Body::Stream {
            stream: Box::pin(stream),
            len,
            sent: 0,
        }
    }

    /// The bytes when they are all in memory.
    #[must_use]
    pub fn as_full(&self) -> Option<&Bytes> {
        match self {
            Body::Full(b) => Some(b),
            _ => None,
        }
    }

    /// Reads the whole body into memory; for small bodies only (the answer cache, tests).
    ///
    /// # Errors
    /// The stream's error.
    pub async fn collect(self) -> Result<Bytes, std::io::Error> {
        use http_body_util::BodyExt;
        Ok(BodyExt::collect(self).await?.to_bytes())
    }
}

/// A `200` of `body` with a fixed `Content-Type` and `Cache-Control` (callers set another
/// status, or add headers, after).
#[must_use]
pub fn typed_response(
    body: impl Into<Body>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static(cache),
    );
    resp
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Full(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Full(v.into())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Full(s.into())
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Full(Bytes::from_static(s.as_bytes()))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match this {
            Body::Empty => Poll::Ready(None),
            Body::Full(_) => match std::mem::take(this) {
                Body::Full(b) if !b.is_empty() => Poll::Ready(Some(Ok(Frame::data(b)))),
                _ => Poll::Ready(None),
            },
            Body::Stream { stream, len, sent } => match stream.as_mut().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(piece))) => {
                    *sent += piece.len() as u64;
                    if len.is_some_and(|n| *sent > n) {
                        return Poll::Ready(Some(Err(std::io::Error::other(
                            "body longer than its length",
                        ))));
                    }
                    Poll::Ready(Some(Ok(Frame::data(piece))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    if len.is_some_and(|n| *sent < n) {
                        return Poll::Ready(Some(Err(std::io::Error::other(
                            "body shorter than its length",
                        ))));
                    }
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_empty(),
            Body::Stream { len, sent, .. } => *len == Some(*sent),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.len() as u64),
            Body::Stream {
                len: Some(n), sent, ..
            } => SizeHint::with_exact(n - (*sent).min(*n)),
            Body::Stream { len: None, .. } => SizeHint::default(),
        }
    }
}

/// The error of a request body that sent nothing for its idle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled(pub Duration);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request body stalled: no data for {} seconds",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for Stalled {}

/// A request body read under an idle deadline (see the module docs).
pub struct Timed<B> {
    inner: Pin<Box<B>>,
    idle: Duration,
    /// Armed while the handler waits for a frame that has not come.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
    done: bool,
}

impl<B> Timed<B> {
    /// `inner`, failing with [`Stalled`] after `idle` without a frame.
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner: Box::pin(inner),
            idle,
            timer: None,
            armed: false,
            done: false,
        }
    }
}

impl<B> http_body::Body for Timed<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // `Timed` is Unpin: its parts are boxed.
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(r) => {
                this.armed = false;
                if r.is_none() {
                    this.done = true;
                }
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.done = true;
                        Poll::Ready(Some(Err(Box::new(Stalled(this.idle)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `err` (or what caused it) is a [`Stalled`] body.
#[must_use]
pub fn is_stalled(err: &(dyn std::error::Error + 'static)) -> Option<Stalled> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(s) = e.downcast_ref::<Stalled>() {
            return Some(*s);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_stream_body_must_be_as_long_as_it_says() {
        let pieces = |n: usize| {
            futures_util::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"abcd"))),
            )
        };
        let ok = Body::stream(Some(8), pieces(2));
        assert_eq!(ok.size_hint().exact(), Some(8));
        assert_eq!(ok.collect().await.unwrap(), "abcdabcd");
        assert!(Body::stream(Some(8), pieces(1)).collect().await.is_err());
        assert!(Body::stream(Some(8), pieces(3)).collect().await.is_err());
        assert_eq!(
            Body::stream(None, pieces(3)).collect().await.unwrap().len(),
            12
        );
        assert_eq!(Body::from("x").size_hint().exact(), Some(1));
        assert!(Body::empty().is_end_stream());
    }

    /// A body whose frames come when the test sends them.
    fn channel() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        impl http_body::Body<Data = Bytes, Error = std::io::Error>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
        });
        (tx, http_body_util::StreamBody::new(stream))
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_body_fails_after_idle_time_without_a_frame() {
        let (tx, body) = channel();
        let mut timed = Timed::new(body, Duration::from_secs(5));
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        let f = timed.frame().await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "a");
        // Time spent elsewhere between frames does not count...
        tokio::time::advance(Duration::from_secs(60)).await;
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        assert!(timed.frame().await.unwrap().is_ok());
        // ... waiting for a frame that does not come does.
        let started = tokio::time::Instant::now();
        let err = timed.frame().await.unwrap().unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(
            is_stalled(err.as_ref()),
            Some(Stalled(Duration::from_secs(5)))
        );
        assert!(timed.frame().await.is_none());
        drop(tx);
    }
}
