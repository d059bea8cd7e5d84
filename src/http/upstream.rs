//! The upstream checksum database (setting `upstream_sumdb`, sum.golang.org by default): a
//! lookup of a public module the shelf does not host is fetched from it, verified with the
//! client algorithm (`sumdb::verify`: the note's signature, the record's inclusion proof from
//! tiles, and consistency with the newest upstream head this server stored, which never goes
//! backwards), appended to the shelf's own log and answered from there.
//!
//! Verifications run at once, each against the head stored when it began, fetching the
//! tiles it lacks together (one round trip to a distant upstream, not one per tile); each
//! appends only if the stored head is still the one it was checked against, else it is
//! checked again against the new one (`Store::sumdb_append_upstream_if_head`). Until
//! 2026-12-07 they ran one at a time, tiles one after another: a cold build's misses waited
//! a round trip to the upstream for every tile of every other miss before theirs. The HTTP
//! requests of one are bounded by the connect and idle timeouts. A failed fetch is
//! remembered, so that every miss can say the upstream is unreachable instead of telling the
//! user to switch verification off.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::store::sumdb::Logged;
use crate::store::Store;
use crate::sumdb::{self as log, Tile, Verifier};
use tokio::sync::Semaphore;

/// The built-in key of sum.golang.org (cmd/go, checksum-db.md §6).
pub const SUM_GOLANG_ORG: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// The most bytes read from one upstream answer (a lookup or a tile is a few KiB).
const MAX_ANSWER: u64 = 1 << 20;

/// Most tiles one verification fetches at once (a proof in sum.golang.org's tree needs a
/// tile of each of four or five levels, and as many for the tree's own hash).
const MAX_TILE_FETCHES: usize = 8;

/// Most times a lookup is verified again because other verifications kept moving the stored
/// head under it (each retry reuses the tiles they authenticated).
const MAX_VERIFICATIONS: usize = 16;

/// Where the upstream database is and how it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The verifier key.
    pub vkey: String,
    /// Its base URL, without a trailing `/`.
    pub url: String,
}

impl UpstreamConfig {
    /// Parses the setting: `off` (`None`), `sum.golang.org`, `sum.golang.google.cn`, `<vkey>`
    /// (served at `https://<name>`) or `<vkey> <url>`, as the go command reads `GOSUMDB`.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn parse(value: &str) -> Result<Option<Self>, String> {
        let fields: Vec<&str> = value.split_whitespace().collect();
        let (vkey, url) = match fields.as_slice() {
            ["off"] => return Ok(None),
            ["sum.golang.org"] => (SUM_GOLANG_ORG.to_owned(), None),
            ["sum.golang.google.cn"] => (
                SUM_GOLANG_ORG.to_owned(),
                Some("https://sum.golang.google.cn".to_owned()),
            ),
            [vkey] => ((*vkey).to_owned(), None),
            [vkey, url] => ((*vkey).to_owned(), Some((*url).to_owned())),
            _ => return Err("expected off, a name, a verifier key, or a key and a URL".into()),
        };
        let verifier = Verifier::parse(&vkey).map_err(|e| format!("bad verifier key: {e}"))?;
        let url = url.unwrap_or_else(|| format!("https://{}", verifier.name()));
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("{url}: not an http(s) URL"));
        }
        Ok(Some(Self {
            vkey,
            url: url.trim_end_matches('/').to_owned(),
        }))
    }
}

impl std::fmt::Display for UpstreamConfig {
    /// The setting as written: `sum.golang.org` for the default, else `<vkey> <url>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.vkey == SUM_GOLANG_ORG && self.url == "https://sum.golang.org" {
            f.write_str("sum.golang.org")
        } else {
            write!(f, "{} {}", self.vkey, self.url)
        }
    }
}

/// Why a lookup could not be answered from upstream.
#[derive(Debug)]
pub enum Failure {
    /// Unreachable, timed out, or answered with an error status: `reason`.
    Unreachable(String),
    /// Its answer failed verification: a `SECURITY` matter, logged as such.
    Refused(String),
}

/// A record fetched, verified and appended: what the log did with it, and its zip and
/// go.mod hashes (`h1:`).
pub type Fetched = (Logged, (String, String));

/// The upstream database as the server uses it.
pub struct Upstream {
    config: UpstreamConfig,
    verifier: Verifier,
    /// The pull-through cache's HTTP client (one home for the upstream rules: timeouts, the
    /// minimum rate, `upstream_ca_file`, redirects, credentials to their own host only).
    client: crate::pull::fetch::Client,
    /// `Authorization: Bearer <upstream_sumdb_token>`: sent to this database's own host, over
    /// https only.
    authorization: Option<String>,
    /// What earlier verifications established about the newest signed tree
    /// (`sumdb::HeldTree`): each verification starts from a copy and gives back its own.
    held: Mutex<log::HeldTree>,
    /// The last failure: when, and why.
    last_failure: Mutex<Option<(SystemTime, String)>>,
    /// The server's upstream turns (`upstream_concurrency`), of which every caller holds
    /// one: each further tile fetched at once takes another while one is free.
    turns: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// The upstream database read through `client`, sending `token` (if any) to its host.
    ///
    /// # Errors
    /// A bad verifier key (already checked by `UpstreamConfig::parse`).
    pub fn new(
        config: UpstreamConfig,
        client: crate::pull::fetch::Client,
        token: Option<String>,
    ) -> Result<Self, String> {
        let verifier = Verifier::parse(&config.vkey).map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            verifier,
            client,
            authorization: token.map(|t| format!("Bearer {t}")),
            held: Mutex::new(log::HeldTree::default()),
            last_failure: Mutex::new(None),
            turns: None,
        })
    }

    /// This upstream, fetching tiles at once only with turns free in `turns` (the server's
    /// `upstream_concurrency`): without it, up to `MAX_TILE_FETCHES` at once.
    #[must_use]
    pub fn with_turns(mut self, turns: Arc<Semaphore>) -> Self {
        self.turns = Some(turns);
        self
    }

    /// The upstream database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The line a lookup miss carries while the last upstream request failed.
    #[must_use]
    pub fn status_line(&self) -> Option<String> {
        let last = self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.as_ref().map(|(when, why)| {
            let secs = when
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!(
                "upstream checksum database {} unreachable since {}: {why}",
                self.name(),
                super::goproxy::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
            )
        })
    }

    fn failed(&self, why: &str) {
        let mut last = self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none() {
            *last = Some((SystemTime::now(), why.to_owned()));
        }
    }

    fn succeeded(&self) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// GETs `path` of the database. Blocking (every caller runs on tokio's blocking pool,
    /// where the runtime's handle drives the async client).
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| Failure::Unreachable(format!("{}/{path}: {e}", self.config.url)))?;
        handle.block_on(self.get_async(path))
    }

    /// [`Upstream::get`], awaited.
    async fn get_async(&self, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        use crate::pull::fetch::Failure as Get;
        let url = format!("{}/{path}", self.config.url);
        let mut body = Vec::new();
        let got = self
            .client
            .get(&url, MAX_ANSWER, &mut body, self.authorization.as_deref())
            .await;
        match got {
            Ok(_) => Ok(Some(body)),
            Err(Get::NotFound) => Ok(None),
            Err(Get::Failed { reason, .. }) => Err(Failure::Unreachable(reason)),
        }
    }

    /// Fetches, verifies and appends the record of `module@version`: `Ok(Some(logged))`
    /// when upstream has it, `Ok(None)` when upstream says it does not exist. Blocking: run
    /// it off the async workers.
    ///
    /// # Errors
    /// `Unreachable` or `Refused`; nothing is appended then.
    pub fn fetch(
        &self,
        store: &Store,
        module: &str,
        version: &str,
    ) -> Result<Option<Logged>, Failure> {
        Ok(self
            .fetch_record(store, module, version)?
            .map(|(logged, _)| logged))
    }

    /// [`Upstream::fetch`], also giving the record's zip and go.mod hashes (`h1:`), as
    /// verified.
    ///
    /// # Errors
    /// As `fetch`.
    pub fn fetch_record(
        &self,
        store: &Store,
        module: &str,
        version: &str,
    ) -> Result<Option<Fetched>, Failure> {
        let result = self.fetch_unrecorded(store, module, version);
        match &result {
            Ok(_) => self.succeeded(),
            Err(Failure::Unreachable(why)) => {
                tracing::warn!("upstream checksum database {}: {why}", self.name());
                self.failed(why);
            }
            Err(Failure::Refused(why)) => {
                tracing::error!(
                    "SECURITY: the upstream checksum database {} sent an answer for \
                     {module}@{version} that failed verification; nothing was stored: {why}",
                    self.name()
                );
                self.failed("its last answer failed verification (see the server log)");
            }
        }
        result
    }

    fn fetch_unrecorded(
        &self,
        store: &Store,
        module: &str,
        version: &str,
    ) -> Result<Option<Fetched>, Failure> {
        let escaped = crate::gomod::path::escape_path(module)
            .map_err(|e| Failure::Refused(format!("unescapable path: {e}")))?;
        let escaped_version = crate::gomod::path::escape_version(version)
            .map_err(|e| Failure::Refused(format!("unescapable version: {e}")))?;
        let Some(body) = self.get(&format!("lookup/{escaped}@{escaped_version}"))? else {
            return Ok(None);
        };
        let mut mine = log::HeldTree::default();
        for _ in 0..MAX_VERIFICATIONS {
            // Verified against a copy of what is held (with what an earlier attempt of this
            // one established) and the head stored now, without waiting for other
            // verifications (each may wait for the upstream for long); the append below goes
            // ahead only if no other one moved the stored head meanwhile.
            let mut held = self
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            held.absorb(mine);
            let stored = store
                .sumdb_upstream_head(self.name())
                .map_err(|e| Failure::Unreachable(format!("reading the stored head: {e}")))?;
            let verified = self.verify(store, &body, stored.as_ref(), &mut held)?;
            let appended = self.append(
                store,
                (module, version),
                (&escaped, &escaped_version),
                &body,
                &verified,
                stored.as_ref(),
            )?;
            if let Some(fetched) = appended {
                self.held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .absorb(held);
                return Ok(Some(fetched));
            }
            mine = held;
        }
        Err(Failure::Unreachable(format!(
            "the newest signed tree of {} moved during {MAX_VERIFICATIONS} verifications of \
             {module}@{version} in a row",
            self.name()
        )))
    }

    /// Verifies a lookup `body` against the `stored` head, fetching the tiles it needs (at
    /// once, [`Upstream::tiles`]) and reusing and adding to `held`.
    fn verify(
        &self,
        store: &Store,
        body: &[u8],
        stored: Option<&(log::Tree, Vec<u8>)>,
        held: &mut log::HeldTree,
    ) -> Result<log::VerifiedLookup, Failure> {
        let mut unreachable = None;
        let mut fetch = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
            let mut out = Vec::with_capacity(tiles.len());
            for got in self.tiles(store, tiles) {
                match got {
                    Ok(data) => out.push(data),
                    Err(Failure::Unreachable(why)) => {
                        unreachable = Some(why.clone());
                        return Err(log::Error::External(why));
                    }
                    Err(Failure::Refused(why)) => return Err(log::Error::External(why)),
                }
            }
            Ok(out)
        };
        let verified = log::verify_lookup_held(
            &self.verifier,
            stored.map(|(t, n)| (*t, n.as_slice())),
            body,
            &mut fetch,
            held,
        );
        verified.map_err(|e| match unreachable {
            Some(why) => Failure::Unreachable(why),
            None => Failure::Refused(e.to_string()),
        })
    }

    /// Appends a verified record if the stored head is still `stored`: `Ok(None)` if another
    /// verification moved it.
    fn append(
        &self,
        store: &Store,
        (module, version): (&str, &str),
        (escaped, escaped_version): (&str, &str),
        body: &[u8],
        verified: &log::VerifiedLookup,
        stored: Option<&(log::Tree, Vec<u8>)>,
    ) -> Result<Option<Fetched>, Failure> {
        // Only the authenticated record's lines count (CVE-2026-56864).
        let zip = log::lookup_lines(&verified.record_text, module, version);
        let gomod = log::lookup_lines(&verified.record_text, module, &format!("{version}/go.mod"));
        let hash = |lines: &[String], what: &str| -> Result<String, Failure> {
            match lines {
                [line] => line
                    .rsplit(' ')
                    .next()
                    .filter(|h| h.starts_with("h1:"))
                    .map(str::to_owned)
                    .ok_or_else(|| Failure::Refused(format!("no h1 hash of the {what}"))),
                _ => Err(Failure::Refused(format!(
                    "{} lines for the {what} in the record",
                    lines.len()
                ))),
            }
        };
        let (h1, mod_h1) = (hash(&zip, "zip")?, hash(&gomod, "go.mod")?);
        let head = verified
            .newer_than_stored
            .then_some((verified.tree.n, verified.note.as_slice()));
        // What the proxy of this database serves, kept with the record: the lookup as
        // upstream signed it, and the tiles this verification authenticated (clients proving
        // the same record need them).
        let name = self.name();
        let mut kept = vec![(
            format!("{name}/lookup/{escaped}@{escaped_version}"),
            body.to_vec(),
        )];
        kept.extend(
            verified
                .tiles
                .iter()
                .map(|(t, data)| (format!("{name}/{}", t.path()), data.clone())),
        );
        store
            .sumdb_append_upstream_if_head(
                module,
                version,
                (&h1, &mod_h1),
                name,
                head,
                &kept,
                stored.map(|(_, note)| note.as_slice()),
            )
            .map(|logged| logged.map(|logged| (logged, (h1, mod_h1))))
            .map_err(|e| Failure::Unreachable(format!("storing the record: {e}")))
    }

    /// The data of `tiles`, each kept or else fetched ([`Upstream::tile`]); those not kept
    /// are fetched at once (a proof in a large tree needs a tile of each level: one round
    /// trip, not one per level), as many as the caller's turn and the turns free allow, at
    /// most `MAX_TILE_FETCHES`. Blocking.
    fn tiles(&self, store: &Store, tiles: &[Tile]) -> Vec<Result<Vec<u8>, Failure>> {
        let mut out: Vec<Option<Result<Vec<u8>, Failure>>> = tiles
            .iter()
            .map(|t| match store.upstream_sumdb_tile(self.name(), t) {
                Ok(Some(data)) => Some(Ok(data)),
                _ => None,
            })
            .collect();
        let missing: Vec<usize> = (0..tiles.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let want = missing.len().min(MAX_TILE_FETCHES);
                    let extra: Vec<_> = match &self.turns {
                        Some(turns) => (1..want)
                            .map_while(|_| Arc::clone(turns).try_acquire_owned().ok())
                            .collect(),
                        None => Vec::new(),
                    };
                    let width = if self.turns.is_some() {
                        1 + extra.len()
                    } else {
                        want
                    };
                    for group in missing.chunks(width) {
                        let got = handle.block_on(futures_util::future::join_all(
                            group.iter().map(|&i| self.fetch_tile(&tiles[i])),
                        ));
                        for (&i, got) in group.iter().zip(got) {
                            out[i] = Some(got);
                        }
                    }
                }
                Err(e) => {
                    for &i in &missing {
                        out[i] = Some(Err(Failure::Unreachable(format!(
                            "{}: {e}",
                            tiles[i].path()
                        ))));
                    }
                }
            }
        }
        out.into_iter()
            .map(|got| {
                got.unwrap_or_else(|| Err(Failure::Unreachable("a tile was not fetched".into())))
            })
            .collect()
    }

    /// GETs `path` of the upstream database (a tile, `latest`), at most `cap` bytes;
    /// `Ok(None)` for 404 and 410.
    ///
    /// # Errors
    /// `Unreachable` with the reason.
    pub fn get_raw(&self, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        self.get(path)
    }

    /// A hash tile: kept, else fetched; a partial one that upstream no longer serves is cut
    /// from the full tile (as the go command does). Not authenticated here: callers read it
    /// through `sumdb::TileHashReader`.
    ///
    /// # Errors
    /// `Unreachable` (also for a tile upstream does not have); `Refused`.
    pub fn tile(&self, store: &Store, t: &Tile) -> Result<Vec<u8>, Failure> {
        // Tiles an earlier verification authenticated are kept (the proxy serves them): a
        // full one, or a wider partial one, also holds every narrower copy of its place.
        self.tiles(store, std::slice::from_ref(t))
            .pop()
            .unwrap_or_else(|| Err(Failure::Unreachable(format!("{}: not fetched", t.path()))))
    }

    /// Fetches a hash tile from upstream; a partial one that upstream no longer serves is cut
    /// from the full tile (as the go command does).
    async fn fetch_tile(&self, t: &Tile) -> Result<Vec<u8>, Failure> {
        let full = Tile { w: 1 << t.h, ..*t };
        if let Some(data) = self.get_async(&t.path()).await? {
            return Ok(data);
        }
        let want = t.w as usize * 32;
        match self.get_async(&full.path()).await? {
            Some(mut data) if data.len() >= want => {
                data.truncate(want);
                Ok(data)
            }
            _ => Err(Failure::Unreachable(format!(
                "{}: not found upstream",
                t.path()
            ))),
        }
    }
}

/// A kept lookup of the upstream database `name` signed in the newest head of `name` the
/// shelf holds when the kept tiles prove its record there, else as it came (an import
/// rewrites the kept lookups so, `bundle::import`). Clients then see one head at a time, growing (an offline shelf after each
/// import): one that remembers the newest head never meets an older one whose consistency
/// with it the shelf could not show (issue 28, later deliveries).
#[must_use]
pub fn in_newest_head(store: &Store, name: &str, body: Vec<u8>) -> Vec<u8> {
    let Ok((id, text, note)) = log::parse_record(&body) else {
        return body;
    };
    let Ok(Some((head, head_note))) = store.sumdb_upstream_head(name) else {
        return body;
    };
    let signed = String::from_utf8_lossy(note);
    let own = signed.split("\n\n").next().unwrap_or("");
    match log::parse_tree(&format!("{own}\n")) {
        Ok(tree) if tree.n < head.n => {}
        _ => return body,
    }
    let mut fetch = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
        tiles
            .iter()
            .map(|t| match store.upstream_sumdb_tile(name, t) {
                Ok(Some(data)) => Ok(data),
                _ => Err(log::Error::External(format!("{} not kept", t.path()))),
            })
            .collect()
    };
    if log::prove_record_in(head, id, text, &mut fetch).is_err() {
        return body;
    }
    let mut out = format!("{id}\n").into_bytes();
    out.extend_from_slice(text);
    out.push(b'\n');
    out.extend_from_slice(&head_note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_lookup_is_served_in_the_newest_head_where_kept_tiles_prove_it() {
        use crate::sumdb::note::tests::{TEST_SKEY, TEST_VKEY};
        use crate::sumdb::tlog::tests::MemLog;
        use crate::sumdb::tlog::{format_record, format_tree, slice_reader};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.redb")).unwrap();
        let signer = crate::sumdb::Signer::parse(TEST_SKEY).unwrap();
        let name = Verifier::parse(TEST_VKEY).unwrap().name().to_owned();
        let mut memlog = MemLog::default();
        for i in 0..300 {
            memlog.append(format!("m.example/{i} v1.0.0 h1:x\n").as_bytes());
        }
        let note = |n: u64| {
            crate::sumdb::sign(&format_tree(&memlog.tree_at(n)), &[&signer])
                .unwrap()
                .into_bytes()
        };
        let body_of = |id: u64, text: &[u8], n: u64| {
            let mut b = format_record(id, text).unwrap();
            b.extend(note(n));
            b
        };
        let old = body_of(5, &memlog.records[5], 100);
        // Nothing stored: served as it came.
        assert_eq!(in_newest_head(&store, &name, old.clone()), old);
        store
            .sumdb_keep_upstream(&name, Some((300, &note(300))), &[])
            .unwrap();
        // A newer head, but no tile to prove the record in it: as it came.
        assert_eq!(in_newest_head(&store, &name, old.clone()), old);
        let tree = memlog.tree_at(300);
        let mut fetch = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
            tiles
                .iter()
                .map(|t| log::read_tile_data(t, &mut slice_reader(&memlog.hashes)))
                .collect()
        };
        let tiles = log::prove_record_in(tree, 5, &memlog.records[5], &mut fetch).unwrap();
        let kept: Vec<(String, Vec<u8>)> = tiles
            .into_iter()
            .map(|(t, d)| (format!("{name}/{}", t.path()), d))
            .collect();
        store.sumdb_keep_upstream(&name, None, &kept).unwrap();
        let newest = in_newest_head(&store, &name, old.clone());
        assert_eq!(newest, body_of(5, &memlog.records[5], 300));
        // ... which a client with nothing stored verifies from the kept tiles alone.
        let mut kept_only = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
            tiles
                .iter()
                .map(|t| {
                    store
                        .upstream_sumdb_tile(&name, t)
                        .unwrap()
                        .ok_or_else(|| log::Error::External(t.path()))
                })
                .collect()
        };
        let v = Verifier::parse(TEST_VKEY).unwrap();
        log::verify_lookup(&v, None, &newest, &mut kept_only).unwrap();
        // A record the tree does not hold at that place stays as it came (and fails there).
        let forged = body_of(5, b"m.example/5 v1.0.0 h1:y\n", 100);
        assert_eq!(in_newest_head(&store, &name, forged.clone()), forged);
        // A lookup already in the newest head is untouched.
        let current = body_of(7, &memlog.records[7], 300);
        assert_eq!(in_newest_head(&store, &name, current.clone()), current);
    }

    #[test]
    fn the_setting_reads_as_gosumdb_does() {
        assert_eq!(UpstreamConfig::parse("off"), Ok(None));
        let default = UpstreamConfig::parse("sum.golang.org").unwrap().unwrap();
        assert_eq!(default.url, "https://sum.golang.org");
        assert_eq!(default.vkey, SUM_GOLANG_ORG);
        let cn = UpstreamConfig::parse("sum.golang.google.cn")
            .unwrap()
            .unwrap();
        assert_eq!(cn.url, "https://sum.golang.google.cn");
        let key = "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6";
        let own = UpstreamConfig::parse(&format!("{key} http://127.0.0.1:9/db/"))
            .unwrap()
            .unwrap();
        assert_eq!(own.url, "http://127.0.0.1:9/db");
        assert_eq!(
            UpstreamConfig::parse(key).unwrap().unwrap().url,
            "https://localhost.localdev/sumdb"
        );
        assert!(UpstreamConfig::parse("a b c").is_err());
        assert!(UpstreamConfig::parse("not-a-key").is_err());
        assert!(UpstreamConfig::parse(&format!("{key} ftp://x")).is_err());
    }
}
