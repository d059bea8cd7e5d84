//! Tiles: fixed-height slices of the stored hashes, served as static files
//! (x/mod `sumdb/tlog/tile.go`, spec §4.3).
//!
//! Tile (H, L, N, W) holds the W hashes at tree level `H*L` with indexes
//! `N*2^H … N*2^H+W-1`, concatenated (32 bytes each). W = 2^H is a complete tile, fewer is
//! a partial one (`.p/W`). Level L = −1 ("data") holds record texts instead of hashes.
//! The go command always uses H = 8.

use super::tlog::{node_hash, shl, shr, split_stored_hash_index, stored_hash_index};
use super::tlog::{Hash, HashReader, HASH_SIZE};
use super::Error;

/// A tile of the log (x/mod `tlog.Tile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Height: hashes per complete tile are 2^h (valid: 1..=30).
    pub h: u32,
    /// Level in the tiling: hashes at tree level `h*l`; −1 for data tiles.
    pub l: i32,
    /// Number of the tile within its level.
    pub n: u64,
    /// Width: number of hashes (or records) present, 1..=2^h.
    pub w: u32,
}

/// Largest valid tile height (x/mod).
pub const MAX_TILE_HEIGHT: u32 = 30;

/// Number of hashes in a complete tile of height `h` (0 for invalid heights).
fn full_width(h: u32) -> u64 {
    if (1..=MAX_TILE_HEIGHT).contains(&h) {
        1u64 << h
    } else {
        0
    }
}

impl Tile {
    /// The tile's coordinate path `tile/H/L/NNN[.p/W]` (x/mod `Tile.Path`).
    ///
    /// N is written three decimal digits per element, most significant first, every
    /// element but the last prefixed with `x`; L = −1 is written `data`; `.p/W` is added
    /// when W is not 2^H.
    pub fn path(&self) -> String {
        let mut n_str = format!("{:03}", self.n % 1000);
        let mut n = self.n / 1000;
        // At most six more groups: a u64 has at most 20 digits.
        for _ in 0..6 {
            if n == 0 {
                break;
            }
            n_str = format!("x{:03}/{n_str}", n % 1000);
            n /= 1000;
        }
        let level = if self.l == -1 {
            "data".to_string()
        } else {
            self.l.to_string()
        };
        let partial = if u64::from(self.w) == full_width(self.h) {
            String::new()
        } else {
            format!(".p/{}", self.w)
        };
        format!("tile/{}/{level}/{n_str}{partial}", self.h)
    }

    /// Whether this is a data tile (L = −1).
    pub fn is_data(&self) -> bool {
        self.l == -1
    }

    /// Tree level of the tile's hashes (`h*l`; 0 for data tiles). `None` when invalid.
    fn hash_level(&self) -> Option<u32> {
        match self.l {
            -1 => Some(0),
            l if l >= 0 => self.h.checked_mul(l as u32),
            _ => None,
        }
    }

    /// Basic validity: 1 <= H <= 30, L >= −1, 1 <= W <= 2^H.
    fn is_valid(&self) -> bool {
        let full = full_width(self.h);
        full != 0 && self.l >= -1 && self.w >= 1 && u64::from(self.w) <= full
    }
}

/// Parses a tile path, accepting only paths that [`Tile::path`] writes back identically
/// (x/mod `tlog.ParseTilePath`, spec §2 "Tile syntax").
///
/// Rejects e.g. `tile/3/5/123/456/078` (missing `x`), `.p/0`, `.p/W` with W >= 2^H,
/// H outside 1..=30, and negative levels other than `data`.
pub fn parse_tile_path(path: &str) -> Result<Tile, Error> {
    let bad = || Error::MalformedTilePath(path.to_string());
    let mut f: Vec<&str> = path.split('/').collect();
    if f.len() < 4 || f[0] != "tile" {
        return Err(bad());
    }
    let h: u32 = f[1].parse().map_err(|_| bad())?;
    if !(1..=MAX_TILE_HEIGHT).contains(&h) {
        return Err(bad());
    }
    let l: i32 = match f[2] {
        "data" => -1,
        s => s.parse().ok().filter(|&l| l >= 0).ok_or_else(bad)?,
    };
    let mut w = 1u32 << h;
    let second_last = f[f.len() - 2];
    if let Some(stem) = second_last.strip_suffix(".p") {
        let ww: u32 = f[f.len() - 1].parse().map_err(|_| bad())?;
        if ww == 0 || ww >= w {
            return Err(bad());
        }
        w = ww;
        let k = f.len() - 2;
        f[k] = stem;
        f.pop();
    }
    let mut n = 0u64;
    for elem in &f[3..] {
        let digits = elem.strip_prefix('x').unwrap_or(elem);
        let d: u64 = digits.parse().map_err(|_| bad())?;
        if d >= 1000 {
            return Err(bad());
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(d))
            .ok_or_else(bad)?;
    }
    let tile = Tile { h, l, n, w };
    if tile.path() != path {
        return Err(bad());
    }
    Ok(tile)
}

/// The tile of height `h` and least width holding stored hash `index`
/// (x/mod `tlog.TileForIndex`). Heights outside 1..=30 are clamped into that range.
pub fn tile_for_index(h: u32, index: u64) -> Tile {
    tile_span_for_index(h, index).0
}

/// [`tile_for_index`] plus the byte range of the tile data whose subtree hash is the
/// hash at `index`.
fn tile_span_for_index(h: u32, index: u64) -> (Tile, usize, usize) {
    let h = h.clamp(1, MAX_TILE_HEIGHT);
    let (level, n) = split_stored_hash_index(index);
    let l = level / h;
    let level_in_tile = level - l * h;
    let tile_n = shr(shl(n, level_in_tile), h);
    let n_in_tile = n - shr(shl(tile_n, h), level_in_tile);
    let start = shl(n_in_tile, level_in_tile);
    let end = shl(n_in_tile + 1, level_in_tile);
    let tile = Tile {
        h,
        l: l as i32,
        n: tile_n,
        w: end as u32,
    };
    let size = |x: u64| (x as usize).saturating_mul(HASH_SIZE);
    (tile, size(start), size(end))
}

/// The hash at stored `index`, computed from the data of tile `t`, which must be
/// `tile_for_index(t.h, index)` or a wider tile at the same position
/// (x/mod `tlog.HashFromTile`).
pub fn hash_from_tile(t: &Tile, data: &[u8], index: u64) -> Result<Hash, Error> {
    if !t.is_valid() || t.l < 0 || t.l >= 64 {
        return Err(Error::InvalidTile(format!("invalid tile {}", t.path())));
    }
    if data.len() < (t.w as usize).saturating_mul(HASH_SIZE) {
        return Err(Error::InvalidTile(format!(
            "data len {} too short for tile {}",
            data.len(),
            t.path()
        )));
    }
    let (t1, start, end) = tile_span_for_index(t.h, index);
    if t.l != t1.l || t.n != t1.n || t.w < t1.w {
        return Err(Error::InvalidTile(format!(
            "index {index} is in {} not {}",
            t1.path(),
            t.path()
        )));
    }
    let slice = data
        .get(start..end)
        .ok_or(Error::Internal("tile range out of bounds"))?;
    tile_hash(slice)
}

/// Root hash of the subtree whose leaves are the 2^k hashes in `data`
/// (x/mod `tileHash`).
pub(crate) fn tile_hash(data: &[u8]) -> Result<Hash, Error> {
    // A power-of-two count of 32-byte hashes: a power-of-two length of at least 32 bytes.
    if data.len() < HASH_SIZE || !data.len().is_power_of_two() {
        return Err(Error::Internal("tile hash over a non-power-of-two width"));
    }
    Ok(tile_hash_pow2(data))
}

fn tile_hash_pow2(data: &[u8]) -> Hash {
    if data.len() <= HASH_SIZE {
        let mut h = [0u8; HASH_SIZE];
        h[..data.len()].copy_from_slice(data);
        return h;
    }
    let (left, right) = data.split_at(data.len() / 2);
    node_hash(&tile_hash_pow2(left), &tile_hash_pow2(right))
}

/// The tiles of height `h` that change when the tree grows from `old_n` to `new_n`
/// records: per level, the newly complete tiles and the new partial tile
/// (x/mod `tlog.NewTiles`). Empty for heights outside 1..=30.
pub fn new_tiles(h: u32, old_n: u64, new_n: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    if full_width(h) == 0 {
        return tiles;
    }
    // A level per h bits of new_n: at most 64 of them.
    for level in 0..64u32 {
        if shr(new_n, h * level) == 0 {
            break;
        }
        let old_count = shr(old_n, h * level);
        let new_count = shr(new_n, h * level);
        if old_count != new_count {
            for n in (old_count >> h)..(new_count >> h) {
                tiles.push(Tile {
                    h,
                    l: level as i32,
                    n,
                    w: 1 << h,
                });
            }
            let n = new_count >> h;
            let w = new_count - (n << h);
            if w > 0 {
                tiles.push(Tile {
                    h,
                    l: level as i32,
                    n,
                    w: w as u32,
                });
            }
        }
    }
    tiles
}

/// The bytes of hash tile `t` (W hashes, 32 bytes each) read from stored hashes
/// (x/mod `tlog.ReadTileData`). Data tiles are not hash tiles and are refused.
pub fn read_tile_data(t: &Tile, read: &mut HashReader<'_>) -> Result<Vec<u8>, Error> {
    if !t.is_valid() || t.l < 0 {
        return Err(Error::InvalidTile(format!(
            "invalid hash tile {}",
            t.path()
        )));
    }
    let level = t.hash_level().ok_or(Error::InvalidInput("ReadTileData"))?;
    let start =
        t.n.checked_mul(1 << t.h)
            .ok_or(Error::InvalidInput("ReadTileData"))?;
    start
        .checked_add(u64::from(t.w))
        .ok_or(Error::InvalidInput("ReadTileData"))?;
    let indexes: Vec<u64> = (0..u64::from(t.w))
        .map(|i| stored_hash_index(level, start + i))
        .collect();
    let hashes = read(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(Error::BadHashCount {
            want: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes.concat())
}

/// Whether tile `t` can be served for a tree of `tree_size` records (spec §4.3): at its
/// level `w = tree_size >> (H*L)` hashes exist (records, for data tiles), and any width
/// with `N*2^H + W <= w` is a prefix of stored, never-changing hashes.
pub fn tile_exists(t: &Tile, tree_size: u64) -> bool {
    if !t.is_valid() {
        return false;
    }
    let Some(level) = t.hash_level() else {
        return false;
    };
    let available = shr(tree_size, level);
    t.n.checked_mul(1 << t.h)
        .and_then(|start| start.checked_add(u64::from(t.w)))
        .is_some_and(|end| end <= available)
}

/// The `k`-th parent tile of `t` (k = 0: `t` itself, widened) in the tiles of a tree of
/// `tree_size` records: complete if the tree has all its hashes, else the partial tile
/// of the available width; `None` if the tree has no hash there
/// (x/mod `tileParent`).
pub fn tile_parent(t: &Tile, k: u32, tree_size: u64) -> Option<Tile> {
    let full = full_width(t.h);
    if full == 0 || t.l < 0 {
        return None;
    }
    let l = t.l.checked_add(i32::try_from(k).ok()?)?;
    let n = shr(t.n, k.saturating_mul(t.h));
    let level = t.h.checked_mul(l as u32)?;
    let available = shr(tree_size, level);
    let start = n.checked_mul(full)?;
    if start >= available {
        return None;
    }
    let w = (available - start).min(full);
    Some(Tile {
        h: t.h,
        l,
        n,
        w: w as u32,
    })
}

/// A data tile's bytes: each record text followed by one extra `\n`
/// (the lookup form without its id line; spec §2).
pub fn format_data_tile(records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum());
    for r in records {
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tlog::tests::MemLog;
    use super::super::tlog::{slice_reader, tree_hash};
    use super::*;
    use std::collections::HashMap;

    fn tile(h: u32, l: i32, n: u64, w: u32) -> Tile {
        Tile { h, l, n, w }
    }

    // V3 (x/mod tlog_test.go / tile_test.go).
    #[test]
    fn v3_tile_paths() {
        for (t, path) in [
            (tile(4, 0, 1, 16), "tile/4/0/001"),
            (tile(4, 0, 1, 5), "tile/4/0/001.p/5"),
            (tile(3, 5, 123456078, 8), "tile/3/5/x123/x456/078"),
            (tile(3, 5, 123456078, 2), "tile/3/5/x123/x456/078.p/2"),
            (tile(1, 0, 3057500, 2), "tile/1/0/x003/x057/500"),
            (tile(1, -1, 3057500, 2), "tile/1/data/x003/x057/500"),
            (tile(3, 4, 1234067, 1), "tile/3/4/x001/x234/067.p/1"),
            (tile(3, 4, 1234067, 8), "tile/3/4/x001/x234/067"),
            (tile(8, 0, 1, 256), "tile/8/0/001"),
        ] {
            assert_eq!(t.path(), path);
            assert_eq!(parse_tile_path(path), Ok(t), "{path}");
        }
        // Every group of the largest number (18,446,744,073,709,551,615).
        assert_eq!(
            tile(8, 0, u64::MAX, 256).path(),
            "tile/8/0/x018/x446/x744/x073/x709/x551/615"
        );
        assert_eq!(tile(8, 0, 1000, 256).path(), "tile/8/0/x001/000");
        assert_eq!(tile(8, 0, 999, 256).path(), "tile/8/0/999");
    }

    #[test]
    fn data_tiles_are_level_minus_one_and_hash_levels_multiply() {
        assert!(tile(8, -1, 0, 256).is_data());
        assert!(!tile(8, 0, 0, 256).is_data());
        assert!(!tile(8, 1, 0, 256).is_data());
        assert_eq!(tile(8, -1, 0, 256).hash_level(), Some(0));
        assert_eq!(tile(8, 2, 0, 256).hash_level(), Some(16));
        assert_eq!(tile(1, -2, 0, 2).hash_level(), None);
    }

    #[test]
    fn v3_invalid_tile_paths() {
        for bad in [
            "tile/3/5/123/456/078",
            "tile/3/-1/123/456/078",
            "tile/3/5/x123/x456/078.p/0",
            "tile/3/5/x123/x456/078.p/8",
            "tile/3/5/x123/x456/078.p/9",
            "tile/3/5/x123/x456/078.p/02",
            "tile/0/0/000",
            "tile/31/0/000",
            "tile/+3/0/000",
            "tile/03/0/000",
            "tile/3/00/000",
            "tile/3/0/00",
            "tile/3/0/0000",
            "tile/3/0/x000",
            "tile/3/0/x001",
            "tile/3/0/x000/001",
            "tile/3/0/",
            "tile/3/0",
            "tile/3",
            "tile",
            "tiles/3/0/000",
            "tile/3/data/-01",
            "tile/3/0/000.p",
            "tile/3/0/000.p/",
            "tile/8/0/x999/x999/x999/x999/x999/x999/x999/999",
            "/tile/3/0/000",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tile_path_round_trips() {
        for h in [1, 2, 8, 30] {
            for l in [-1, 0, 1, 7] {
                for n in [0, 1, 999, 1000, 1001, 999_999, 1_000_000, u64::MAX / 2] {
                    for w in [1, 1 << (h - 1), 1 << h] {
                        let t = tile(h, l, n, w);
                        assert_eq!(parse_tile_path(&t.path()), Ok(t));
                    }
                }
            }
        }
    }

    #[test]
    fn new_tiles_300_to_70000() {
        let got: Vec<String> = new_tiles(8, 300, 70000).iter().map(Tile::path).collect();
        let mut want: Vec<String> = (1..=272).map(|n| tile(8, 0, n, 256).path()).collect();
        want.extend(
            [
                "tile/8/0/273.p/112",
                "tile/8/1/000",
                "tile/8/1/001.p/17",
                "tile/8/2/000.p/1",
            ]
            .map(String::from),
        );
        assert_eq!(got, want);
        assert_eq!(got[0], "tile/8/0/001");
        assert_eq!(got[271], "tile/8/0/272");
    }

    #[test]
    fn tile_hash_takes_a_power_of_two_count_of_hashes() {
        let h = |b: u8| [b; 32];
        assert_eq!(tile_hash(&h(7)), Ok(h(7)));
        assert_eq!(
            tile_hash(&[h(1), h(2)].concat()),
            Ok(node_hash(&h(1), &h(2)))
        );
        let four = [h(1), h(2), h(3), h(4)].concat();
        assert_eq!(
            tile_hash(&four),
            Ok(node_hash(
                &node_hash(&h(1), &h(2)),
                &node_hash(&h(3), &h(4))
            ))
        );
        for len in [0, 16, 31, 33, 64 + 32, 128 - 1] {
            assert_eq!(
                tile_hash(&vec![0; len]),
                Err(Error::Internal("tile hash over a non-power-of-two width")),
                "{len}"
            );
        }
    }

    #[test]
    fn new_tiles_counts() {
        // x/mod TestNewTilesForSize.
        for (old, new, want) in [
            (1, 1, 0),
            (100, 101, 1),
            (1023, 1025, 3),
            (1024, 1030, 1),
            (1030, 2000, 1),
            (1030, 10000, 10),
            (49516517, 49516586, 3),
        ] {
            assert_eq!(new_tiles(10, old, new).len(), want, "{old}->{new}");
        }
        assert!(new_tiles(0, 0, 10).is_empty());
        assert!(new_tiles(31, 0, 10).is_empty());
    }

    #[test]
    fn tile_exists_rules() {
        // Tree of 300 records, H = 8: level 0 has 300 hashes, level 1 has 1.
        assert!(tile_exists(&tile(8, 0, 0, 256), 300));
        assert!(tile_exists(&tile(8, 0, 0, 5), 300));
        assert!(tile_exists(&tile(8, 0, 1, 44), 300));
        assert!(tile_exists(&tile(8, 0, 1, 10), 300));
        assert!(!tile_exists(&tile(8, 0, 1, 45), 300));
        assert!(!tile_exists(&tile(8, 0, 1, 256), 300));
        assert!(!tile_exists(&tile(8, 0, 2, 1), 300));
        assert!(tile_exists(&tile(8, 1, 0, 1), 300));
        assert!(!tile_exists(&tile(8, 1, 0, 2), 300));
        assert!(!tile_exists(&tile(8, 2, 0, 1), 300));
        assert!(tile_exists(&tile(8, -1, 1, 44), 300));
        assert!(!tile_exists(&tile(8, -1, 1, 45), 300));
        assert!(!tile_exists(&tile(8, 0, 0, 0), 300));
        assert!(!tile_exists(&tile(8, 0, 0, 257), 300));
        assert!(!tile_exists(&tile(8, 63, u64::MAX, 1), u64::MAX));
        assert!(!tile_exists(&tile(0, 0, 0, 1), 300));
    }

    /// Every hash in a log is readable from its least-width tile and from wider tiles,
    /// and tiles extend earlier narrower tiles (x/mod TestTree's tile checks).
    #[test]
    fn hashes_from_tiles_match_storage() {
        for h in [1u32, 2, 3, 8] {
            let mut log = MemLog::default();
            let mut tiles: HashMap<Tile, Vec<u8>> = HashMap::new();
            for i in 0..300u64 {
                let before = log.hashes.len();
                log.append(format!("leaf {i}\n").as_bytes());
                let mut read = slice_reader(&log.hashes);
                for t in new_tiles(h, i, i + 1) {
                    let data = read_tile_data(&t, &mut read).unwrap();
                    if t.w > 1 {
                        let old = tiles.get(&tile(t.h, t.l, t.n, t.w - 1)).unwrap();
                        assert_eq!(&data[..old.len()], &old[..]);
                    }
                    tiles.insert(t, data);
                }
                for j in before..log.hashes.len() {
                    let t = tile_for_index(h, j as u64);
                    let data = tiles.get(&t).unwrap();
                    assert_eq!(hash_from_tile(&t, data, j as u64).unwrap(), log.hashes[j]);
                    let wide = tile_parent(&t, 0, i + 1).unwrap();
                    let wide_data = read_tile_data(&wide, &mut read).unwrap();
                    let got = hash_from_tile(&wide, &wide_data, j as u64).unwrap();
                    assert_eq!(got, log.hashes[j]);
                }
            }
            let mut read = slice_reader(&log.hashes);
            assert_eq!(log.tree().hash, tree_hash(300, &mut read).unwrap());
        }
    }

    #[test]
    fn hash_from_tile_refuses_mismatches() {
        let mut log = MemLog::default();
        for i in 0..20u64 {
            log.append(format!("leaf {i}\n").as_bytes());
        }
        let mut read = slice_reader(&log.hashes);
        let t = tile(2, 0, 1, 4);
        let data = read_tile_data(&t, &mut read).unwrap();
        assert!(hash_from_tile(&t, &data, 0).is_err());
        assert!(hash_from_tile(&t, &data[..64], stored_hash_index(0, 4)).is_err());
        assert!(hash_from_tile(&tile(2, 0, 1, 5), &data, 4).is_err());
        assert!(hash_from_tile(&tile(0, 0, 1, 4), &data, 4).is_err());
        // Data tiles and levels of 64 and more are no hash tiles at all (x/mod's check,
        // before any index arithmetic).
        assert_eq!(
            hash_from_tile(&tile(2, -1, 1, 4), &data, 4),
            Err(Error::InvalidTile("invalid tile tile/2/data/001".into()))
        );
        assert_eq!(
            hash_from_tile(&tile(2, 64, 0, 4), &data, 4),
            Err(Error::InvalidTile("invalid tile tile/2/64/000".into()))
        );
        assert!(read_tile_data(&tile(2, -1, 1, 4), &mut read).is_err());
        assert_eq!(
            hash_from_tile(&t, &data, stored_hash_index(0, 4)).unwrap(),
            log.hashes[7]
        );
        let level1 = stored_hash_index(1, 2);
        assert_eq!(
            hash_from_tile(&t, &data, level1).unwrap(),
            log.hashes[level1 as usize]
        );
    }

    #[test]
    fn tile_parent_rules() {
        // Tree of 259 records, H = 8: (tile, levels up, parent).
        for (t, k, want) in [
            (tile(8, 0, 1, 1), 0, Some(tile(8, 0, 1, 3))),
            (tile(8, 0, 0, 4), 0, Some(tile(8, 0, 0, 256))),
            (tile(8, 0, 0, 4), 1, Some(tile(8, 1, 0, 1))),
            (tile(8, 0, 1, 3), 1, Some(tile(8, 1, 0, 1))),
            (tile(8, 0, 0, 4), 2, None),
            (tile(8, 0, 2, 1), 0, None),
            (tile(8, 0, 0, 1), 100, None),
            // Data tiles have no parents among the hash tiles; nor has a tile of height 0.
            (tile(8, -1, 0, 4), 1, None),
            (tile(8, -1, 1, 3), 0, None),
            (tile(0, 0, 0, 1), 0, None),
        ] {
            assert_eq!(tile_parent(&t, k, 259), want, "{t:?} up {k}");
        }
    }

    #[test]
    fn format_data_tile_appends_blank_lines() {
        assert_eq!(format_data_tile(&[b"a\n", b"b\nc\n"]), b"a\n\nb\nc\n\n");
        assert!(format_data_tile(&[]).is_empty());
    }
}
