//! Client-side verification of an upstream checksum database (x/mod `sumdb/client.go`,
//! spec §6 and §8 "Verify before caching permanently").
//!
//! Before goshelf stores an upstream lookup answer or tile, it does what the go command
//! does: open the signed tree note with the upstream key, check the tree against the
//! newest tree already stored (an append-only timeline: a larger tree must contain it, a
//! smaller one must be its prefix, an equal one must be identical), prove the record is
//! in the tree, and authenticate every tile used against the signed tree hash.
//!
//! Two x/mod client holes (fixed in x/mod v0.40.0) are deliberately not reproduced:
//! - CVE-2026-56864: hash lines for a module are taken only from the authenticated
//!   record text ([`lookup_lines`]), never from the rest of the lookup body.
//! - CVE-2026-56865: [`TileHashReader`] checks every fetched tile that is not one of the
//!   distinct tiles for the tree hash against its parent tile, counting those distinct
//!   tiles rather than the (possibly larger) number of tree-hash subtrees.

use std::collections::HashMap;
use std::sync::Arc;

use super::note::{open, Note, Verifier};
use super::tile::{hash_from_tile, tile_for_index, tile_hash, tile_parent, Tile};
use super::tlog::{
    check_record, check_tree, empty_tree_hash, node_hash, parse_record, parse_tree, prove_record,
    prove_tree, record_hash, stored_hash_index, sub_tree_index, tree_hash, Hash, Tree, HASH_SIZE,
};
use super::{Error, ForkEvidence};

/// Tile height the go command uses (x/mod client default; `SetTileHeight` is never called).
pub const TILE_HEIGHT: u32 = 8;

/// Fetches tiles: returns the data of each requested tile, in order, exactly `W*32` bytes
/// for hash tiles, or an error (use [`Error::External`] for I/O failures).
///
/// Like x/mod's client, an implementation may answer a partial tile it cannot get by
/// fetching the complete tile and truncating it to `W*32` bytes. Data returned here is
/// untrusted: store it only once it is returned as authenticated.
pub type TileFetcher<'a> = dyn FnMut(&[Tile]) -> Result<Vec<Vec<u8>>, Error> + 'a;

/// A tile and its data, authenticated against a signed tree: safe to cache and serve.
pub type AuthenticatedTile = (Tile, Vec<u8>);

/// Reads stored hashes of a signed tree from fetched tiles, authenticating every tile
/// against the tree hash before returning any hash (x/mod `tlog.TileHashReader`).
///
/// Tiles authenticated by earlier calls are reused instead of fetched again, and neither
/// fetched nor authenticated again: a tile is authenticated once per tree. So are tiles
/// given as `trusted` (authenticated against this same tree by an earlier reader,
/// [`HeldTree`]).
pub struct TileHashReader<'f> {
    tree: Tree,
    height: u32,
    fetch: &'f mut TileFetcher<'f>,
    authenticated: HashMap<Tile, Vec<u8>>,
    authenticated_order: Vec<Tile>,
    /// Tiles an earlier reader authenticated against this same tree; one that a proof uses
    /// joins `authenticated` (so `authenticated_tiles` lists every tile a proof used).
    trusted: HashMap<Tile, Arc<[u8]>>,
    /// Test-only switch reproducing x/mod's pre-v0.40.0 loop bound (CVE-2026-56865).
    #[cfg(test)]
    emulate_unfixed_loop: bool,
}

/// The tiles one `read_hashes` call fetches, in authentication order.
struct TilePlan {
    /// Tiles to fetch: first the distinct tree-hash ("stx") tiles, then others, each
    /// after its parent.
    tiles: Vec<Tile>,
    /// Position of each tile in `tiles`.
    position: HashMap<Tile, usize>,
    /// Stored indexes of the subtree roots whose fold is the tree hash.
    stx: Vec<u64>,
    /// Position in `tiles` of the tile holding each `stx` hash.
    stx_position: Vec<usize>,
    /// Number of distinct stx tiles: `tiles[..stx_tiles]` are stx tiles, the rest are not.
    stx_tiles: usize,
    /// Position in `tiles` of the tile holding each requested index.
    index_position: Vec<usize>,
}

impl TilePlan {
    /// Adds `tile` unless already planned; returns its position.
    fn add(&mut self, tile: Tile) -> usize {
        if let Some(&pos) = self.position.get(&tile) {
            return pos;
        }
        let pos = self.tiles.len();
        self.position.insert(tile, pos);
        self.tiles.push(tile);
        pos
    }
}

impl<'f> TileHashReader<'f> {
    /// A reader for `tree` using tiles of height `height` (clamped to 1..=30).
    pub fn new(tree: Tree, height: u32, fetch: &'f mut TileFetcher<'f>) -> Self {
        TileHashReader {
            tree,
            height: height.clamp(1, super::tile::MAX_TILE_HEIGHT),
            fetch,
            authenticated: HashMap::new(),
            authenticated_order: Vec::new(),
            trusted: HashMap::new(),
            #[cfg(test)]
            emulate_unfixed_loop: false,
        }
    }

    /// Whether `tile` is authenticated against this reader's tree: by this reader, or
    /// trusted as such.
    fn known(&self, tile: &Tile) -> bool {
        self.authenticated.contains_key(tile) || self.trusted.contains_key(tile)
    }

    /// The data of a known tile (`known`).
    fn known_data(&self, tile: &Tile) -> Option<&[u8]> {
        self.authenticated
            .get(tile)
            .map(Vec::as_slice)
            .or_else(|| self.trusted.get(tile).map(|d| &**d))
    }

    /// The tree whose hashes this reader returns.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Proves that `record_text` is leaf `id` of the tree, with hashes read through this
    /// reader: [`Error::RecordMismatch`] when the proof does not verify.
    fn prove_record_text(&mut self, id: u64, record_text: &[u8]) -> Result<(), Error> {
        let tree = self.tree;
        let proof = prove_record(tree.n, id, &mut |ix: &[u64]| self.read_hashes(ix))?;
        check_record(&proof, tree.n, &tree.hash, id, &record_hash(record_text))
            .map_err(|_| Error::RecordMismatch)
    }

    /// Tiles authenticated so far, in the order first authenticated.
    pub fn authenticated_tiles(&self) -> Vec<AuthenticatedTile> {
        self.authenticated_order
            .iter()
            .filter_map(|t| self.authenticated.get(t).map(|d| (*t, d.clone())))
            .collect()
    }

    /// The stored hashes at `indexes`, each proven to be in the tree
    /// (x/mod `tileHashReader.ReadHashes`, with the CVE-2026-56865 fix).
    pub fn read_hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let plan = self.plan(indexes)?;
        let data = self.fetch_tiles(&plan.tiles)?;
        self.authenticate(&plan, &data)?;
        let hashes = indexes
            .iter()
            .zip(&plan.index_position)
            .map(|(&x, &j)| hash_from_tile(&plan.tiles[j], &data[j], x))
            .collect::<Result<Vec<Hash>, Error>>()?;
        for (tile, data) in plan.tiles.into_iter().zip(data) {
            if !self.authenticated.contains_key(&tile) {
                self.trusted.remove(&tile);
                self.authenticated_order.push(tile);
                self.authenticated.insert(tile, data);
            }
        }
        Ok(hashes)
    }

    /// Lists the tiles needed: those to recompute the tree hash, then for each index its
    /// tile and any ancestors up to an already planned tile, parents before children.
    fn plan(&self, indexes: &[u64]) -> Result<TilePlan, Error> {
        let n = self.tree.n;
        let stx = sub_tree_index(0, n);
        let mut plan = TilePlan {
            tiles: Vec::new(),
            position: HashMap::new(),
            stx_position: Vec::with_capacity(stx.len()),
            stx: Vec::new(),
            stx_tiles: 0,
            index_position: Vec::with_capacity(indexes.len()),
        };
        for &x in &stx {
            let tile = self.parent(&tile_for_index(self.height, x), 0)?;
            let pos = plan.add(tile);
            plan.stx_position.push(pos);
        }
        plan.stx = stx;
        // The fix for CVE-2026-56865: count the distinct stx tiles actually placed,
        // not the stx hashes (several of which may share a tile).
        plan.stx_tiles = plan.tiles.len();

        let limit = stored_hash_index(0, n);
        for &x in indexes {
            if x >= limit {
                return Err(Error::IndexNotInTree { index: x, size: n });
            }
            let pos = self.plan_index(&mut plan, x)?;
            plan.index_position.push(pos);
        }
        Ok(plan)
    }

    /// Adds the tile of stored index `x`, after any missing ancestors; returns its
    /// position.
    fn plan_index(&self, plan: &mut TilePlan, x: u64) -> Result<usize, Error> {
        let tile = tile_for_index(self.height, x);
        // Walk up until an ancestor (or the tile itself) is already planned: the tiles of the
        // tree hash are planned first, and a tree of 2^64 records has at most 65 levels of
        // tiles (`parent` fails above the top).
        let mut planned_above = None;
        for k in 0..=64u32 {
            let p = self.parent(&tile, k)?;
            if let Some(&pos) = plan.position.get(&p) {
                if k == 0 {
                    return Ok(pos);
                }
                planned_above = Some(k);
                break;
            }
        }
        let k = planned_above.ok_or(Error::Internal("tile reader lost parent"))?;
        // Walk back down, adding each missing tile after its parent.
        let mut pos = 0;
        for kk in (0..k).rev() {
            let p = self.parent(&tile, kk)?;
            if u64::from(p.w) != 1u64 << p.h {
                // A tile with a parent tile is complete.
                return Err(Error::Internal("tile reader: partial tile below a parent"));
            }
            pos = plan.add(p);
        }
        Ok(pos)
    }

    fn parent(&self, tile: &Tile, k: u32) -> Result<Tile, Error> {
        tile_parent(tile, k, self.tree.n).ok_or(Error::Internal("tile reader: no such tile"))
    }

    /// Data for `tiles`: authenticated copies where held, the rest from the fetcher, with
    /// counts and lengths checked.
    fn fetch_tiles(&mut self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        let missing: Vec<Tile> = tiles.iter().filter(|t| !self.known(t)).copied().collect();
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            (self.fetch)(&missing)?
        };
        if fetched.len() != missing.len() {
            return Err(Error::BadTileData(format!(
                "len={}, want {}",
                fetched.len(),
                missing.len()
            )));
        }
        let mut fetched = fetched.into_iter();
        let mut data = Vec::with_capacity(tiles.len());
        for t in tiles {
            let d = match self.known_data(t) {
                Some(d) => d.to_vec(),
                None => fetched.next().ok_or(Error::Internal("tile count"))?,
            };
            let want = t.w as usize * HASH_SIZE;
            if d.len() != want {
                return Err(Error::BadTileData(format!(
                    "{} len={}, want {want}",
                    t.path(),
                    d.len()
                )));
            }
            data.push(d);
        }
        Ok(data)
    }

    /// Authenticates the stx tiles against the tree hash, then every other tile against
    /// its (earlier, already authenticated) parent tile. Tiles already known to be
    /// authenticated against this tree (`known`) are not checked again: the stx tiles when
    /// every one of them is known, any other tile when it is.
    fn authenticate(&self, plan: &TilePlan, data: &[Vec<u8>]) -> Result<(), Error> {
        if !plan.tiles[..plan.stx_tiles].iter().all(|t| self.known(t)) {
            self.authenticate_stx(plan, data)?;
        }
        for i in self.first_non_stx_tile(plan)..plan.tiles.len() {
            let tile = &plan.tiles[i];
            if self.known(tile) {
                continue;
            }
            let parent = self.parent(tile, 1)?;
            let j = *plan
                .position
                .get(&parent)
                .ok_or(Error::Internal("tile reader lost parent"))?;
            if j >= i {
                return Err(Error::Internal("tile reader: parent after child"));
            }
            let level = parent.h.saturating_mul(parent.l.unsigned_abs());
            let want = hash_from_tile(&parent, &data[j], stored_hash_index(level, tile.n))?;
            if want != tile_hash(&data[i])? {
                return Err(Error::InconsistentTile);
            }
        }
        Ok(())
    }

    /// Checks that the stx tiles' hashes fold into the tree hash.
    fn authenticate_stx(&self, plan: &TilePlan, data: &[Vec<u8>]) -> Result<(), Error> {
        let mut th: Option<Hash> = None;
        for (&x, &j) in plan.stx.iter().zip(&plan.stx_position).rev() {
            let h = hash_from_tile(&plan.tiles[j], &data[j], x)?;
            th = Some(match th {
                None => h,
                Some(right) => node_hash(&h, &right),
            });
        }
        if th != Some(self.tree.hash) {
            return Err(Error::InconsistentTile);
        }
        Ok(())
    }

    /// Position of the first tile to check against its parent: the number of distinct
    /// stx tiles. (x/mod before v0.40.0 used the number of stx hashes, skipping tiles.)
    fn first_non_stx_tile(&self, plan: &TilePlan) -> usize {
        #[cfg(test)]
        if self.emulate_unfixed_loop {
            return plan.stx.len();
        }
        plan.stx_tiles
    }
}

/// Opens a signed tree note with `verifier` and parses its tree head.
pub fn open_tree_note(verifier: &Verifier, msg: &[u8]) -> Result<(Tree, Note), Error> {
    let note = open(msg, &[verifier])?;
    let tree = parse_tree(&note.text)?;
    Ok((tree, note))
}

/// Checks that `older` is a prefix of `newer` (`older.n <= newer.n`), reading hashes of
/// `newer` from authenticated tiles (x/mod `Client.checkTrees`). Returns the tiles
/// authenticated on the way; a mismatch is [`Error::Fork`] with both notes.
///
/// Equal sizes need equal hashes. Otherwise the hash `newer` implies for `older.n`
/// records must be `older.hash`, and the consistency proof from `older` to `newer`
/// (read from the same tiles) must verify.
pub fn check_trees(
    older: &Tree,
    older_note: &[u8],
    newer: &Tree,
    newer_note: &[u8],
    height: u32,
    fetch: &mut TileFetcher<'_>,
) -> Result<Vec<AuthenticatedTile>, Error> {
    if older.n > newer.n {
        return Err(Error::InvalidInput("check_trees"));
    }
    let mut thr = TileHashReader::new(*newer, height, fetch);
    check_prefix(older, older_note, newer_note, &mut thr)?;
    Ok(thr.authenticated_tiles())
}

/// [`check_trees`] with a reader over the newer tree (`thr.tree()`).
fn check_prefix(
    older: &Tree,
    older_note: &[u8],
    newer_note: &[u8],
    thr: &mut TileHashReader<'_>,
) -> Result<(), Error> {
    let newer = *thr.tree();
    let fork = |proof: Vec<Hash>| {
        Error::Fork(Box::new(ForkEvidence {
            older: *older,
            older_note: older_note.to_vec(),
            newer,
            newer_note: newer_note.to_vec(),
            proof,
        }))
    };
    if older.n == newer.n {
        return if older.hash == newer.hash {
            Ok(())
        } else {
            Err(fork(Vec::new()))
        };
    }
    if older.n == 0 {
        let empty = empty_tree_hash();
        return if older.hash == empty {
            Ok(())
        } else {
            Err(fork(vec![empty]))
        };
    }
    let mut read = |ix: &[u64]| thr.read_hashes(ix);
    let implied = tree_hash(older.n, &mut read)?;
    if implied != older.hash {
        let mut proof = vec![implied];
        proof.extend(prove_tree(newer.n, older.n, &mut read).unwrap_or_default());
        return Err(fork(proof));
    }
    let proof = prove_tree(newer.n, older.n, &mut read)?;
    if check_tree(&proof, newer.n, &newer.hash, older.n, &older.hash).is_err() {
        let mut evidence = vec![implied];
        evidence.extend(proof);
        return Err(fork(evidence));
    }
    Ok(())
}

/// Checks a signed tree against the stored one, in whichever order their sizes dictate,
/// with `thr` reading the signed tree. Returns whether the tree is newer (larger) than
/// the stored one, and tiles authenticated against the stored tree (when the signed tree
/// is smaller; tiles of the signed tree stay in `thr`).
fn check_against_stored(
    stored: Option<(Tree, &[u8])>,
    note: &[u8],
    thr: &mut TileHashReader<'_>,
) -> Result<(bool, Vec<AuthenticatedTile>), Error> {
    let tree = *thr.tree();
    let Some((old, old_note)) = stored else {
        return Ok((true, Vec::new()));
    };
    if tree.n >= old.n {
        check_prefix(&old, old_note, note, thr)?;
        Ok((tree.n > old.n, Vec::new()))
    } else {
        // A smaller tree must be a prefix of the stored one (no rollback to a fork).
        let tiles = check_trees(&tree, note, &old, old_note, thr.height, &mut *thr.fetch)?;
        Ok((false, tiles))
    }
}

/// Appends `more` to `tiles`, skipping tiles already present.
fn merge_tiles(tiles: &mut Vec<AuthenticatedTile>, more: Vec<AuthenticatedTile>) {
    for (t, d) in more {
        if !tiles.iter().any(|(have, _)| *have == t) {
            tiles.push((t, d));
        }
    }
}

/// A tree note verified against the key and the stored timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTree {
    /// The signed tree.
    pub tree: Tree,
    /// The signed note bytes (store as the new latest when `newer_than_stored`).
    pub note: Vec<u8>,
    /// Whether the tree is larger than the stored one (or nothing was stored).
    pub newer_than_stored: bool,
    /// Tiles authenticated while checking, safe to cache.
    pub tiles: Vec<AuthenticatedTile>,
}

/// Verifies a signed tree note (e.g. an upstream `/latest`): signature by `verifier`,
/// then consistency with the stored tree (see [`check_trees`]).
pub fn verify_tree_note(
    verifier: &Verifier,
    stored: Option<(Tree, &[u8])>,
    note: &[u8],
    fetch: &mut TileFetcher<'_>,
) -> Result<VerifiedTree, Error> {
    let (tree, _) = open_tree_note(verifier, note)?;
    let mut thr = TileHashReader::new(tree, TILE_HEIGHT, fetch);
    let (newer_than_stored, mut tiles) = check_against_stored(stored, note, &mut thr)?;
    merge_tiles(&mut tiles, thr.authenticated_tiles());
    Ok(VerifiedTree {
        tree,
        note: note.to_vec(),
        newer_than_stored,
        tiles,
    })
}

/// A lookup answer verified against the key, the stored timeline and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLookup {
    /// Record id.
    pub id: u64,
    /// The authenticated record text; take go.sum lines only from here
    /// ([`lookup_lines`]).
    pub record_text: Vec<u8>,
    /// The signed tree the record was proven in.
    pub tree: Tree,
    /// The signed tree note bytes (store as the new latest when `newer_than_stored`).
    pub note: Vec<u8>,
    /// Whether the tree is larger than the stored one (or nothing was stored).
    pub newer_than_stored: bool,
    /// Tiles authenticated while checking, safe to cache.
    pub tiles: Vec<AuthenticatedTile>,
}

/// Verifies an upstream lookup answer `id\nrecord\n\nsigned tree note` before storing it
/// (x/mod `Client.Lookup` / `mergeLatest` / `checkRecord`), with tiles of height 8.
///
/// Steps: parse the framing; open the note with `verifier`; parse the tree; require
/// `id < tree.n`; check the tree against `stored` (the newest tree this server already
/// holds, with its note): larger must contain it, smaller must be its prefix, equal must
/// be identical, else [`Error::Fork`]; prove the record text is leaf `id` of the tree
/// with hashes from authenticated tiles, else [`Error::RecordMismatch`].
pub fn verify_lookup(
    verifier: &Verifier,
    stored: Option<(Tree, &[u8])>,
    body: &[u8],
    fetch: &mut TileFetcher<'_>,
) -> Result<VerifiedLookup, Error> {
    verify_lookup_with_height(
        verifier,
        stored,
        body,
        TILE_HEIGHT,
        fetch,
        &mut HeldTree::default(),
    )
}

/// [`verify_lookup`] reusing what earlier verifications of lookups signed with the same note
/// established (`held`: the note's signature, the tiles authenticated against its tree),
/// and adding to it what this one establishes.
pub fn verify_lookup_held(
    verifier: &Verifier,
    stored: Option<(Tree, &[u8])>,
    body: &[u8],
    fetch: &mut TileFetcher<'_>,
    held: &mut HeldTree,
) -> Result<VerifiedLookup, Error> {
    verify_lookup_with_height(verifier, stored, body, TILE_HEIGHT, fetch, held)
}

/// The newest signed tree an upstream's lookups were verified in, with the tiles
/// authenticated against it: a lookup signed with the same note, byte for byte, needs
/// neither the signature checked again nor those tiles fetched and authenticated again
/// (during a cold build every lookup of a burst is signed with the same note). A lookup
/// signed with another note replaces it. At most `MAX_HELD_TILES` tiles (8 KiB each).
///
/// Cloning one is cheap (the tiles' bytes are shared): a verification works on its own
/// copy, taken without waiting for the others, and gives back what it established with
/// [`HeldTree::absorb`].
#[derive(Debug, Default, Clone)]
pub struct HeldTree {
    note: Vec<u8>,
    tree: Option<Tree>,
    tiles: HashMap<Tile, Arc<[u8]>>,
}

/// Most tiles a [`HeldTree`] keeps (2 MiB of full tiles).
pub const MAX_HELD_TILES: usize = 256;

impl HeldTree {
    /// The tree of `note` when it is the held one.
    fn tree_of(&self, note: &[u8]) -> Option<Tree> {
        self.tree.filter(|_| self.note == note)
    }

    /// Holds `tiles`, authenticated against `tree`, signed in `note` (verified).
    fn hold(&mut self, tree: Tree, note: &[u8], tiles: &[AuthenticatedTile]) {
        self.switch_to(tree, note);
        for (t, d) in tiles {
            if !self.add(*t, || Arc::from(d.as_slice())) {
                break;
            }
        }
    }

    /// Holds tile `t` (its data made only when it is not held yet), unless `MAX_HELD_TILES`
    /// are: returns whether there was room.
    fn add(&mut self, t: Tile, data: impl FnOnce() -> Arc<[u8]>) -> bool {
        if self.tiles.len() >= MAX_HELD_TILES {
            return false;
        }
        self.tiles.entry(t).or_insert_with(data);
        true
    }

    /// Holds `tree` (signed in `note`), dropping tiles of any other tree.
    fn switch_to(&mut self, tree: Tree, note: &[u8]) {
        if self.tree_of(note).is_none() {
            self.note = note.to_vec();
            self.tree = Some(tree);
            self.tiles.clear();
        }
    }

    /// Takes in what a copy of this one (`clone`) established since: its tiles when it
    /// holds the same note; its note and tiles when it holds a larger tree (the newer
    /// one wins; an older copy changes nothing).
    pub fn absorb(&mut self, other: HeldTree) {
        let Some(tree) = other.tree else {
            return;
        };
        if self.tree_of(&other.note).is_none() && self.tree.is_some_and(|t| t.n > tree.n) {
            return;
        }
        self.switch_to(tree, &other.note);
        for (t, d) in other.tiles {
            if !self.add(t, || d) {
                break;
            }
        }
    }

    /// Tiles held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no tile is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// [`verify_lookup_held`] with a chosen tile height.
pub fn verify_lookup_with_height(
    verifier: &Verifier,
    stored: Option<(Tree, &[u8])>,
    body: &[u8],
    height: u32,
    fetch: &mut TileFetcher<'_>,
    held: &mut HeldTree,
) -> Result<VerifiedLookup, Error> {
    let (id, text, note) = parse_record(body)?;
    // The held note's signature was checked when it was first held.
    let known = held.tree_of(note);
    let tree = match known {
        Some(tree) => tree,
        None => open_tree_note(verifier, note)?.0,
    };
    if id >= tree.n {
        return Err(Error::RecordNotInTree { id, size: tree.n });
    }
    let mut thr = TileHashReader::new(tree, height, fetch);
    if known.is_some() {
        thr.trusted = held.tiles.clone();
    }
    let (newer_than_stored, mut tiles) = check_against_stored(stored, note, &mut thr)?;
    thr.prove_record_text(id, text)?;
    let own = thr.authenticated_tiles();
    held.hold(tree, note, &own);
    merge_tiles(&mut tiles, own);
    Ok(VerifiedLookup {
        id,
        record_text: text.to_vec(),
        tree,
        note: note.to_vec(),
        newer_than_stored,
        tiles,
    })
}

/// Proves that `record_text` is leaf `id` of the signed `tree`, reading hashes from tiles
/// of height 8 that are authenticated against the tree hash first. Returns the tiles
/// authenticated (what a client proving the same record in the same tree reads).
///
/// # Errors
/// `RecordNotInTree`, `RecordMismatch`, or the fetcher's and the tiles' errors.
pub fn prove_record_in(
    tree: Tree,
    id: u64,
    record_text: &[u8],
    fetch: &mut TileFetcher<'_>,
) -> Result<Vec<AuthenticatedTile>, Error> {
    if id >= tree.n {
        return Err(Error::RecordNotInTree { id, size: tree.n });
    }
    let mut thr = TileHashReader::new(tree, TILE_HEIGHT, fetch);
    thr.prove_record_text(id, record_text)?;
    Ok(thr.authenticated_tiles())
}

/// The go.sum lines for `path version` in an authenticated record text: lines starting
/// with `"<path> <version> "` (use version `vX/go.mod` for the go.mod line).
///
/// Only the record text is searched, never the rest of the lookup body: the note text is
/// signed but not logged, so lines there are unauthenticated (CVE-2026-56864; x/mod change
/// "ignore unrelated, unauthenticated hashes in Lookup").
pub fn lookup_lines(record_text: &[u8], path: &str, version: &str) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(record_text) else {
        return Vec::new();
    };
    let prefix = format!("{path} {version} ");
    text.lines()
        .filter(|line| line.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::note::tests::{TEST_SKEY, TEST_VKEY};
    use super::super::note::{sign, Signer};
    use super::super::tile::{format_data_tile, parse_tile_path, read_tile_data, tile_exists};
    use super::super::tlog::tests::MemLog;
    use super::super::tlog::{format_record, format_tree, hash_to_base64, slice_reader};
    use super::*;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    const R0: &str = "rsc.io/quote v1.5.2 h1:w5fcysjrx7yqtD/aO+QwRjYZOKnaM9Uh2b40tElTs3Y=\nrsc.io/quote v1.5.2/go.mod h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0=\nrsc.io/quote v1.5.2 h2:xyzzy\n";
    const R1: &str = "golang.org/x/text v0.0.0-20170915032832-14c0d48ead0c h1:qgOY6WgZOaTkIIMiVjBQcw93ERBE4m30iBm00nkL0i8=\ngolang.org/x/text v0.0.0-20170915032832-14c0d48ead0c/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\n";
    const R2: &str = "rsc.io/sampler v1.3.0 h1:7uVkIFmeBqHfdjD+gZwtXXI+RODJ2Wc4O7MPEh/QiW4=\nrsc.io/sampler v1.3.0/go.mod h1:T1hPZKmBbMNahiBKFy5HrXp6adAjACjK9JXDnKaTXpA=\n";
    const R3: &str = "rsc.io/Quote v1.5.2 h1:uppercase!=\n";

    /// An upstream database: a log and its signer.
    #[derive(Clone)]
    struct Upstream {
        log: MemLog,
        signer: Signer,
    }

    impl Upstream {
        fn new(records: &[&str]) -> Upstream {
            let mut log = MemLog::default();
            for r in records {
                log.append(r.as_bytes());
            }
            Upstream {
                log,
                signer: Signer::parse(TEST_SKEY).unwrap(),
            }
        }

        fn note(&self, n: u64) -> Vec<u8> {
            let text = format_tree(&self.log.tree_at(n));
            sign(&text, &[&self.signer]).unwrap().into_bytes()
        }

        fn body(&self, id: u64, n: u64) -> Vec<u8> {
            let mut b = format_record(id, &self.log.records[id as usize]).unwrap();
            b.extend(self.note(n));
            b
        }

        fn tile(&self, t: &Tile) -> Result<Vec<u8>, Error> {
            if !tile_exists(t, self.log.records.len() as u64) {
                return Err(Error::External(format!("404 {}", t.path())));
            }
            read_tile_data(t, &mut slice_reader(&self.log.hashes))
        }

        fn fetch(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
            tiles.iter().map(|t| self.tile(t)).collect()
        }

        fn stored(&self, n: u64) -> (Tree, Vec<u8>) {
            (self.log.tree_at(n), self.note(n))
        }
    }

    fn verifier() -> Verifier {
        Verifier::parse(TEST_VKEY).unwrap()
    }

    fn b64(h: &Hash) -> String {
        hash_to_base64(h)
    }

    fn sha_b64(data: &[u8]) -> String {
        super::super::B64.encode(Sha256::digest(data))
    }

    fn v6() -> Upstream {
        Upstream::new(&[R0, R1, R2, R3])
    }

    // V6: a whole log (x/mod client_test.go records).
    #[test]
    fn v6_stored_and_tree_hashes() {
        let up = v6();
        let want = [
            "WjvL/HG+LcMcRc63kFcpeP289Y+SW6L8uHapnVU30FU=",
            "OVycKzbYUm+7AUZXER7fMrIWBUp702IqutYyhFQ1Hng=",
            "wsqcgX5rABDmI7Y6Jhe+ltsmLPNQB4CCfpqFJVwMGNk=",
            "o8m5rrlnnRXbhEBP9X8zkP2dzqefc98mKqSMf7t1ig8=",
            "zLPWUzQWCOqW03+cAo/qkz9hEzSO1SF31un1iRU1obg=",
            "hyNEqD1wy2O+e+CUhJG6qPbYao8TGdpesLBP5EQFUY4=",
            "/7Aw5jVSMM9sFjQhaMg+iiDYPMk6decH7QLOGrL9Lx0=",
        ];
        let got: Vec<String> = up.log.hashes.iter().map(b64).collect();
        assert_eq!(got, want);
        assert_eq!(up.log.tree_at(1).hash, up.log.hashes[0]);
        assert_eq!(up.log.tree_at(2).hash, up.log.hashes[2]);
        assert_eq!(
            b64(&up.log.tree_at(3).hash),
            "BqP+0lgg2eJ2ftkPcKT+ltQjkVMh3THoMw60om6MwKo="
        );
        assert_eq!(up.log.tree_at(4).hash, up.log.hashes[6]);
    }

    #[test]
    fn v6_note_and_lookup_body() {
        let up = v6();
        let note = String::from_utf8(up.note(4)).unwrap();
        assert!(note.starts_with(
            "go.sum database tree\n4\n/7Aw5jVSMM9sFjQhaMg+iiDYPMk6decH7QLOGrL9Lx0=\n\n"
        ));
        assert!(note.ends_with("\u{2014} localhost.localdev/sumdb AAAMZ4p0U2imiESToQIuhbLPz+DLot/i59pjBQtpE0iN3VifjzXBA1i4ceNI6z64AV0lEbtUQiP1e3DmYerREy4hMgs=\n"));
        let body = up.body(2, 4);
        assert_eq!(body, format!("2\n{R2}\n{note}").into_bytes());
        let got = verify_lookup(&verifier(), None, &body, &mut |t: &[Tile]| up.fetch(t)).unwrap();
        assert_eq!(got.id, 2);
        assert_eq!(got.record_text, R2.as_bytes());
        assert!(got.newer_than_stored);
        assert_eq!(got.tree, up.log.tree());
        let paths: Vec<String> = got.tiles.iter().map(|(t, _)| t.path()).collect();
        assert_eq!(paths, ["tile/8/0/000.p/4"]);
    }

    #[test]
    fn prove_record_in_proves_only_leaves_of_the_tree_with_their_text() {
        let up = v6();
        let tree = up.log.tree_at(4);
        let mut fetch = |t: &[Tile]| up.fetch(t);
        let tiles = prove_record_in(tree, 3, R3.as_bytes(), &mut fetch).unwrap();
        let paths: Vec<String> = tiles.iter().map(|(t, _)| t.path()).collect();
        assert_eq!(paths, ["tile/8/0/000.p/4"]);
        assert_eq!(
            prove_record_in(tree, 4, R3.as_bytes(), &mut fetch),
            Err(Error::RecordNotInTree { id: 4, size: 4 })
        );
        assert_eq!(
            prove_record_in(tree, 2, R3.as_bytes(), &mut fetch),
            Err(Error::RecordMismatch)
        );
    }

    #[test]
    fn check_trees_takes_an_older_tree_no_larger_than_the_newer() {
        let up = v6();
        let (t3, t4) = (up.log.tree_at(3), up.log.tree_at(4));
        let (n3, n4) = (up.note(3), up.note(4));
        let mut fetch = |t: &[Tile]| up.fetch(t);
        assert!(check_trees(&t3, &n3, &t4, &n4, 8, &mut fetch).is_ok());
        assert!(check_trees(&t4, &n4, &t4, &n4, 8, &mut fetch).is_ok());
        assert_eq!(
            check_trees(&t4, &n4, &t3, &n3, 8, &mut fetch),
            Err(Error::InvalidInput("check_trees"))
        );
    }

    #[test]
    fn v6_tiles() {
        let up = v6();
        let t = parse_tile_path("tile/8/0/000.p/4").unwrap();
        let data = up.tile(&t).unwrap();
        assert_eq!(data.len(), 128);
        let idx = [0usize, 1, 3, 4];
        assert_eq!(
            data,
            idx.iter()
                .flat_map(|&i| up.log.hashes[i])
                .collect::<Vec<u8>>()
        );
        assert_eq!(
            sha_b64(&data),
            "qploZkK8qbFLzhpVm76d4Tv3kC7yEbk5y81lF+Xyj8E="
        );
        let records: Vec<&[u8]> = [R0, R1, R2, R3].iter().map(|r| r.as_bytes()).collect();
        let data_tile = format_data_tile(&records);
        assert_eq!(parse_tile_path("tile/8/data/000.p/4").unwrap().w, 4);
        assert_eq!(data_tile.len(), 567);
        assert_eq!(
            sha_b64(&data_tile),
            "cH+VK7Kl4zfQPEEYF6sK+OdVAeouJksxjW7ygf1ZHTI="
        );
    }

    const PKG: [&str; 3] = [
        "rsc.io/pkg1 v1.5.2 h1:hash!=\n",
        "rsc.io/pkg1 v1.5.3 h1:hash!=\n",
        "rsc.io/pkg1 v1.5.4 h1:hash!=\n",
    ];

    /// Tree 5 of log A (R0..R3 + pkg1 v1.5.2) and tree 6 of fork B (+ v1.5.3, v1.5.4).
    fn fork_logs() -> (Upstream, Upstream) {
        let a = Upstream::new(&[R0, R1, R2, R3, PKG[0]]);
        let b = Upstream::new(&[R0, R1, R2, R3, PKG[1], PKG[2]]);
        (a, b)
    }

    #[test]
    fn v6_fork_vectors() {
        let (a, b) = fork_logs();
        assert_eq!(
            b64(&a.log.tree().hash),
            "nWzN20+pwMt62p7jbv1/NlN95ePTlHijabv5zO/s36w="
        );
        let a_note = String::from_utf8(a.note(5)).unwrap();
        assert!(a_note.ends_with("\u{2014} localhost.localdev/sumdb AAAMZ5/2FVAdMH58kmnz/0h299pwyskEbzDzoa2/YaPdhvLya4YWDFQQxu2TQb5GpwAH4NdWnTwuhILafisyf3CNbgg=\n"));
        assert_eq!(
            b64(&b.log.tree().hash),
            "wc4SkQt52o5W2nQ8To2ARs+mWuUJjss+sdleoiqxMmM="
        );
        let b_note = String::from_utf8(b.note(6)).unwrap();
        assert!(b_note.ends_with("\u{2014} localhost.localdev/sumdb AAAMZ6oRNswlEZ6ZZhxrCvgl1MBy+nusq4JU+TG6Fe2NihWLqOzb+y2c2kzRLoCr4tvw9o36ucQEnhc20e4nA4Qc/wc=\n"));
    }

    /// x/mod TestClientFork's "proof of misbehavior" for trees A5 and B6.
    const FORK_PROOF: [&str; 4] = [
        "T7i+H/8ER4nXOiw4Bj0koZOkGjkxoNvlI34GpvhHhQg=",
        "Nsuejv72de9hYNM5bqFv8rv3gm3zJQwv/DT/WNbLDLA=",
        "mOmqqZ1aI/lzS94oq/JSbj7pD8Rv9S+xDyi12BtVSHo=",
        "/7Aw5jVSMM9sFjQhaMg+iiDYPMk6decH7QLOGrL9Lx0=",
    ];

    fn expect_fork(result: Result<VerifiedLookup, Error>) -> ForkEvidence {
        match result {
            Err(Error::Fork(ev)) => *ev,
            other => panic!("want fork, got {other:?}"),
        }
    }

    #[test]
    fn fork_larger_tree_not_containing_stored_is_refused() {
        let (a, b) = fork_logs();
        let (a5, a5_note) = a.stored(5);
        let body = b.body(5, 6);
        let ev = expect_fork(verify_lookup(
            &verifier(),
            Some((a5, &a5_note)),
            &body,
            &mut |t: &[Tile]| b.fetch(t),
        ));
        assert_eq!(ev.proof.iter().map(b64).collect::<Vec<_>>(), FORK_PROOF);
        assert_eq!((ev.older, ev.newer), (a5, b.log.tree()));
        let msg = Error::Fork(Box::new(ev)).to_string();
        for want in [
            "SECURITY ERROR\ngo.sum database server misbehavior detected!\n",
            "old database:\n\tgo.sum database tree\n\t5\n",
            "\u{2014} localhost.localdev/sumdb AAAMZ5/2FVAd",
            "new database:\n\tgo.sum database tree\n\t6\n",
            "\u{2014} localhost.localdev/sumdb AAAMZ6oRNswl",
            "proof of misbehavior:\n\tT7i+H/8ER4nXOiw4Bj0k",
        ] {
            assert!(msg.contains(want), "{want:?} not in:\n{msg}");
        }
    }

    #[test]
    fn rollback_to_smaller_forked_tree_is_refused() {
        // Stored B6; upstream now answers with A5 (x/mod TestClientFork's direction).
        let (a, b) = fork_logs();
        let (b6, b6_note) = b.stored(6);
        let body = a.body(4, 5);
        let ev = expect_fork(verify_lookup(
            &verifier(),
            Some((b6, &b6_note)),
            &body,
            &mut |t: &[Tile]| b.fetch(t),
        ));
        assert_eq!(ev.proof.iter().map(b64).collect::<Vec<_>>(), FORK_PROOF);
        assert_eq!(ev.older_note, a.note(5));
        assert_eq!(ev.newer_note, b6_note);
    }

    #[test]
    fn smaller_prefix_tree_is_accepted_but_not_newer() {
        let (_, b) = fork_logs();
        let (b6, b6_note) = b.stored(6);
        let body = b.body(2, 4);
        let got = verify_lookup(
            &verifier(),
            Some((b6, &b6_note)),
            &body,
            &mut |t: &[Tile]| b.fetch(t),
        )
        .unwrap();
        assert!(!got.newer_than_stored);
        assert_eq!(
            lookup_lines(&got.record_text, "rsc.io/sampler", "v1.3.0").len(),
            1
        );
    }

    #[test]
    fn same_size_fork_is_refused() {
        let a = Upstream::new(&[R0, R1, R2, R3, PKG[0]]);
        let b = Upstream::new(&[R0, R1, R2, R3, PKG[1]]);
        let (a5, a5_note) = a.stored(5);
        let ev = expect_fork(verify_lookup(
            &verifier(),
            Some((a5, &a5_note)),
            &b.body(4, 5),
            &mut |t: &[Tile]| b.fetch(t),
        ));
        assert!(ev.proof.is_empty());
        assert_eq!(ev.newer_note, b.note(5));
        // The identical tree is fine.
        let same = verify_lookup(
            &verifier(),
            Some((a5, &a5_note)),
            &a.body(4, 5),
            &mut |t: &[Tile]| a.fetch(t),
        )
        .unwrap();
        assert!(!same.newer_than_stored);
    }

    #[test]
    fn growth_consistent_with_stored_is_accepted() {
        let mut records = vec![R0, R1, R2, R3];
        let extra: Vec<String> = (0..600)
            .map(|i| format!("example.com/m{i} v1.0.0 h1:x=\n"))
            .collect();
        records.extend(extra.iter().map(String::as_str));
        let up = Upstream::new(&records);
        for (old, new, id) in [
            (1, 4, 3),
            (4, 300, 299),
            (300, 604, 2),
            (257, 259, 258),
            (259, 604, 400),
        ] {
            let (t, note) = up.stored(old);
            let got = verify_lookup(
                &verifier(),
                Some((t, &note)),
                &up.body(id, new),
                &mut |t: &[Tile]| up.fetch(t),
            )
            .unwrap();
            assert!(got.newer_than_stored);
            assert_eq!(got.tree.n, new);
            for (tile, data) in &got.tiles {
                assert_eq!(&up.tile(tile).unwrap(), data);
            }
        }
    }

    #[test]
    fn each_tile_is_fetched_once_per_lookup() {
        let records: Vec<String> = (0..700)
            .map(|i| format!("example.com/m{i} v1.0.0 h1:x=\n"))
            .collect();
        let up = Upstream::new(&records.iter().map(String::as_str).collect::<Vec<_>>());
        let (t, note) = up.stored(300);
        let mut requested = Vec::new();
        let got = verify_lookup(
            &verifier(),
            Some((t, &note)),
            &up.body(650, 700),
            &mut |tiles: &[Tile]| {
                requested.extend_from_slice(tiles);
                up.fetch(tiles)
            },
        )
        .unwrap();
        let mut unique = requested.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(requested.len(), unique.len(), "{requested:?}");
        assert_eq!(got.tiles.len(), unique.len());
    }

    #[test]
    fn bad_signatures_are_refused() {
        let up = v6();
        let body = up.body(2, 4);
        let text = String::from_utf8(body.clone()).unwrap();
        // Tampered tree head under a valid-looking signature line.
        let tampered = text.replace("\n4\n/7Aw5", "\n3\n/7Aw5");
        let err = verify_lookup(
            &verifier(),
            None,
            tampered.as_bytes(),
            &mut |t: &[Tile]| up.fetch(t),
        );
        assert!(
            matches!(err, Err(Error::InvalidSignature { .. })),
            "{err:?}"
        );
        // Signed by another key under the same name.
        let other = Signer::from_seed("localhost.localdev/sumdb", [7; 32]).unwrap();
        let note = sign(&format_tree(&up.log.tree()), &[&other]).unwrap();
        let mut forged = format_record(2, R2.as_bytes()).unwrap();
        forged.extend(note.as_bytes());
        let err = verify_lookup(&verifier(), None, &forged, &mut |t: &[Tile]| up.fetch(t));
        assert!(matches!(err, Err(Error::UnverifiedNote(_))), "{err:?}");
    }

    #[test]
    fn wrong_record_or_id_is_refused() {
        let up = v6();
        let note = up.note(4);
        let mut swapped = format_record(2, R3.as_bytes()).unwrap();
        swapped.extend(&note);
        let err = verify_lookup(&verifier(), None, &swapped, &mut |t: &[Tile]| up.fetch(t));
        assert_eq!(err, Err(Error::RecordMismatch));
        let mut outside = format_record(4, R3.as_bytes()).unwrap();
        outside.extend(&note);
        let err = verify_lookup(&verifier(), None, &outside, &mut |t: &[Tile]| up.fetch(t));
        assert_eq!(err, Err(Error::RecordNotInTree { id: 4, size: 4 }));
        let err = verify_lookup(
            &verifier(),
            None,
            b"2\nno blank line",
            &mut |t: &[Tile]| up.fetch(t),
        );
        assert_eq!(err, Err(Error::MalformedRecord));
    }

    #[test]
    fn corrupted_tiles_are_refused() {
        // x/mod TestClientBadTiles: flipped bits in every tile.
        let up = Upstream::new(&[R0, R1, R2, R3, PKG[0], PKG[1]]);
        let (t1, n1) = up.stored(1);
        let mut flip = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, Error> {
            let mut data = up.fetch(tiles)?;
            data.iter_mut().flatten().for_each(|b| *b ^= 0x80);
            Ok(data)
        };
        let err = verify_lookup(&verifier(), Some((t1, &n1)), &up.body(2, 6), &mut flip);
        assert_eq!(err, Err(Error::InconsistentTile));
        // Wrong count and wrong length.
        let mut none = |_: &[Tile]| -> Result<Vec<Vec<u8>>, Error> { Ok(vec![]) };
        let err = verify_lookup(&verifier(), None, &up.body(2, 6), &mut none);
        assert!(matches!(err, Err(Error::BadTileData(_))), "{err:?}");
        let mut short = |tiles: &[Tile]| -> Result<Vec<Vec<u8>>, Error> {
            Ok(tiles.iter().map(|_| vec![0; 32]).collect())
        };
        let err = verify_lookup(&verifier(), None, &up.body(2, 6), &mut short);
        assert!(matches!(err, Err(Error::BadTileData(_))), "{err:?}");
        let mut failing =
            |_: &[Tile]| -> Result<Vec<Vec<u8>>, Error> { Err(Error::External("down".into())) };
        let err = verify_lookup(&verifier(), None, &up.body(2, 6), &mut failing);
        assert_eq!(err, Err(Error::External("down".into())));
    }

    /// CVE-2026-56864: go.sum lines come only from the authenticated record text.
    #[test]
    fn cve_2026_56864_unlogged_lines_are_never_returned() {
        let up = v6();
        let evil = "rsc.io/sampler v1.3.0 h1:FORGEDFORGEDFORGEDFORGEDFORGEDFORGEDFORGE=";
        // The key holder signs a tree head carrying an extra, unlogged line
        // (parse_tree ignores lines after the third).
        let text = format!("{}{evil}\n", format_tree(&up.log.tree()));
        let note = sign(&text, &[&up.signer]).unwrap();
        let mut body = format_record(2, R2.as_bytes()).unwrap();
        body.extend(note.as_bytes());
        // The unfixed client scanned the whole body and would have found it:
        let naive: Vec<&str> = std::str::from_utf8(&body)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("rsc.io/sampler v1.3.0 "))
            .collect();
        assert!(naive.contains(&evil));

        let got = verify_lookup(&verifier(), None, &body, &mut |t: &[Tile]| up.fetch(t)).unwrap();
        let lines = lookup_lines(&got.record_text, "rsc.io/sampler", "v1.3.0");
        assert_eq!(
            lines,
            ["rsc.io/sampler v1.3.0 h1:7uVkIFmeBqHfdjD+gZwtXXI+RODJ2Wc4O7MPEh/QiW4="]
        );
        let gomod = lookup_lines(&got.record_text, "rsc.io/sampler", "v1.3.0/go.mod");
        assert_eq!(
            gomod,
            ["rsc.io/sampler v1.3.0/go.mod h1:T1hPZKmBbMNahiBKFy5HrXp6adAjACjK9JXDnKaTXpA="]
        );

        // Extra text between the record and the note breaks the note: refused.
        let good = up.body(2, 4);
        let split = format_record(2, R2.as_bytes()).unwrap().len();
        let mut injected = good[..split].to_vec();
        injected.extend(format!("{evil}\n").as_bytes());
        injected.extend(&good[split..]);
        let err = verify_lookup(&verifier(), None, &injected, &mut |t: &[Tile]| up.fetch(t));
        assert!(err.is_err());

        // An authenticated record of another module yields no lines for this one.
        assert!(lookup_lines(&got.record_text, "rsc.io/quote", "v1.5.2").is_empty());
        let quote = lookup_lines(R0.as_bytes(), "rsc.io/quote", "v1.5.2");
        assert_eq!(quote.len(), 2);
    }

    /// Logs A (genuine, 259 records) and B (fork: record 4 differs), tree B5 stored, and a
    /// fetcher that serves A's tiles but tile/8/0/000 forged to carry B's first 5 leaves.
    fn cve_56865_setup() -> (Upstream, Upstream, Vec<u8>) {
        let a_records: Vec<String> = (0..259)
            .map(|i| format!("example.com/m{i} v1.0.0 h1:a=\n"))
            .collect();
        let mut b_records = a_records[..5].to_vec();
        b_records[4] = "example.com/evil v1.0.0 h1:b=\n".to_string();
        let a = Upstream::new(&a_records.iter().map(String::as_str).collect::<Vec<_>>());
        let b = Upstream::new(&b_records.iter().map(String::as_str).collect::<Vec<_>>());
        let full0 = Tile {
            h: 8,
            l: 0,
            n: 0,
            w: 256,
        };
        let mut forged = a.tile(&full0).unwrap();
        forged[4 * 32..5 * 32].copy_from_slice(&b.log.hashes[stored_hash_index(0, 4) as usize]);
        (a, b, forged)
    }

    fn forged_fetch<'a>(
        a: &'a Upstream,
        forged: &'a [u8],
    ) -> impl FnMut(&[Tile]) -> Result<Vec<Vec<u8>>, Error> + 'a {
        move |tiles: &[Tile]| {
            tiles
                .iter()
                .map(|t| {
                    if *t
                        == (Tile {
                            h: 8,
                            l: 0,
                            n: 0,
                            w: 256,
                        })
                    {
                        Ok(forged.to_vec())
                    } else {
                        a.tile(t)
                    }
                })
                .collect()
        }
    }

    /// CVE-2026-56865: a forged non-stx tile placed where the unfixed loop never looks.
    #[test]
    fn cve_2026_56865_forged_tile_after_duplicate_stx_tiles_is_refused() {
        let (a, b, forged) = cve_56865_setup();
        let a259 = a.log.tree();
        let b5 = b.log.tree();
        assert_ne!(a.log.tree_at(5).hash, b5.hash);

        // The scenario has duplicate stx tiles: 3 subtree roots in 2 distinct tiles.
        let stx = sub_tree_index(0, 259);
        let mut stx_tiles: Vec<Tile> = stx
            .iter()
            .map(|&x| tile_parent(&tile_for_index(8, x), 0, 259).unwrap())
            .collect();
        stx_tiles.dedup();
        assert_eq!((stx.len(), stx_tiles.len()), (3, 2));

        // Unfixed loop: the forged tile is skipped and the fork is hidden.
        let mut fetch = forged_fetch(&a, &forged);
        let mut thr = TileHashReader::new(a259, 8, &mut fetch);
        thr.emulate_unfixed_loop = true;
        let hidden = tree_hash(5, &mut |ix: &[u64]| thr.read_hashes(ix)).unwrap();
        assert_eq!(
            hidden, b5.hash,
            "the forged tile must fool the unfixed loop"
        );

        // Fixed loop: the forged tile is checked against its parent and refused.
        let mut fetch = forged_fetch(&a, &forged);
        let mut thr = TileHashReader::new(a259, 8, &mut fetch);
        let err = tree_hash(5, &mut |ix: &[u64]| thr.read_hashes(ix));
        assert_eq!(err, Err(Error::InconsistentTile));
        assert!(thr.authenticated_tiles().is_empty());

        // End to end: stored B5, upstream answers with A259.
        let b5_note = b.note(5);
        let mut fetch = forged_fetch(&a, &forged);
        let err = verify_lookup(
            &verifier(),
            Some((b5, &b5_note)),
            &a.body(258, 259),
            &mut fetch,
        );
        assert_eq!(err, Err(Error::InconsistentTile));
        // With honest tiles the fork is reported as such.
        let err = verify_lookup(
            &verifier(),
            Some((b5, &b5_note)),
            &a.body(258, 259),
            &mut |t: &[Tile]| a.fetch(t),
        );
        assert!(matches!(err, Err(Error::Fork(_))), "{err:?}");
    }

    /// Tile-based reading returns exactly the stored hashes, for many tree sizes and
    /// heights, including a tree just past 65,536 records.
    #[test]
    fn tile_reading_equals_direct_reading() {
        let mut log = MemLog::default();
        let n_max = 65_536 + 300;
        for i in 0..n_max {
            log.append_leaf_hash(record_hash(&(i as u64).to_be_bytes()));
        }
        let up = Upstream {
            log,
            signer: Signer::parse(TEST_SKEY).unwrap(),
        };
        let mut rng = 0x2545f4914f6cdd1du64;
        let mut next = move |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        for (h, n) in [
            (8, 1),
            (8, 5),
            (8, 256),
            (8, 259),
            (8, 513),
            (2, 37),
            (3, 300),
            (8, 65_536),
            (8, 65_836),
            (1, 1000),
        ] {
            let tree = up.log.tree_at(n);
            let limit = stored_hash_index(0, n);
            let mut fetch = |t: &[Tile]| up.fetch(t);
            let mut thr = TileHashReader::new(tree, h, &mut fetch);
            for _ in 0..20 {
                let mut ix: Vec<u64> = (0..1 + next(6)).map(|_| next(limit)).collect();
                ix.sort_unstable();
                let direct: Vec<Hash> = ix.iter().map(|&i| up.log.hashes[i as usize]).collect();
                assert_eq!(thr.read_hashes(&ix).unwrap(), direct, "h={h} n={n} {ix:?}");
            }
            assert_eq!(
                thr.read_hashes(&[limit]),
                Err(Error::IndexNotInTree {
                    index: limit,
                    size: n
                })
            );
            let mut read = |ix: &[u64]| thr.read_hashes(ix);
            assert_eq!(tree_hash(n, &mut read).unwrap(), tree.hash);
            let id = next(n);
            let p = prove_record(n, id, &mut read).unwrap();
            check_record(&p, n, &tree.hash, id, &record_hash(&id.to_be_bytes())).unwrap();
        }
    }

    #[test]
    fn verify_tree_note_timeline() {
        let (a, b) = fork_logs();
        let none =
            verify_tree_note(&verifier(), None, &b.note(6), &mut |t: &[Tile]| b.fetch(t)).unwrap();
        assert!(none.newer_than_stored);
        let (b4, b4_note) = b.stored(4);
        let grown = verify_tree_note(
            &verifier(),
            Some((b4, &b4_note)),
            &b.note(6),
            &mut |t: &[Tile]| b.fetch(t),
        )
        .unwrap();
        assert!(grown.newer_than_stored && !grown.tiles.is_empty());
        let (b6, b6_note) = b.stored(6);
        let err = verify_tree_note(
            &verifier(),
            Some((b6, &b6_note)),
            &a.note(5),
            &mut |t: &[Tile]| b.fetch(t),
        );
        assert!(matches!(err, Err(Error::Fork(_))));
        // A stored empty tree must really be empty.
        let bogus_empty = Tree {
            n: 0,
            hash: [1; 32],
        };
        let err = verify_tree_note(
            &verifier(),
            Some((bogus_empty, b"x")),
            &b.note(6),
            &mut |t: &[Tile]| b.fetch(t),
        );
        assert!(matches!(err, Err(Error::Fork(_))));
    }

    /// A log of `n` records, `m/x<i> v1.0.0 h1:...`.
    fn long_log(n: usize) -> Upstream {
        let records: Vec<String> = (0..n)
            .map(|i| format!("m/x{i} v1.0.0 h1:{i}=\nm/x{i} v1.0.0/go.mod h1:{i}=\n"))
            .collect();
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        Upstream::new(&refs)
    }

    /// `up.fetch`, counting the tiles asked for.
    fn counting(
        up: &Upstream,
        asked: &std::cell::Cell<usize>,
        tiles: &[Tile],
    ) -> Result<Vec<Vec<u8>>, Error> {
        asked.set(asked.get() + tiles.len());
        up.fetch(tiles)
    }

    #[test]
    fn a_held_tree_spares_the_signature_and_the_tiles_already_authenticated() {
        let up = long_log(600);
        let n = 600;
        let asked = std::cell::Cell::new(0);
        let mut held = HeldTree::default();
        let verify = |id: u64, held: &mut HeldTree| {
            asked.set(0);
            let got = verify_lookup_held(
                &verifier(),
                None,
                &up.body(id, n),
                &mut |t: &[Tile]| counting(&up, &asked, t),
                held,
            )
            .unwrap();
            // The same answer as a verification from nothing.
            let fresh = verify_lookup(&verifier(), None, &up.body(id, n), &mut |t: &[Tile]| {
                up.fetch(t)
            })
            .unwrap();
            assert_eq!(got, fresh, "record {id}");
            asked.get()
        };
        // Record 5: the tiles of the tree hash (level 1's partial tile, level 0's last)
        // and its own full tile.
        assert_eq!(verify(5, &mut held), 3);
        assert_eq!(held.len(), 3);
        // Another record of that tile: nothing fetched.
        assert_eq!(verify(7, &mut held), 0);
        // A record of another full tile: that tile alone.
        assert_eq!(verify(300, &mut held), 1);
        assert_eq!(held.len(), 4);
        // Without the held tree, all three again.
        assert_eq!(verify(300, &mut HeldTree::default()), 3);
    }

    #[test]
    fn a_held_tree_still_proves_every_record_and_checks_every_new_tile() {
        let up = long_log(600);
        let mut held = HeldTree::default();
        let mut fetch = |t: &[Tile]| up.fetch(t);
        verify_lookup_held(&verifier(), None, &up.body(5, 600), &mut fetch, &mut held).unwrap();
        // A record text that is not leaf 7, signed with the held note.
        let mut forged = format_record(7, up.log.records[8].as_slice()).unwrap();
        forged.extend(up.note(600));
        let err = verify_lookup_held(&verifier(), None, &forged, &mut fetch, &mut held);
        assert_eq!(err, Err(Error::RecordMismatch));
        // A tile not held yet, altered by the upstream: refused.
        let mut bad_tile = |tiles: &[Tile]| {
            let mut data = up.fetch(tiles)?;
            for d in &mut data {
                d[0] ^= 1;
            }
            Ok(data)
        };
        let err = verify_lookup_held(
            &verifier(),
            None,
            &up.body(300, 600),
            &mut bad_tile,
            &mut held,
        );
        assert_eq!(err, Err(Error::InconsistentTile));
        // A note that differs from the held one in a byte of its signature: checked, refused.
        let mut body = up.body(7, 600);
        let at = body.len() - 20;
        body[at] ^= 1;
        let err = verify_lookup_held(&verifier(), None, &body, &mut fetch, &mut held);
        assert!(err.is_err(), "{err:?}");
        assert_eq!(held.len(), 3, "nothing held from failed verifications");
    }

    #[test]
    fn a_lookup_signed_with_another_note_replaces_the_held_tree() {
        let before = long_log(600);
        let mut up = before.clone();
        up.log
            .append(b"m/y v1.0.0 h1:y=\nm/y v1.0.0/go.mod h1:y=\n");
        let (old, old_note) = before.stored(600);
        let mut held = HeldTree::default();
        // Verifies `body` with the tiles of `log`, giving the answer and the tiles asked for.
        let mut verify = |log: &Upstream, body: &[u8], stored: Option<(Tree, &[u8])>| {
            let asked = std::cell::Cell::new(0);
            let got = verify_lookup_held(
                &verifier(),
                stored,
                body,
                &mut |t: &[Tile]| counting(log, &asked, t),
                &mut held,
            )
            .unwrap();
            (got, asked.get())
        };
        verify(&before, &before.body(5, 600), None);
        // Signed with the grown tree's note: its tree-hash tiles and record 5's full tile
        // again (what was held belonged to the old tree).
        let (got, asked) = verify(&up, &up.body(5, 601), Some((old, &old_note)));
        assert!(got.newer_than_stored);
        assert_eq!(asked, 3, "the new tree's tiles are fetched");
        // Now the new tree is held: record 6, of the same tiles, costs nothing.
        let (_, asked) = verify(&up, &up.body(6, 601), Some((old, &old_note)));
        assert_eq!(asked, 0);
    }

    #[test]
    fn copies_of_a_held_tree_give_back_what_they_established() {
        let before = long_log(600);
        let mut grown = before.clone();
        grown
            .log
            .append(b"m/y v1.0.0 h1:y=\nm/y v1.0.0/go.mod h1:y=\n");
        let verify = |up: &Upstream, id: u64, n: u64, held: &mut HeldTree| {
            let asked = std::cell::Cell::new(0);
            verify_lookup_held(
                &verifier(),
                None,
                &up.body(id, n),
                &mut |t: &[Tile]| counting(up, &asked, t),
                held,
            )
            .unwrap();
            asked.get()
        };
        let mut shared = HeldTree::default();
        // Two copies verify records of different full tiles of the same note at once.
        let (mut a, mut b) = (shared.clone(), shared.clone());
        assert_eq!(verify(&before, 5, 600, &mut a), 3);
        assert_eq!(verify(&before, 300, 600, &mut b), 3);
        shared.absorb(a);
        shared.absorb(b);
        assert_eq!(shared.len(), 4, "both copies' tiles, the shared ones once");
        let mut c = shared.clone();
        assert_eq!(
            verify(&before, 301, 600, &mut c),
            0,
            "nothing left to fetch"
        );
        // A copy that moved to a larger tree replaces the older one's tiles...
        let mut newer = shared.clone();
        assert_eq!(verify(&grown, 5, 601, &mut newer), 3);
        shared.absorb(newer);
        assert_eq!(shared.len(), 3);
        let mut d = shared.clone();
        assert_eq!(verify(&grown, 6, 601, &mut d), 0);
        // ... and a copy still at the older tree changes nothing, nor does an empty one.
        let mut stale = HeldTree::default();
        assert_eq!(verify(&before, 300, 600, &mut stale), 3);
        shared.absorb(stale);
        shared.absorb(HeldTree::default());
        let mut e = shared.clone();
        assert_eq!(
            verify(&grown, 6, 601, &mut e),
            0,
            "the larger tree is still held"
        );
        assert_eq!(shared.len(), 3);
        // A copy that verified the same tree signed otherwise (one more signature line, of
        // a key nobody checks) is as new: its note is the one held from then on.
        let mut cosigned = grown.note(601);
        cosigned.extend_from_slice(
            format!("\u{2014} other.example/witness {}\n", "A".repeat(92)).as_bytes(),
        );
        let verify_cosigned = |id: u64, held: &mut HeldTree| {
            let mut body = format_record(id, &grown.log.records[id as usize]).unwrap();
            body.extend_from_slice(&cosigned);
            let asked = std::cell::Cell::new(0);
            verify_lookup_held(
                &verifier(),
                None,
                &body,
                &mut |t: &[Tile]| counting(&grown, &asked, t),
                held,
            )
            .unwrap();
            asked.get()
        };
        let mut f = HeldTree::default();
        assert_eq!(verify_cosigned(5, &mut f), 3);
        shared.absorb(f);
        let mut g = shared.clone();
        assert_eq!(verify_cosigned(6, &mut g), 0, "the cosigned note is held");
    }

    #[test]
    fn a_held_tree_keeps_at_most_its_share_of_tiles() {
        // Tiles of height 2 (four hashes): 1,100 records make 275 tiles at level 0.
        let up = long_log(1100);
        let mut held = HeldTree::default();
        assert!(held.is_empty());
        for id in (0..1100).step_by(4) {
            verify_lookup_with_height(
                &verifier(),
                None,
                &up.body(id, 1100),
                2,
                &mut |t: &[Tile]| up.fetch(t),
                &mut held,
            )
            .unwrap();
        }
        assert_eq!(held.len(), MAX_HELD_TILES);
        assert!(!held.is_empty());
    }
}
