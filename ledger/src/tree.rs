//! The stored Merkle tree: proofs and roots computed from stored tiles with
//! O(log n) tile reads, a cache of full tiles (they never change), and the
//! one-time build of the tiles of a log written before the tree existed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::info;

use crate::error::LedgerError;
use crate::store::{Store, TileKey};
use crate::tlog::merkle::{consistency_proof, inclusion_proof, tree_root, NodeRecorder};
use crate::tlog::tiles::{tiles_for, TileSet, TileTree};
use crate::tlog::{Hash, NodeSource, TreeBuilder};

/// Tiles kept in memory at most (each with its inner nodes: ≤ 16 KiB).
const CACHED_TILES: usize = 4096;

/// Reads proofs off a store. Cheap to clone; clones share the cache.
#[derive(Clone, Default)]
pub struct TreeReader {
    /// Tiles read before, with their inner nodes. A stored tile only grows,
    /// so a cached one stays right; it is read again only when a proof
    /// needs hashes beyond its width.
    cache: Arc<Mutex<HashMap<TileKey, Arc<TileTree>>>>,
}

impl TreeReader {
    /// The tiles holding the nodes a computation asks for: from the cache
    /// when wide enough, the rest in one query.
    async fn tiles<S: Store>(
        &self,
        store: &S,
        nodes: &[(u32, u64)],
    ) -> Result<TileSet, LedgerError> {
        let wanted = tiles_for(nodes);
        let mut set = TileSet::default();
        let mut missing = Vec::new();
        {
            let cache = self.cache.lock().expect("cache lock");
            for (key, width) in wanted {
                match cache.get(&key) {
                    Some(t) if t.width() >= width => {
                        set.tiles.insert(key, t.clone());
                    }
                    _ => missing.push(key),
                }
            }
        }
        if !missing.is_empty() {
            let fetched = store.read_tiles(&missing).await?;
            let mut cache = self.cache.lock().expect("cache lock");
            if cache.len() + fetched.len() > CACHED_TILES {
                cache.clear();
            }
            for (key, bytes) in fetched {
                let tile = Arc::new(TileTree::new(&bytes));
                cache.insert(key, tile.clone());
                set.tiles.insert(key, tile);
            }
        }
        Ok(set)
    }

    /// Runs `compute` first against a recorder to learn which nodes it
    /// needs (the nodes never depend on hash values), then for real.
    async fn run<S: Store, T>(
        &self,
        store: &S,
        compute: impl Fn(&mut dyn FnMut(u32, u64) -> Option<Hash>) -> Option<T>,
    ) -> Result<T, LedgerError> {
        let mut recorder = NodeRecorder::default();
        compute(&mut |h, k| recorder.node(h, k).ok());
        let mut set = self.tiles(store, &recorder.asked).await?;
        let mut missing = None;
        let out = compute(&mut |h, k| match set.node(h, k) {
            Ok(hash) => Some(hash),
            Err(e) => {
                missing = Some(e);
                None
            }
        });
        match (out, missing) {
            (Some(v), None) => Ok(v),
            (_, m) => Err(LedgerError::TreeIncomplete(
                m.map_or("tree node missing".into(), |e| e.to_string()),
            )),
        }
    }

    pub async fn root<S: Store>(&self, store: &S, size: u64) -> Result<Hash, LedgerError> {
        self.run(store, |node| tree_root(&mut Adapter(node), size).ok())
            .await
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size`.
    pub async fn inclusion<S: Store>(
        &self,
        store: &S,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        if index >= size {
            return Err(LedgerError::NotInTree { index, size });
        }
        self.run(store, |node| {
            inclusion_proof(&mut Adapter(node), index, size).ok()
        })
        .await
    }

    /// RFC 9162 consistency proof from the tree of `old` to that of `new`.
    pub async fn consistency<S: Store>(
        &self,
        store: &S,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        if old > new {
            return Err(LedgerError::NotInTree {
                index: old,
                size: new,
            });
        }
        self.run(store, |node| {
            consistency_proof(&mut Adapter(node), old, new).ok()
        })
        .await
    }
}

/// A closure as a [`NodeSource`].
struct Adapter<'a>(&'a mut dyn FnMut(u32, u64) -> Option<Hash>);

impl NodeSource for Adapter<'_> {
    type Error = ();
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, ()> {
        (self.0)(height, index).ok_or(())
    }
}

/// Builds and stores the tiles of entries the stored tree does not cover
/// yet (a log written before the tree existed). Returns how many leaves
/// were added.
pub async fn build_missing_tiles<S: Store>(store: &S) -> Result<u64, LedgerError> {
    let stored = store.tree_size().await?;
    let Some(head) = store.head().await? else {
        return Ok(0);
    };
    if stored > head.seq {
        return Ok(0);
    }
    // Rebuilding from the first entry is simplest and only happens once.
    let mut tree = TreeBuilder::default();
    let mut from = 0;
    loop {
        let page = store.read_lines(from, 8192).await?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        for row in &page {
            tree.push(crate::tlog::leaf_hash(row.line.as_bytes()));
        }
        store.put_tiles(&tree.take_writes()).await?;
    }
    info!(
        leaves = tree.size(),
        "built the Merkle tree of an existing log"
    );
    Ok(tree.size() - stored)
}
