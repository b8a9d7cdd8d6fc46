//! [`AnyStore`]: the engine a database URL names, behind the same trait,
//! so the binary and the tests run one code path over either.

use std::collections::HashMap;

use tokio::sync::watch;

use super::{
    ApiKeyRow, CommitBatch, DeadLetter, Head, IdempotencyHit, PgStore, SqliteStore, Store,
    StoreError, StoredCheckpoint, StoredLine, TileKey, WriterClaim,
};
use crate::tlog::TileWrite;

#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::open(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::open(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(super::redacted(url)))
        }
    }
}

/// Forwards a call to whichever engine this is.
macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        each!(self, s => s.head())
    }
    async fn read_lines(&self, from_seq: u64, limit: u32) -> Result<Vec<StoredLine>, StoreError> {
        each!(self, s => s.read_lines(from_seq, limit))
    }
    async fn key_lines(&self) -> Result<Vec<StoredLine>, StoreError> {
        each!(self, s => s.key_lines())
    }
    async fn lines_at(&self, seqs: &[u64]) -> Result<Vec<StoredLine>, StoreError> {
        each!(self, s => s.lines_at(seqs))
    }
    async fn find_subjects(
        &self,
        subject_ids: &[&str],
    ) -> Result<HashMap<String, ([u8; 32], String)>, StoreError> {
        each!(self, s => s.find_subjects(subject_ids))
    }
    async fn find_idempotency(
        &self,
        keys: &[&str],
        now: i64,
    ) -> Result<HashMap<String, IdempotencyHit>, StoreError> {
        each!(self, s => s.find_idempotency(keys, now))
    }
    async fn scrub_erased(&self) -> Result<(), StoreError> {
        each!(self, s => s.scrub_erased())
    }
    async fn find_evidence(&self, seq: u64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        each!(self, s => s.find_evidence(seq))
    }
    async fn create_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        each!(self, s => s.create_api_key(key))
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        each!(self, s => s.list_api_keys())
    }
    async fn revoke_api_key(&self, id: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        each!(self, s => s.revoke_api_key(id, at))
    }
    async fn touch_api_keys(&self, used: &[(String, String)]) -> Result<(), StoreError> {
        each!(self, s => s.touch_api_keys(used))
    }
    async fn lookup_pseudonym(&self, subject_id: &str) -> Result<Option<String>, StoreError> {
        each!(self, s => s.lookup_pseudonym(subject_id))
    }
    async fn any_api_key(&self) -> Result<bool, StoreError> {
        each!(self, s => s.any_api_key())
    }
    async fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        each!(self, s => s.find_api_key(id))
    }
    async fn commit(&self, batch: &CommitBatch) -> Result<(), StoreError> {
        each!(self, s => s.commit(batch))
    }
    async fn read_tiles(
        &self,
        wanted: &[TileKey],
    ) -> Result<HashMap<TileKey, Vec<u8>>, StoreError> {
        each!(self, s => s.read_tiles(wanted))
    }

    async fn tree_size(&self) -> Result<u64, StoreError> {
        each!(self, s => s.tree_size())
    }

    async fn put_tiles(&self, tiles: &[TileWrite]) -> Result<(), StoreError> {
        each!(self, s => s.put_tiles(tiles))
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        each!(self, s => s.save_checkpoint(checkpoint))
    }

    async fn update_checkpoint_note(
        &self,
        size: u64,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.update_checkpoint_note(size, old, new))
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        each!(self, s => s.latest_checkpoint())
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        each!(self, s => s.checkpoint_at(size))
    }

    async fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        each!(self, s => s.cursor(name))
    }
    async fn save_cursor(&self, name: &str, next_seq: u64) -> Result<(), StoreError> {
        each!(self, s => s.save_cursor(name, next_seq))
    }
    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        each!(self, s => s.record_dead_letter(letter))
    }
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        each!(self, s => s.dead_letters())
    }
    async fn claim_writer(&self) -> Result<WriterClaim, StoreError> {
        each!(self, s => s.claim_writer())
    }
    async fn lock_appends(&self) -> Result<bool, StoreError> {
        each!(self, s => s.lock_appends())
    }
    async fn unlock_appends(&self) {
        each!(self, s => s.unlock_appends())
    }
    fn shared_head(&self) -> Option<watch::Receiver<u64>> {
        match self {
            AnyStore::Sqlite(s) => s.shared_head(),
            AnyStore::Postgres(s) => s.shared_head(),
        }
    }
    async fn close(&self) {
        each!(self, s => s.close())
    }
    async fn release_reserve(&self) {
        each!(self, s => s.release_reserve())
    }
    async fn restore_reserve(&self) -> Result<(), StoreError> {
        each!(self, s => s.restore_reserve())
    }
}
