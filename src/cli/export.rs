//! `goshelf export OUT`: the shelf's hosted modules written as a GOPROXY tree in the module
//! cache's layout (proxy-cache.md §9.1), which the go command reads as
//! `GOPROXY=file:///OUT` on a machine with no network, verifying every module against the
//! shelf's own checksum database from the tree too (`OUT/sumdb/<name>/...`: `supported`, the
//! signed `latest`, a lookup for each logged version and every hash tile of the tree they
//! are signed in). Offline, on the database file.
//!
//! Per version: `<m>/@v/<v>.info`, `.mod`, `.zip` (streamed piece by piece, never whole in
//! memory) and `.ziphash`; per module `<m>/@v/list` (releases and prereleases, as the shelf
//! serves it). `goshelf-bundle.json` records each module's namespace and its visibility.
//! Versions that the log does not hold (those of a namespace it does not log) are exported
//! without a lookup: clients need `GONOSUMDB` for them, and the report says which.
//!
//! Not yet (issue 28): `--for go.sum`, the upstream database's lookups, `--server`, and
//! `goshelf import`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::gomod::path::{escape_path, escape_version};
use crate::store::{Store, ZipLookup};
use crate::sumdb::{self as log, Tile};

/// What an export wrote.
#[derive(Debug, Default)]
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
    for v in &versions {
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
        // The zip, piece by piece.
        let path = out.join(format!("{base}.zip"));
        let tmp = tmp_of(&path);
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?,
        );
        let mut offset = 0u64;
        let mut piece = Vec::new();
        while offset < reader.size() {
            piece.clear();
            let n = reader.read_at(offset, 1 << 20, &mut piece)?;
            if n == 0 {
                anyhow::bail!("{}@{}: its zip ends early", v.module, v.version);
            }
            file.write_all(&piece)
                .with_context(|| format!("writing {}", tmp.display()))?;
            offset += n as u64;
        }
        file.into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?
            .sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        done.bytes += reader.size();
        done.versions += 1;
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
    Ok(done)
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
pub fn run(db: &Path, owner: Option<&str>, out: &Path) -> anyhow::Result<()> {
    let store = super::open_existing(db)?;
    // The log as the file has it: its name, and who reads it (opening it with another
    // `sumdb_readers` would change what it logs).
    let readers = store
        .sumdb_stored_readers()?
        .unwrap_or(crate::store::sumdb::Readers::Anyone);
    let (log_view, _) = crate::http::sumdb::SumdbLog::open(&store, None, readers)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let done = export(&store, &log_view, owner, out)?;
    println!(
        "exported {} versions ({} bytes of zips), {} lookups and {} tiles of {} to {}",
        done.versions,
        done.bytes,
        done.lookups,
        done.tiles,
        log_view.name(),
        out.display()
    );
    for (module, skipped, kept) in &done.shadowed {
        println!("{module} is hosted by {kept} and {skipped}: exported from {kept} only");
    }
    if !done.unlogged.is_empty() {
        println!(
            "{} versions are not in the checksum database (their clients need GONOSUMDB): {}",
            done.unlogged.len(),
            done.unlogged.join(", ")
        );
    }
    println!(
        "clients: GOPROXY=file://{} GOSUMDB={}",
        std::fs::canonicalize(out)
            .unwrap_or_else(|_| out.to_owned())
            .display(),
        log_view.vkey()
    );
    Ok(())
}
