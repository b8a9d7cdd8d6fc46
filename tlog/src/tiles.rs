//! The tree as C2SP tlog-tiles lays it out: tiles of height 8, so a level-L
//! tile holds up to 256 consecutive hashes of tree height 8·L (level 0: leaf
//! hashes; level 1: roots of 256-leaf subtrees; …). Only these are stored;
//! any other node is recomputed from at most 128 hashes of one tile.
//!
//! [`TreeBuilder`] grows the tree one leaf at a time and says which tiles a
//! batch changed; [`TileSet`] answers [`NodeSource`] from fetched tiles.

use std::collections::HashMap;

use crate::merkle::{Frontier, Hash, NodeSource};

/// Tree levels per tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Bytes of a full tile.
pub const TILE_BYTES: usize = 256 * 32;

/// A tile's contents to store: `width` hashes of 32 bytes. A partial tile
/// is stored again, longer, as it fills; a full one never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileWrite {
    pub level: u32,
    pub index: u64,
    pub hashes: Vec<u8>,
}

/// The tree of the log as it grows: its right edge (for the root) and the
/// last, partial tile of every level (for storage).
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    frontier: Frontier,
    /// Per level, the hashes of its last tile so far.
    partial: Vec<Vec<u8>>,
    /// Tiles filled since the last [`TreeBuilder::take_writes`].
    completed: Vec<TileWrite>,
    /// Levels whose partial tile changed since then.
    touched: Vec<bool>,
}

impl TreeBuilder {
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn push(&mut self, leaf: Hash) {
        let Self {
            frontier,
            partial,
            completed,
            touched,
        } = self;
        frontier.push(leaf, |height, index, hash| {
            if height % TILE_HEIGHT != 0 {
                return;
            }
            let level = (height / TILE_HEIGHT) as usize;
            if partial.len() <= level {
                partial.resize_with(level + 1, || Vec::with_capacity(TILE_BYTES));
                touched.resize(level + 1, false);
            }
            partial[level].extend_from_slice(hash);
            touched[level] = true;
            if partial[level].len() == TILE_BYTES {
                completed.push(TileWrite {
                    level: level as u32,
                    index: index / TILE_WIDTH,
                    hashes: std::mem::replace(&mut partial[level], Vec::with_capacity(TILE_BYTES)),
                });
                touched[level] = false;
            }
        });
    }

    /// The tiles changed since the last call: every tile filled, then the
    /// current partial tile of every level that grew.
    pub fn take_writes(&mut self) -> Vec<TileWrite> {
        let mut writes = std::mem::take(&mut self.completed);
        let size = self.size();
        for (level, touched) in self.touched.iter_mut().enumerate() {
            if std::mem::take(touched) && !self.partial[level].is_empty() {
                let count = size >> (TILE_HEIGHT as usize * level);
                writes.push(TileWrite {
                    level: level as u32,
                    index: count / TILE_WIDTH,
                    hashes: self.partial[level].clone(),
                });
            }
        }
        writes
    }

    /// Forgets pending writes (the tiles are already stored: replay).
    pub fn clear_writes(&mut self) {
        self.completed.clear();
        self.touched.iter_mut().for_each(|t| *t = false);
    }
}

/// The tile holding stored hash (level, k), and the hash's place in it.
pub fn tile_of(level: u32, k: u64) -> ((u32, u64), usize) {
    ((level, k / TILE_WIDTH), (k % TILE_WIDTH) as usize)
}

/// The tiles a set of complete-subtree nodes is computed from (for trees of
/// any size that contain them), each with how many hashes of it are needed.
pub fn tiles_for(nodes: &[(u32, u64)]) -> Vec<((u32, u64), usize)> {
    let mut tiles: Vec<((u32, u64), usize)> = nodes
        .iter()
        .map(|&(h, k)| {
            let level = h / TILE_HEIGHT;
            let r = h % TILE_HEIGHT;
            let (tile, at) = tile_of(level, k << r);
            (tile, at + (1usize << r))
        })
        .collect();
    tiles.sort_unstable();
    // Per tile, the largest width needed.
    let mut out: Vec<((u32, u64), usize)> = Vec::with_capacity(tiles.len());
    for (tile, width) in tiles {
        match out.last_mut() {
            Some((t, w)) if *t == tile => *w = (*w).max(width),
            _ => out.push((tile, width)),
        }
    }
    out
}

/// A tile with every complete subtree inside it hashed once: `levels[j]`
/// holds the nodes of height j (relative to the tile) that its hashes
/// complete. Reading a proof node is then a lookup, not up to 127 hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileTree {
    levels: Vec<Vec<Hash>>,
}

impl TileTree {
    pub fn new(bytes: &[u8]) -> Self {
        let base: Vec<Hash> = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        let mut levels = vec![base];
        while levels.last().expect("one level").len() > 1 {
            let below = levels.last().expect("one level");
            let up: Vec<Hash> = below
                .chunks_exact(2)
                .map(|p| super::merkle::node_hash(&p[0], &p[1]))
                .collect();
            if up.is_empty() {
                break;
            }
            levels.push(up);
        }
        Self { levels }
    }

    /// How many hashes the tile holds.
    pub fn width(&self) -> usize {
        self.levels[0].len()
    }

    /// The node `r` levels above the tile's hashes, `index`-th from the left.
    pub fn node(&self, r: u32, index: usize) -> Option<Hash> {
        self.levels.get(r as usize)?.get(index).copied()
    }
}

/// Fetched tiles, answering any complete-subtree node they cover.
#[derive(Debug, Default, Clone)]
pub struct TileSet {
    pub tiles: HashMap<(u32, u64), std::sync::Arc<TileTree>>,
}

impl TileSet {
    pub fn insert(&mut self, key: (u32, u64), bytes: &[u8]) {
        self.tiles
            .insert(key, std::sync::Arc::new(TileTree::new(bytes)));
    }
}

/// A node the fetched tiles do not cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tree node at height {height}, index {index} is not stored")]
pub struct MissingNode {
    pub height: u32,
    pub index: u64,
}

impl NodeSource for TileSet {
    type Error = MissingNode;
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, MissingNode> {
        let missing = MissingNode { height, index };
        let level = height / TILE_HEIGHT;
        let r = height % TILE_HEIGHT;
        let (tile, at) = tile_of(level, index << r);
        self.tiles
            .get(&tile)
            .and_then(|t| t.node(r, at >> r))
            .ok_or(missing)
    }
}

/// A tile's path under `tile/`: `<L>/<N>[.p/<W>]`, N in groups of three
/// digits, all but the last prefixed with `x` (C2SP tlog-tiles).
pub fn tile_path(level: Option<u32>, index: u64, width: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut s = match level {
        Some(l) => format!("{l}/"),
        None => "entries/".to_owned(),
    };
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            s.push_str(&format!("x{g:03}/"));
        } else {
            s.push_str(&format!("{g:03}"));
        }
    }
    if width < TILE_WIDTH {
        s.push_str(&format!(".p/{width}"));
    }
    s
}

/// A parsed tile path: the level (`None` for an entry bundle), the index
/// and the width (256 for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileCoord {
    pub level: Option<u32>,
    pub index: u64,
    pub width: u64,
}

/// Parses what follows `tile/`; `None` for anything that is not a
/// canonical tile path.
pub fn parse_tile_path(path: &str) -> Option<TileCoord> {
    let (level_part, rest) = path.split_once('/')?;
    let level = if level_part == "entries" {
        None
    } else {
        let l: u32 = level_part.parse().ok()?;
        if l > 63 || level_part != l.to_string() {
            return None;
        }
        Some(l)
    };
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let width: u64 = w.parse().ok()?;
            if !(1..TILE_WIDTH).contains(&width) || w != width.to_string() {
                return None;
            }
            (i, width)
        }
        None => (rest, TILE_WIDTH),
    };
    let parts: Vec<&str> = index_part.split('/').collect();
    let mut index: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let digits = if i + 1 < parts.len() {
            part.strip_prefix('x')?
        } else {
            part
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    // A tile whose first leaf lies past the largest possible log (2^63
    // entries: sequence numbers are signed 64-bit in storage) does not exist.
    let shift = 8 * (level.unwrap_or(0) + 1);
    let possible = if shift >= 63 {
        index == 0
    } else {
        index <= (i64::MAX as u64) >> shift
    };
    if !possible {
        return None;
    }
    let coord = TileCoord {
        level,
        index,
        width,
    };
    // Only the canonical spelling (no leading zero groups).
    (tile_path(level, index, width) == path).then_some(coord)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, LeafSlice};

    #[test]
    fn tiles_past_the_largest_possible_log_do_not_parse() {
        assert!(parse_tile_path("entries/x036/x028/x797/x018/x963/968.p/1").is_none());
        assert!(parse_tile_path("0/x036/x028/x797/x018/x963/968").is_none());
        assert!(parse_tile_path("entries/x036/x028/x797/x018/x963/967").is_some());
        assert!(parse_tile_path("7/001").is_none());
        assert!(parse_tile_path("7/000").is_some());
    }

    #[test]
    fn paths() {
        assert_eq!(tile_path(Some(0), 1234067, 256), "0/x001/x234/067");
        assert_eq!(tile_path(Some(1), 5, 3), "1/005.p/3");
        assert_eq!(tile_path(None, 0, 256), "entries/000");
        for p in [
            "0/x001/x234/067",
            "1/005.p/3",
            "entries/000",
            "entries/x001/000.p/255",
        ] {
            assert_eq!(
                tile_path(
                    parse_tile_path(p).unwrap().level,
                    parse_tile_path(p).unwrap().index,
                    parse_tile_path(p).unwrap().width
                ),
                p
            );
        }
        for bad in [
            "0/1234067",
            "0/x000/067",
            "0/067.p/0",
            "0/067.p/256",
            "00/067",
            "a/067",
            "0/x1/067",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn tiles_answer_every_node_like_the_leaves_do() {
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut b = TreeBuilder::default();
        let mut set = TileSet::default();
        for chunk in leaves.chunks(997) {
            for l in chunk {
                b.push(*l);
            }
            for w in b.take_writes() {
                set.insert((w.level, w.index), &w.hashes);
            }
        }
        assert_eq!(b.root(), crate::merkle::root_of(&leaves));
        let mut slice = LeafSlice(&leaves);
        for &(h, k) in &[
            (0u32, 69_999u64),
            (3, 5),
            (8, 1),
            (9, 0),
            (16, 0),
            (12, 16),
            (7, 545),
        ] {
            assert_eq!(
                set.node(h, k),
                slice.node(h, k).map_err(|e| match e {}),
                "({h},{k})"
            );
        }
    }
}
