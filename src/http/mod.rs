//! HTTP: the edge (`edge`: listeners, connections, deadlines, hyper 1), the GOPROXY read path
//! (`fast`, `goproxy`, `conn`), and the warp routes of everything else (`routes`: uploads, the
//! JSON API, the web UI). Handlers are plain async fns returning `Result<Response,
//! ApiError>`; rejections only mean "not this route". Every answer leaves through `finish`.

pub mod api;
pub mod authn;
pub mod body;
pub mod budget;
pub mod conn;
pub mod edge;
pub mod error;
pub mod fast;
pub mod finish;
pub mod goproxy;
pub mod io;
pub mod metrics;
pub mod pool;
pub mod pull;
pub mod sumdb;
pub mod sumdb_proxy;
pub mod tls;
pub mod ui;
pub mod upload;
pub mod upstream;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use http::{header, HeaderMap, HeaderValue, Method};
use warp::path::Tail;
use warp::Filter;

use crate::config::Config;
use crate::store::Store;
pub use body::{Body, Response};
pub use edge::{oneshot, serve, Bound, ConnInfo, Listeners};
use error::ApiError;

/// How often batched bookkeeping (tokens' last use) is written to the store.
pub const BACKGROUND_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// How soon what the server writes without `fsync` (the pull-through cache's versions and
/// zips, the checksum log's upstream records) is made durable (`Store::settle`): at most
/// this much of it is lost to a crash or power loss.
pub const SETTLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    pub auth: Arc<authn::AuthState>,
    /// Web UI: zip facts cache, download counters, sessions.
    pub ui: Arc<ui::UiState>,
    /// Small anonymous GOPROXY answers (`fast`).
    pub answers: Arc<fast::AnswerCache>,
    /// Where uploads are validated and stored, and zips read for the web UI
    /// (`upload_concurrency` threads).
    pub uploads: Arc<pool::WorkPool>,
    /// Where passwords are checked (one thread per core).
    pub checks: Arc<pool::WorkPool>,
    /// The HTTPS listener's port, once bound (sign-in over plain HTTP is sent there).
    pub https_port: Arc<OnceLock<u16>>,
    /// The shelf's checksum database.
    pub sumdb: Arc<sumdb::SumdbLog>,
    /// The upstream checksum database lookups of public modules are verified against;
    /// `None` when off or `offline`.
    pub upstream: Option<Arc<upstream::Upstream>>,
    /// Upstream records each requester caused this hour.
    pub budgets: Arc<budget::Budgets>,
    /// Turns at the upstream (`upstream_concurrency`): each lookup sent there holds one, and
    /// a blocking thread, until its answer is verified and stored.
    pub upstream_turns: Arc<tokio::sync::Semaphore>,
    /// The pull-through cache of public modules at `/go`.
    pub pull: Arc<pull::PullThrough>,
    /// The memory small zips on their way in may hold at once (`ingest::SpoolBudget`).
    pub spools: Arc<crate::ingest::SpoolBudget>,
}

impl AppState {
    /// State for a store and a configuration, with fresh counters. Opens the checksum
    /// database's log, making it at the first start (`Store::sumdb_open`).
    ///
    /// # Errors
    /// From opening the log: a configured name other than the log's, storage errors.
    pub fn new(store: Store, config: Config) -> Result<Self, crate::store::Error> {
        Ok(Self::with_log(store, config)?.0)
    }

    /// A state on a fresh file in `dir`, with no upstream (for unit tests); `adjust` may
    /// change the configuration first.
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub(crate) fn for_test(dir: &std::path::Path, adjust: impl FnOnce(&mut Config)) -> Self {
        use crate::config::{Key, RawConfig};
        let mut config = RawConfig::default()
            .with(Key::Listen, "127.0.0.1:0")
            .with_path(Key::Db, &dir.join("goshelf.redb"))
            .with(Key::UpstreamSumdb, "off")
            .with(Key::Upstream, "off")
            .resolve()
            .unwrap();
        adjust(&mut config);
        let store = crate::store::Store::open(&config.db).unwrap();
        Self::new(store, config).unwrap()
    }

    /// `new`, also returning what opening the log did (for the start-up banner).
    ///
    /// # Errors
    /// As for `new`.
    pub fn with_log(
        store: Store,
        config: Config,
    ) -> Result<(Self, crate::store::sumdb::LogOpened), crate::store::Error> {
        let (log, opened) =
            sumdb::SumdbLog::open(&store, config.sumdb_name.as_deref(), config.sumdb_readers)?;
        // Patterns from the configuration join those kept in the database.
        store.private_add(
            config
                .private
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty()),
        )?;
        let pull = Arc::new(
            pull::PullThrough::new(&config)
                .map_err(|e| crate::store::Error::Corrupt(format!("upstream: {e}")))?,
        );
        let upstream_turns = Arc::new(tokio::sync::Semaphore::new(config.upstream_concurrency));
        let upstream = match (&config.upstream_sumdb, config.offline) {
            (Some(u), false) => Some(Arc::new(
                upstream::Upstream::new(
                    u.clone(),
                    pull.client().clone(),
                    config.upstream_sumdb_token.clone(),
                )
                .map_err(|e| crate::store::Error::Corrupt(format!("upstream_sumdb: {e}")))?
                .with_turns(Arc::clone(&upstream_turns)),
            )),
            _ => None,
        };
        pull.set_cached_bytes(store.cached_zip_bytes()?);
        let metrics = metrics::Metrics::default();
        metrics.set_pull_cached_bytes(pull.cached_bytes());
        let auth = authn::AuthState::new(config.auth_failures_per_minute);
        let uploads = pool::WorkPool::new("goshelf-upload", config.upload_concurrency);
        let checks = pool::WorkPool::new("goshelf-auth", config.password_checks());
        let answers = fast::AnswerCache::for_memory(config.memory);
        Ok((
            Self {
                upstream,
                budgets: Arc::new(budget::Budgets::default()),
                upstream_turns,
                pull,
                spools: crate::ingest::SpoolBudget::for_memory(config.memory),
                store: Arc::new(store),
                config: Arc::new(config),
                metrics: Arc::new(metrics),
                auth: Arc::new(auth),
                ui: Arc::new(ui::UiState::default()),
                answers: Arc::new(answers),
                uploads: Arc::new(uploads),
                checks: Arc::new(checks),
                https_port: Arc::new(OnceLock::new()),
                sumdb: Arc::new(log),
            },
            opened,
        ))
    }
}

impl AppState {
    /// A turn at the upstream (`upstream_concurrency`), waited for at most
    /// `upstream_queue_timeout`; `None` when none came in time.
    pub async fn upstream_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(
            self.config.upstream_queue_timeout,
            Arc::clone(&self.upstream_turns).acquire_owned(),
        )
        .await
        .ok()?
        .ok()
    }
}

/// Runs a synchronous store call on the blocking pool; a panic or cancellation is a 500.
pub async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(ApiError::internal("blocking task", &e)),
    }
}

pub use authn::{authenticate, authenticate_optional, Peer};

/// An answer, as warp routes return it (warp's `Reply`, for our `Response`).
pub struct Answer(pub Response);

impl warp::Reply for Answer {
    fn into_response(self) -> warp::reply::Response {
        let (parts, body) = self.0.into_parts();
        let mut resp = match body {
            Body::Empty => warp::reply::Response::new(bytes::Bytes::new().into()),
            Body::Full(b) => warp::reply::Response::new(b.into()),
            stream @ Body::Stream { .. } => {
                let data = http_body_util::BodyDataStream::new(stream);
                warp::reply::stream(data).into_response()
            }
        };
        let (_, body) = resp.into_parts();
        resp = warp::reply::Response::from_parts(parts, body);
        resp
    }
}

/// `/sumdb/<rest>`: the checksum database at its fixed root.
async fn sumdb_root(
    state: AppState,
    rest: String,
    headers: HeaderMap,
    peer: Option<Peer>,
) -> Result<Response, ApiError> {
    let viewer = authenticate_optional(&state, &headers, peer).await?;
    let rest = crate::gomod::proxy::percent_decode(&rest)
        .ok_or_else(|| ApiError::bad_request("malformed percent-encoding in path"))?;
    let requester = budget::Requester::of(
        peer.map(|p| p.0),
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        &state.config.trusted_proxies,
        viewer.as_ref().map(|v| v.user.as_str()),
    );
    if let Some(answer) = Box::pin(sumdb_proxy::route(
        &state,
        &rest,
        viewer.is_some(),
        &requester,
    ))
    .await
    {
        return answer;
    }
    sumdb::handle(&state, &rest, viewer.as_ref(), peer.map(|p| p.0), &headers).await
}

fn answer(r: Result<Response, ApiError>) -> Answer {
    Answer(into_response(r))
}

/// A `GET` or a `HEAD`.
fn get_or_head() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// The query string, empty when the request has none.
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The connection of a request, as the edge recorded it (a local one for in-process requests
/// made without it).
fn conn() -> impl Filter<Extract = (ConnInfo,), Error = Infallible> + Clone {
    warp::ext::optional::<ConnInfo>().map(|c: Option<ConnInfo>| c.unwrap_or_else(ConnInfo::local))
}

/// The client's address.
fn peer() -> impl Filter<Extract = (Option<Peer>,), Error = Infallible> + Clone {
    warp::ext::optional::<Peer>()
}

/// What a handler needs to learn who asks: the state, the request's headers (credentials)
/// and the client's address.
fn caller(
    state: AppState,
) -> impl Filter<Extract = (AppState, HeaderMap, Option<Peer>), Error = Infallible> + Clone {
    with_state(state)
        .and(warp::header::headers_cloned())
        .and(peer())
}

fn into_response(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(ApiError::into_response)
}

/// A request body as the handlers read it: chunks of bytes.
pub type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, warp::Error>> + Send>>;

/// A request body as a stream of byte chunks (the edge's deadline applies: `body::Timed`).
fn body_stream() -> impl Filter<Extract = (BodyStream,), Error = warp::Rejection> + Clone {
    warp::body::stream().map(into_body_stream)
}

fn into_body_stream<S, B>(s: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf,
{
    use futures_util::StreamExt;
    Box::pin(s.map(|r| {
        r.map(|mut b| {
            let n = b.remaining();
            b.copy_to_bytes(n)
        })
    }))
}

/// An admin's `GET` (`/api/v1/admin/backup`, `verify`): `handle` answers from who asks
/// (`caller`). After the path, so an unknown path is 404, not 405.
fn admin_get<F, Fut>(state: &AppState, handle: F) -> warp::filters::BoxedFilter<(Answer,)>
where
    F: Fn(AppState, HeaderMap, Option<Peer>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    warp::get()
        .and(caller(state.clone()))
        .then(move |state, headers, peer| {
            let answered = handle(state, headers, peer);
            async move { answer(answered.await) }
        })
        .boxed()
}

/// An admin's `POST` with a JSON body (`/api/v1/admin/import`, `export`): `handle` answers
/// from who asks (`caller`) and the body. After the path, as `admin_get`.
fn admin_post<F, Fut>(state: &AppState, handle: F) -> warp::filters::BoxedFilter<(Answer,)>
where
    F: Fn(AppState, HeaderMap, Option<Peer>, BodyStream) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    warp::post()
        .and(caller(state.clone()))
        .and(body_stream())
        .then(move |state, headers, peer, body| {
            let answered = handle(state, headers, peer, body);
            async move { answer(answered.await) }
        })
        .boxed()
}

/// Every route but the GOPROXY reads (which `edge::dispatch` sends to `fast::serve`), with
/// error mapping. `edge::dispatch` finishes their answers.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Answer,)> {
    // Path first, method second: an unknown path must be 404, not warp's 405 (warp ranks a
    // method mismatch above "not found" when it merges rejections).
    let upload = warp::path::full()
        .and_then(|path: warp::path::FullPath| async move {
            match crate::gomod::proxy::split(path.as_str()) {
                Some((owner, "upload")) if owner != crate::gomod::proxy::LAN => {
                    Ok(owner.to_owned())
                }
                _ => Err(warp::reject::not_found()),
            }
        })
        .and(warp::put())
        .and(caller(state.clone()))
        .and(body_stream())
        .then(|owner, state, headers, peer, body| async move {
            let mut resp = into_response(upload::handle(state, owner, headers, peer, body).await);
            // A refused upload may leave body bytes unread; say the connection ends, so a
            // keep-alive client does not send its next request into a closed socket.
            if resp.status().is_client_error() || resp.status().is_server_error() {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Answer(resp)
        });

    let delete = warp::path!("api" / "v1" / "packages" / String / "go" / String / String)
        .and(warp::delete())
        .and(raw_query())
        .and(caller(state.clone()))
        .then(
            |owner, module, version, query: String, state, headers, peer| async move {
                let purge = query
                    .split('&')
                    .any(|kv| kv == "purge=true" || kv == "purge=1");
                answer(
                    api::delete_version(state, owner, module, version, purge, headers, peer).await,
                )
            },
        );

    let backup = warp::path!("api" / "v1" / "admin" / "backup").and(admin_get(&state, api::backup));

    let verify = warp::path!("api" / "v1" / "admin" / "verify").and(admin_get(&state, api::verify));

    let bundle_import =
        warp::path!("api" / "v1" / "admin" / "import").and(admin_post(&state, api::import));

    let bundle_export =
        warp::path!("api" / "v1" / "admin" / "export").and(admin_post(&state, api::export));

    // Accounts and owners: one route, parsed by `admin::Op::from_request`.
    let accounts = warp::path!("api" / "v1" / ..)
        .and(warp::path::tail())
        .and(warp::method())
        .and(raw_query())
        .and(caller(state.clone()))
        .and(body_stream())
        .then(
            |tail: Tail, method: Method, query: String, state, headers, peer, body| async move {
                let tail = tail.as_str().to_owned();
                let req = api::AccountsRequest {
                    method,
                    tail,
                    query,
                    headers,
                    peer,
                };
                answer(api::accounts(state, req, body).await)
            },
        );

    let metrics = warp::path!("metrics")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .then(|state: AppState| async move {
            let s = state.clone();
            let text = blocking(move || s.metrics.render(&s.store, &s.answers)).await;
            answer(text.map(|t| {
                body::typed_response(t, "text/plain; version=0.0.4; charset=utf-8", "no-store")
            }))
        });

    let ca_pem = warp::path!("ca.pem")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .then(|state| async move { answer(tls::ca_pem(state).await) });

    // The checksum database at a fixed root, for `GOSUMDB="<vkey> <url>"` (the name may
    // hold slashes, so the tail is matched by `sumdb::handle`).
    let sumdb_root = warp::path("sumdb")
        .and(warp::path::tail())
        .and(get_or_head())
        .and(caller(state.clone()))
        .then(|tail: Tail, state: AppState, headers, peer| async move {
            let rest = tail.as_str().to_owned();
            answer(sumdb_root(state, rest, headers, peer).await)
        });

    // The verifier key alone (`goshelf sumdb key --server`): public, like the home page.
    let sumdb_key = warp::path!("sumdb-key")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .map(|state: AppState| {
            Answer(body::typed_response(
                format!("{}\n", state.sumdb.vkey()),
                "text/plain; charset=utf-8",
                "no-cache",
            ))
        });

    let healthz = warp::path!("healthz").and(get_or_head()).map(|| {
        Answer(body::typed_response(
            "ok\n",
            "text/plain; charset=utf-8",
            "no-store",
        ))
    });

    // Each route is boxed: unboxed, the `or` chain's type is so deep that compiling the
    // crate took minutes.
    upload
        .boxed()
        .or(delete.boxed())
        .unify()
        .or(backup.boxed())
        .unify()
        .or(verify.boxed())
        .unify()
        .or(bundle_import.boxed())
        .unify()
        .or(bundle_export.boxed())
        .unify()
        .or(accounts.boxed())
        .unify()
        .or(metrics.boxed())
        .unify()
        .or(healthz.boxed())
        .unify()
        .or(ca_pem.boxed())
        .unify()
        .or(sumdb_root.boxed())
        .unify()
        .or(sumdb_key.boxed())
        .unify()
        .or(ui::routes(state.clone()))
        .unify()
        .or(ui::fallback(state.clone()))
        .unify()
        .boxed()
        .recover(|rej: warp::Rejection| async move {
            Ok::<_, Infallible>(Answer(error::from_rejection(&rej).into_response()))
        })
        .unify()
        .boxed()
}
