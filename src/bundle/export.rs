//! `goshelf export OUT`: the shelf's modules written as a GOPROXY tree in the module cache's
//! layout (proxy-cache.md §9.1), which the go command reads as `GOPROXY=file:///OUT` on a
//! machine with no network and `goshelf import` reads on an offline shelf (issue 28). On
//! a stopped server's file, or by a running server (`--server`, `http::api::export`).
//!
//! Per version: `<m>/@v/<v>.info`, `.mod`, `.zip` (streamed piece by piece, never whole in
//! memory) and `.ziphash`; per module `<m>/@v/list` (releases and prereleases, as the shelf
//! serves it). `goshelf-bundle.json` records each hosted module's namespace and its
//! visibility (an import keeps a module of a namespace that is not public out of the cache).
//!
//! **Hosted modules** (every namespace's, or `--owner`'s) come with the shelf's own checksum
//! database (`OUT/sumdb/<name>/...`: `supported`, the signed `latest`, a lookup for each
//! logged version, every hash tile of the tree they are signed in). Versions the log does
//! not hold (a namespace it does not log) are exported without a lookup: clients need
//! `GONOSUMDB` for them, and the report says which.
//!
//! **Cached public modules** (everything, without `--owner`; not those fetched with
//! credentials) come with the upstream checksum database's part (`OUT/sumdb/<upstream
//! name>/...`): each version's lookup signed in the newest upstream head the shelf holds,
//! the tiles that prove every record in that head, and the tiles that prove that head
//! consistent with the head of every earlier export (remembered in the file). Tiles the
//! shelf lacks are fetched from the upstream database and kept. A record it cannot prove in
//! the newest head (the upstream unreachable) is exported in its own head, counted in the
//! report: an offline shelf then serves it in that head.
//!
//! `--for FILE` (go.mod, go.sum, go.work; repeatable) exports only the versions those files
//! need (a go.mod's go.sum beside it counts, a go.work's modules' go.mod and go.sum files
//! too) and names those this shelf does not hold.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::gomod::path::{escape_path, escape_version};
use crate::store::{Store, ZipLookup};
use crate::sumdb::{self as log, Tile};

/// What an export wrote.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Exported {
    pub versions: u64,
    pub bytes: u64,
    pub lookups: u64,
    pub tiles: u64,
    /// Versions exported without a lookup (the log does not hold them).
    pub unlogged: Vec<String>,
    /// Modules hosted by more than one namespace: `(module, namespace skipped, namespace
    /// exported)` (a GOPROXY tree holds one module per path).
    pub shadowed: Vec<(String, String, String)>,
    /// Cached versions exported.
    pub cached: u64,
    /// Cached versions whose lookup is in an older head than the newest (tiles missing).
    pub older_heads: Vec<String>,
    /// Earlier exports' heads whose consistency with this one could not be proven: sizes.
    pub unproven_heads: Vec<u64>,
    /// The upstream head the cached versions' lookups are signed in: its size.
    pub upstream_head: Option<u64>,
    /// Versions `--for` asked for that this shelf does not hold.
    pub missing: Vec<String>,
    /// Every version written.
    #[serde(skip)]
    pub written: std::collections::BTreeSet<(String, String)>,
    /// The upstream database's name, when its part was written.
    pub upstream_name: Option<String>,
}

/// The versions `--for` files name: `(module, version)`.
pub type Wanted = std::collections::BTreeSet<(String, String)>;

/// The versions that `files` (go.mod, go.sum, go.work; a go.mod's or a go.work module's
/// go.sum beside it is read too) need.
///
/// # Errors
/// A file that cannot be read or parsed.
pub fn wanted(files: &[std::path::PathBuf]) -> anyhow::Result<Wanted> {
    let mut out = Wanted::new();
    let read_sum = |path: &Path, out: &mut Wanted| -> anyhow::Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            if let (Some(m), Some(v)) = (fields.next(), fields.next()) {
                let v = v.strip_suffix("/go.mod").unwrap_or(v);
                out.insert((m.to_owned(), v.to_owned()));
            }
        }
        Ok(())
    };
    let read_mod = |path: &Path, out: &mut Wanted| -> anyhow::Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let reqs = crate::gomod::modfile::requirements(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        out.extend(reqs);
        Ok(())
    };
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let dir = file.parent().unwrap_or(Path::new("."));
        match name.as_deref() {
            Some(n) if n.ends_with(".sum") => read_sum(file, &mut out)?,
            Some("go.work") => {
                let bytes =
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                out.extend(
                    crate::gomod::modfile::requirements(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
                );
                for used in crate::gomod::modfile::work_uses(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
                {
                    let module = dir.join(used);
                    read_mod(&module.join("go.mod"), &mut out)?;
                    if module.join("go.sum").is_file() {
                        read_sum(&module.join("go.sum"), &mut out)?;
                    }
                }
                if dir.join("go.work.sum").is_file() {
                    read_sum(&dir.join("go.work.sum"), &mut out)?;
                }
            }
            _ => {
                read_mod(file, &mut out)?;
                if dir.join("go.sum").is_file() {
                    read_sum(&dir.join("go.sum"), &mut out)?;
                }
            }
        }
    }
    Ok(out)
}

/// The upstream checksum database of the cached versions: its name, and the database
/// itself when it can be asked for tiles the shelf lacks.
pub struct UpstreamDb<'a> {
    pub name: String,
    pub remote: Option<&'a crate::http::upstream::Upstream>,
    /// Set at the first unreachable answer: the rest of the export asks it nothing more (an
    /// offline shelf would wait out a connect timeout per missing tile).
    pub unreachable: std::sync::atomic::AtomicBool,
}

/// Writes `rel` under `out` (its directories made), atomically (a temporary file renamed).
fn write_file(out: &Path, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = out.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = tmp_of(&path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Exports namespace `owner`'s modules (every namespace's without one) from `store` to `out`.
///
/// # Errors
/// Storage errors, a file that cannot be written, an unknown namespace.
pub fn export(
    store: &Store,
    log_view: &crate::http::sumdb::SumdbLog,
    owner: Option<&str>,
    out: &Path,
    upstream: Option<&UpstreamDb<'_>>,
    wanted: Option<&Wanted>,
) -> anyhow::Result<Exported> {
    let mut done = Exported::default();
    let namespaces = store.list_namespaces()?;
    if let Some(o) = owner {
        if !namespaces.iter().any(|(n, _)| n == o) {
            anyhow::bail!("no namespace {o}");
        }
    }
    let versions = store.list_all_versions(owner)?;
    let size = store.sumdb_size()?;
    // One signed tree for every lookup: the log as it is now.
    let note = log_view
        .note(store, size)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let name = log_view.name().to_owned();
    let mut record = serde_json::Map::new();
    let mut lists: std::collections::BTreeMap<(String, String), Vec<String>> =
        std::collections::BTreeMap::new();
    let mut from: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let is_wanted =
        |m: &str, v: &str| wanted.is_none_or(|w| w.contains(&(m.to_owned(), v.to_owned())));
    for v in &versions {
        if !is_wanted(&v.module, &v.version) {
            continue;
        }
        // One namespace per module path: the first (by name) that hosts it.
        let first = from
            .entry(v.module.clone())
            .or_insert_with(|| v.owner.clone());
        if *first != v.owner {
            let seen = (v.module.clone(), v.owner.clone(), first.clone());
            if !done.shadowed.contains(&seen) {
                done.shadowed.push(seen);
            }
            continue;
        }
        let m = escape_path(&v.module).map_err(|e| anyhow::anyhow!("{}: {e}", v.module))?;
        let ev = escape_version(&v.version).map_err(|e| anyhow::anyhow!("{}: {e}", v.version))?;
        let base = format!("{m}/@v/{ev}");
        let (_, go_mod) = store.get_go_mod(&v.owner, &v.module, &v.version)?;
        let ZipLookup::Found(rec, reader) = store.open_zip(&v.owner, &v.module, &v.version)? else {
            continue;
        };
        write_file(
            out,
            &format!("{base}.info"),
            crate::http::goproxy::info_json(&v.version, rec.time).as_bytes(),
        )?;
        write_file(out, &format!("{base}.mod"), &go_mod.unwrap_or_default())?;
        write_file(out, &format!("{base}.ziphash"), rec.h1.as_bytes())?;
        write_zip(
            &out.join(format!("{base}.zip")),
            &reader,
            &format!("{}@{}", v.module, v.version),
        )?;
        done.bytes += reader.size();
        done.versions += 1;
        done.written.insert((v.module.clone(), v.version.clone()));
        if !crate::gomod::version::is_pseudo(&v.version) {
            lists
                .entry((v.owner.clone(), m.clone()))
                .or_default()
                .push(v.version.clone());
        } else {
            lists.entry((v.owner.clone(), m.clone())).or_default();
        }
        record.insert(v.module.clone(), serde_json::Value::String(v.owner.clone()));
        // Its lookup, signed in the tree of `size` records.
        match store.sumdb_lookup(&v.module, &v.version)? {
            (_, Some((id, text))) if id < size => {
                let mut body = format!("{id}\n").into_bytes();
                body.extend_from_slice(&text);
                body.push(b'\n');
                body.extend_from_slice(&note);
                write_file(out, &format!("sumdb/{name}/lookup/{m}@{ev}"), &body)?;
                done.lookups += 1;
            }
            _ => done.unlogged.push(format!("{}@{}", v.module, v.version)),
        }
    }
    if owner.is_none() {
        if let Some(up) = upstream {
            export_cached(store, up, &from, out, &mut done, &mut lists, &is_wanted)?;
        }
    }
    if let Some(w) = wanted {
        done.missing = w
            .iter()
            .filter(|p| !done.written.contains(*p))
            .map(|(m, v)| format!("{m}@{v}"))
            .collect();
    }
    for ((_, m), mut list) in lists {
        list.sort_by(|a, b| crate::gomod::version::compare(a, b));
        let text: String = list.iter().map(|v| format!("{v}\n")).collect();
        write_file(out, &format!("{m}/@v/list"), text.as_bytes())?;
    }
    // The checksum database: supported, the signed tree, and every hash tile of it (a client
    // proving a record asks for the tiles on its path, full or partial).
    write_file(out, &format!("sumdb/{name}/supported"), b"")?;
    write_file(out, &format!("sumdb/{name}/latest"), &note)?;
    for t in all_hash_tiles(size) {
        let mut read = |idx: &[u64]| -> Result<Vec<log::Hash>, log::Error> {
            store
                .sumdb_hashes(idx)
                .map_err(|e| log::Error::External(e.to_string()))
        };
        let data = log::read_tile_data(&t, &mut read).map_err(|e| anyhow::anyhow!("{e}"))?;
        write_file(out, &format!("sumdb/{name}/{}", t.path()), &data)?;
        done.tiles += 1;
    }
    let namespaces: Vec<serde_json::Value> = namespaces
        .iter()
        .filter(|(n, _)| owner.is_none_or(|o| o == n))
        .map(|(n, ns)| serde_json::json!({"name": n, "visibility": ns.visibility, "kind": ns.kind}))
        .collect();
    let bundle = serde_json::json!({
        "format": "goshelf-bundle 1",
        "sumdb": {"name": name, "vkey": log_view.vkey(), "size": size},
        "namespaces": namespaces,
        "modules": record,
        "private_patterns": store.private_patterns()?,
    });
    write_file(
        out,
        "goshelf-bundle.json",
        serde_json::to_string_pretty(&bundle)?.as_bytes(),
    )?;
    flush_tree(out)?;
    Ok(done)
}

/// Writes the zip `reader` to `path` (a temporary file renamed, synced), piece by piece.
fn write_zip(path: &Path, reader: &crate::store::BlobReader, what: &str) -> anyhow::Result<()> {
    let tmp = tmp_of(path);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?,
    );
    let mut offset = 0u64;
    let mut piece = Vec::new();
    while offset < reader.size() {
        piece.clear();
        let n = reader.read_at(offset, 1 << 20, &mut piece)?;
        if n == 0 {
            anyhow::bail!("{what}: its zip ends early");
        }
        file.write_all(&piece)
            .with_context(|| format!("writing {}", tmp.display()))?;
        offset += n as u64;
    }
    let file = file
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    // On Linux the whole tree is flushed once at the end (`flush_tree`); elsewhere each zip.
    #[cfg(not(target_os = "linux"))]
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Makes everything written under `out` durable before the report says it is done: one
/// `syncfs` of its filesystem (an fsync per file cost more than the writing, measured with
/// perf/bundle.py). Elsewhere than Linux each zip was synced as it was written.
fn flush_tree(out: &Path) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let dir = std::fs::File::open(out).with_context(|| format!("opening {}", out.display()))?;
        rustix::fs::syncfs(&dir).with_context(|| format!("flushing {}", out.display()))?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = out;
    Ok(())
}

/// A tile of the upstream database: kept, else fetched (`Upstream::tile`), until the database
/// was found unreachable once.
fn upstream_tile(store: &Store, up: &UpstreamDb<'_>, t: &Tile) -> Result<Vec<u8>, log::Error> {
    let missing = || log::Error::External(format!("{}/{} is not kept", up.name, t.path()));
    let remote = match up.remote {
        Some(r) if !up.unreachable.load(std::sync::atomic::Ordering::Relaxed) => r,
        _ => {
            return store
                .upstream_sumdb_tile(&up.name, t)
                .ok()
                .flatten()
                .ok_or_else(missing)
        }
    };
    match remote.tile(store, t) {
        Ok(data) => Ok(data),
        Err(crate::http::upstream::Failure::Unreachable(why)) => {
            up.unreachable
                .store(true, std::sync::atomic::Ordering::Relaxed);
            Err(log::Error::External(why))
        }
        Err(crate::http::upstream::Failure::Refused(why)) => Err(log::Error::External(why)),
    }
}

/// The cached public versions, with the upstream database's lookups and proofs (module
/// docs).
fn export_cached(
    store: &Store,
    up: &UpstreamDb<'_>,
    hosted: &std::collections::HashMap<String, String>,
    out: &Path,
    done: &mut Exported,
    lists: &mut std::collections::BTreeMap<(String, String), Vec<String>>,
    is_wanted: &dyn Fn(&str, &str) -> bool,
) -> anyhow::Result<()> {
    let name = up.name.as_str();
    done.upstream_name = Some(name.to_owned());
    let head = store.sumdb_upstream_head(name)?;
    done.upstream_head = head.as_ref().map(|(t, _)| t.n);
    let mut proofs: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();
    let mut fetch = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, log::Error> {
        tiles.iter().map(|t| upstream_tile(store, up, t)).collect()
    };
    for (module, version, rec) in store.cached_all()? {
        if rec.private || hosted.contains_key(&module) || !is_wanted(&module, &version) {
            continue;
        }
        let what = format!("{module}@{version}");
        let m = escape_path(&module).map_err(|e| anyhow::anyhow!("{module}: {e}"))?;
        let ev = escape_version(&version).map_err(|e| anyhow::anyhow!("{version}: {e}"))?;
        let base = format!("{m}/@v/{ev}");
        let Some(go_mod) = store.cached_mod(&module, &version)? else {
            continue;
        };
        write_file(out, &format!("{base}.info"), rec.info.as_bytes())?;
        write_file(out, &format!("{base}.mod"), &go_mod)?;
        if let Some((rec, reader)) = store.open_cached_zip(&module, &version)? {
            if let Some(h1) = &rec.h1 {
                write_file(out, &format!("{base}.ziphash"), h1.as_bytes())?;
            }
            write_zip(&out.join(format!("{base}.zip")), &reader, &what)?;
            done.bytes += reader.size();
        }
        done.cached += 1;
        done.written.insert((module.clone(), version.clone()));
        let list = lists.entry((String::new(), m.clone())).or_default();
        if !crate::gomod::version::is_pseudo(&version) {
            list.push(version.clone());
        }
        let Some((_, body)) = store.upstream_sumdb_kept(&format!("{name}/lookup/{m}@{ev}"))? else {
            done.unlogged.push(what);
            continue;
        };
        // The lookup in the newest head, where its record is proven there.
        let mut lookup = body.clone();
        if let (Some((tree, note)), Ok((id, text, _))) = (&head, log::parse_record(&body)) {
            match log::prove_record_in(*tree, id, text, &mut fetch) {
                Ok(tiles) => {
                    let mut b = format!("{id}\n").into_bytes();
                    b.extend_from_slice(text);
                    b.push(b'\n');
                    b.extend_from_slice(note);
                    lookup = b;
                    for (t, d) in tiles {
                        proofs.insert(format!("{name}/{}", t.path()), d);
                    }
                }
                Err(e) => {
                    tracing::warn!("{what}: not proven in the newest head of {name}: {e}");
                    done.older_heads.push(what.clone());
                }
            }
        }
        write_file(out, &format!("sumdb/{name}/lookup/{m}@{ev}"), &lookup)?;
        done.lookups += 1;
    }
    let Some((tree, note)) = head else {
        return Ok(());
    };
    // The newest head consistent with every head an earlier export bundled.
    for old in store.sumdb_export_heads(name)? {
        if old.n > tree.n {
            continue;
        }
        match log::check_trees(&old, b"", &tree, &note, log::TILE_HEIGHT, &mut fetch) {
            Ok(tiles) => {
                for (t, d) in tiles {
                    proofs.insert(format!("{name}/{}", t.path()), d);
                }
            }
            Err(e) => {
                tracing::warn!("the head of {} records of an earlier export: {e}", old.n);
                done.unproven_heads.push(old.n);
            }
        }
    }
    // Keep what was fetched (authenticated against the head), then write every kept tile.
    let fetched: Vec<(String, Vec<u8>)> = proofs.into_iter().collect();
    store.sumdb_keep_upstream(name, None, &fetched)?;
    store.make_durable()?;
    for (key, data) in store.upstream_sumdb_under(&format!("{name}/tile/"))? {
        write_file(out, &format!("sumdb/{key}"), &data)?;
        done.tiles += 1;
    }
    write_file(out, &format!("sumdb/{name}/supported"), b"")?;
    write_file(out, &format!("sumdb/{name}/latest"), &note)?;
    store.sumdb_add_export_head(name, tree)?;
    Ok(())
}

/// Every hash tile of a tree of `size` records, height 8 as the go command reads them: at each
/// level the complete tiles and the last partial one.
fn all_hash_tiles(size: u64) -> Vec<Tile> {
    log::new_tiles(8, 0, size)
}

/// Runs `goshelf export`.
///
/// # Errors
/// Whatever the store or the file system refuses.
pub fn run(
    db: &Path,
    owner: Option<&str>,
    out: &Path,
    upstream_sumdb: Option<crate::http::upstream::UpstreamConfig>,
    for_files: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    let wanted = if for_files.is_empty() {
        None
    } else {
        Some(wanted(for_files)?)
    };
    let store = crate::cli::open_existing(db)?;
    // The log as the file has it: its name, and who reads it (opening it with another
    // `sumdb_readers` would change what it logs).
    let readers = store
        .sumdb_stored_readers()?
        .unwrap_or(crate::store::sumdb::Readers::Anyone);
    let (log_view, _) = crate::http::sumdb::SumdbLog::open(&store, None, readers)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The upstream database, asked for the tiles the shelf lacks (blocking requests on a
    // runtime of their own, as the server makes them).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let remote = match &upstream_sumdb {
        Some(u) => {
            let client = crate::pull::fetch::Client::new(
                crate::pull::fetch::Limits {
                    connect: std::time::Duration::from_secs(10),
                    idle: std::time::Duration::from_secs(30),
                    min_rate: 0,
                },
                None,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(
                crate::http::upstream::Upstream::new(u.clone(), client, None)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        }
        None => None,
    };
    let up = remote.as_ref().map(|r| UpstreamDb {
        name: r.name().to_owned(),
        remote: Some(r),
        unreachable: false.into(),
    });
    let done = {
        // The runtime's handle for `Upstream`'s blocking requests (this thread is not one
        // of its workers, so blocking on it here is allowed).
        let _entered = runtime.enter();
        export(&store, &log_view, owner, out, up.as_ref(), wanted.as_ref())?
    };
    print!("{}", describe(&done, log_view.name(), log_view.vkey(), out));
    Ok(())
}

/// What `goshelf export --server` asks a running shelf (`POST /api/v1/admin/export`): the
/// server writes `out` on its machine (absent or an empty directory).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub out: PathBuf,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub for_files: Vec<PathBuf>,
}

/// The export's report as the CLI prints it.
#[must_use]
pub fn describe(done: &Exported, name: &str, vkey: &str, out: &Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "exported {} versions ({} bytes of zips), {} lookups and {} tiles of {} to {}",
        done.versions + done.cached,
        done.bytes,
        done.lookups,
        done.tiles,
        name,
        out.display()
    );
    if let (Some(up), true) = (&done.upstream_name, done.cached > 0) {
        let _ = writeln!(
            s,
            "{} of them cached public modules, with their lookups of {up} in its head of {} records",
            done.cached,
            done.upstream_head.unwrap_or(0)
        );
    }
    if !done.older_heads.is_empty() {
        let _ = writeln!(
            s,
            "{} lookups stay in an older head (the tiles to prove them in the newest could not \
             be fetched): {}",
            done.older_heads.len(),
            done.older_heads.join(", ")
        );
    }
    if !done.missing.is_empty() {
        let _ = writeln!(
            s,
            "{} versions the --for files need are not on this shelf: {}",
            done.missing.len(),
            done.missing.join(", ")
        );
    }
    for n in &done.unproven_heads {
        let _ = writeln!(
            s,
            "the head of {n} records of an earlier export is not proven consistent with this \
             one: an offline shelf that imported it will refuse this bundle"
        );
    }
    for (module, skipped, kept) in &done.shadowed {
        let _ = writeln!(
            s,
            "{module} is hosted by {kept} and {skipped}: exported from {kept} only"
        );
    }
    if !done.unlogged.is_empty() {
        let _ = writeln!(
            s,
            "{} versions are not in the checksum database (their clients need GONOSUMDB): {}",
            done.unlogged.len(),
            done.unlogged.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "clients: GOPROXY=file://{} GOSUMDB={vkey}",
        std::fs::canonicalize(out)
            .unwrap_or_else(|_| out.to_owned())
            .display(),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_for_files_name_what_a_go_mod_a_go_sum_and_a_go_work_need() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("app")).unwrap();
        std::fs::create_dir_all(d.join("lib")).unwrap();
        std::fs::write(
            d.join("app/go.mod"),
            "module example.com/app\n\nrequire a.example/x v1.0.0\n",
        )
        .unwrap();
        std::fs::write(
            d.join("app/go.sum"),
            "a.example/x v1.0.0 h1:x=\nb.example/y v0.1.0/go.mod h1:y=\n",
        )
        .unwrap();
        std::fs::write(
            d.join("lib/go.mod"),
            "module example.com/lib\n\nrequire (\n\tc.example/z v2.0.0+incompatible\n)\n",
        )
        .unwrap();
        std::fs::write(d.join("go.work"), "go 1.22\n\nuse (\n\t./app\n\t./lib\n)\n").unwrap();
        std::fs::write(d.join("go.work.sum"), "d.example/w v1.1.0 h1:w=\n").unwrap();
        let pair = |m: &str, v: &str| (m.to_owned(), v.to_owned());
        let all = wanted(&[d.join("go.work")]).unwrap();
        let expected: Wanted = [
            pair("a.example/x", "v1.0.0"),
            pair("b.example/y", "v0.1.0"),
            pair("c.example/z", "v2.0.0+incompatible"),
            pair("d.example/w", "v1.1.0"),
        ]
        .into_iter()
        .collect();
        assert_eq!(all, expected);
        // A go.mod alone reads its go.sum beside it; a go.sum alone is just its lines.
        assert_eq!(wanted(&[d.join("app/go.mod")]).unwrap().len(), 2);
        assert_eq!(
            wanted(&[d.join("go.work.sum")]).unwrap(),
            [pair("d.example/w", "v1.1.0")].into_iter().collect()
        );
        assert!(wanted(&[d.join("missing/go.mod")]).is_err());
    }
}
