//! Storage behind one trait. The writer, verifier, exporter and followers
//! only see [`Store`]; each engine lives in its own module (`sqlite.rs`,
//! `postgres.rs`) with each SQL statement in its own named `.sql` file
//! beside it, and [`AnyStore`] picks one from a URL.
//!
//! A store keeps the log (append-only), the mutable per-subject secrets and
//! off-log evidence, and idempotency keys. [`Store::commit`] writes a whole
//! group-committed batch in one transaction: all of it or nothing.

use std::collections::HashMap;
use std::future::Future;

use crate::tlog::TileWrite;

mod any;
mod postgres;
mod sqlite;

pub use any::AnyStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended at the same position: reload and retry.
    #[error("another writer appended entry {0} first")]
    Conflict(u64),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("{0} is being appended to by another process (pid in the lock file); an SQLite ledger has one writer: append through that process, or use PostgreSQL for several")]
    WriterBusy(String),
    #[error("stored data is corrupt at entry {seq}: {detail}")]
    Corrupt { seq: u64, detail: String },
    /// The disk (or the database's space) is full: nothing of the batch
    /// was written.
    #[error("the storage is full: {0}")]
    Full(String),
    /// The store refused an entry that does not extend its head (seq not
    /// head + 1, or `prev` not the head's hash): a writer's state was stale.
    #[error("entry {0} does not extend the stored head; the store refused it")]
    ChainBroken(u64),
    /// A file beside the database could not be written or read.
    #[error("{0}")]
    Io(String),
}

/// The message both engines' chain triggers raise (migration 0005).
pub(crate) const CHAIN_VIOLATION: &str = "an entry must extend the head of the chain";

impl StoreError {
    /// Sorts a database error from a write of the batch starting at `seq`:
    /// a lost race, a refused link, a full disk, or anything else.
    pub(crate) fn from_write(e: sqlx::Error, seq: u64) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                return StoreError::Conflict(seq);
            }
            if db.message().contains(CHAIN_VIOLATION) {
                return StoreError::ChainBroken(seq);
            }
            if is_full(db.code().as_deref()) {
                return StoreError::Full(db.message().to_owned());
            }
        }
        StoreError::Database(e)
    }

    /// Whether re-reading the same rows one at a time can locate damage:
    /// the file is malformed (SQLite) or a stored value does not decode.
    pub(crate) fn is_damage(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), any extension.
                matches!(sqlite_code(db.code().as_deref()), Some(11 | 26))
            }
            StoreError::Database(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => true,
            _ => false,
        }
    }
}

/// SQLITE_FULL (13), PostgreSQL `disk_full` (53100).
fn is_full(code: Option<&str>) -> bool {
    code == Some("53100") || sqlite_code(code) == Some(13)
}

/// The primary result code of an SQLite error code (extended codes keep it
/// in their low byte); `None` for PostgreSQL's five-character SQLSTATEs.
fn sqlite_code(code: Option<&str>) -> Option<i32> {
    code.filter(|c| c.len() < 5)
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff)
}

/// A database URL fit for errors and logs: any password replaced by `***`.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A recipient notification given up on after its last retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub seq: u64,
    pub recipient: String,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at: String,
}

/// The right to write a single-writer store, released when dropped (the
/// ledger handle holds it; the OS drops it with the process, however the
/// process ends).
#[derive(Debug, Default)]
pub struct WriterClaim {
    _lock: Option<std::fs::File>,
}

impl WriterClaim {
    pub(crate) fn file(lock: std::fs::File) -> Self {
        Self { _lock: Some(lock) }
    }
}

/// The last entry: where the next append links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
    pub recorded_at: String,
}

/// One stored entry as the store returns it.
#[derive(Debug, Clone)]
pub struct StoredLine {
    pub seq: u64,
    /// The `hash` column (a copy of the line's hash, cross-checked by verify).
    pub hash: Vec<u8>,
    pub line: String,
}

/// A new entry row.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub seq: u64,
    pub recorded_at: String,
    pub hash: [u8; 32],
    pub subject: Option<String>,
    pub kind: &'static str,
    pub line: String,
}

/// A subject's secret row (personal: the subject id).
#[derive(Clone)]
pub struct SubjectRow {
    pub subject_id: String,
    pub secret: [u8; 32],
    pub pseudonym: String,
}

impl std::fmt::Debug for SubjectRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectRow({}, <redacted>)", self.pseudonym)
    }
}

/// Evidence of one entry, sealed under the subject's secret
/// ([`crate::evidence_seal`]).
#[derive(Clone)]
pub struct EvidenceRow {
    /// The entry this evidence belongs to.
    pub seq: u64,
    pub reference: String,
    pub pseudonym: String,
    pub salt: [u8; 32],
    /// The sealed content.
    pub content: Vec<u8>,
}

/// An API key as stored: the SHA-256 of its secret, never the secret.
/// Times are canonical [`consent_domain::Timestamp`] strings, which sort
/// as they compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    /// Who or what holds it, for people reading the list (not secret).
    pub name: String,
    pub secret_hash: Vec<u8>,
    /// Space-separated scope names.
    pub scopes: String,
    pub created_at: String,
    /// After this instant the key is refused.
    pub expires_at: Option<String>,
    /// When it was revoked; a revoked key is refused for ever.
    pub revoked_at: Option<String>,
    /// The last time a server accepted it (to about ten seconds).
    pub last_used_at: Option<String>,
}

pub(crate) type ApiKeyTuple = (
    String,
    String,
    Vec<u8>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl From<ApiKeyTuple> for ApiKeyRow {
    fn from(t: ApiKeyTuple) -> Self {
        let (id, name, secret_hash, scopes, created_at, expires_at, revoked_at, last_used_at) = t;
        Self {
            id,
            name,
            secret_hash,
            scopes,
            created_at,
            expires_at,
            revoked_at,
            last_used_at,
        }
    }
}

/// An idempotency key as stored ([`crate::idempotency`]): hashes only.
#[derive(Debug, Clone)]
pub struct IdempotencyRow {
    /// The scoped hash of the caller's key.
    pub key_hash: String,
    pub request_hash: [u8; 32],
    pub seq: u64,
    /// The subject the request was about: its erasure deletes the row.
    pub pseudonym: Option<String>,
    /// Unix seconds after which the key is forgotten.
    pub expires_at: i64,
}

/// An idempotency key already used: the request it was used for, and the
/// entry that request produced.
#[derive(Debug, Clone)]
pub struct IdempotencyHit {
    pub request_hash: Vec<u8>,
    pub seq: u64,
    pub hash: Vec<u8>,
}

/// Everything one group commit writes, in one transaction.
#[derive(Default)]
pub struct CommitBatch {
    pub entries: Vec<EntryRow>,
    pub subjects: Vec<SubjectRow>,
    pub evidence: Vec<EvidenceRow>,
    pub idempotency: Vec<IdempotencyRow>,
    /// Subjects erased by this batch: their secret and evidence rows are
    /// deleted after the rows above are written.
    pub erase: Vec<Erasure>,
    /// Forget idempotency keys that expired before this instant (unix
    /// seconds), in the same transaction.
    pub expire_keys_before: Option<i64>,
    /// Follower positions written in the same transaction (name, next).
    pub cursors: Vec<(String, u64)>,
    /// Merkle tree tiles the batch's entries changed (inserted or
    /// replaced by a longer version of themselves).
    pub tiles: Vec<TileWrite>,
}

/// A published checkpoint as stored: its size and root, the signed note
/// (with any cosignatures collected since) and when it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
    pub published_at: String,
}

/// A tile coordinate: (level, index).
pub type TileKey = (u32, u64);

/// What an erasure deletes: the subject's secret row, its evidence rows
/// and its idempotency keys.
#[derive(Clone)]
pub struct Erasure {
    pub subject_id: String,
    pub pseudonym: String,
    /// Entries whose evidence rows go.
    pub evidence_seqs: Vec<u64>,
}

impl CommitBatch {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The one storage interface. Every method is one round trip or one
/// transaction; none of them interprets events.
pub trait Store: Send + Sync + 'static {
    fn head(&self) -> impl Future<Output = Result<Option<Head>, StoreError>> + Send;

    /// Up to `limit` entries from `from_seq` on, in order.
    fn read_lines(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredLine>, StoreError>> + Send;

    /// The entries that introduce keys (genesis and rotations), in order.
    fn key_lines(&self) -> impl Future<Output = Result<Vec<StoredLine>, StoreError>> + Send;

    /// The entries with these sequence numbers, in order (missing ones are
    /// left out).
    fn lines_at(
        &self,
        seqs: &[u64],
    ) -> impl Future<Output = Result<Vec<StoredLine>, StoreError>> + Send;

    /// Secrets of the given subject ids that exist: id → (secret, pseudonym).
    fn find_subjects(
        &self,
        subject_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, ([u8; 32], String)>, StoreError>> + Send;

    /// The idempotency keys (stored hashes) among `keys` that have not
    /// expired at `now` (unix seconds).
    fn find_idempotency(
        &self,
        keys: &[&str],
        now: i64,
    ) -> impl Future<Output = Result<HashMap<String, IdempotencyHit>, StoreError>> + Send;

    /// The evidence stored for entry `seq` (its reference and canonical
    /// content), unless there was none or it was erased.
    fn find_evidence(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<(String, Vec<u8>)>, StoreError>> + Send;

    /// Stores a new API key (`last_used_at` and `revoked_at` empty).
    fn create_api_key(
        &self,
        key: &ApiKeyRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every API key, oldest first.
    fn list_api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRow>, StoreError>> + Send;

    /// Marks a key revoked at `at` unless it already is; the key as it now
    /// stands, or `None` if there is no such key.
    fn revoke_api_key(
        &self,
        id: &str,
        at: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    /// Records when keys were last accepted: `(id, time)` pairs; a time
    /// never moves backwards.
    fn touch_api_keys(
        &self,
        used: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pseudonym of a subject id, for readers (not the writer's
    /// connection).
    fn lookup_pseudonym(
        &self,
        subject_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Whether any API key exists.
    fn any_api_key(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One API key, revoked and expired ones included.
    fn find_api_key(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    /// Writes the batch atomically and durably. Fails with
    /// [`StoreError::Conflict`] if any of its sequence numbers is taken.
    fn commit(&self, batch: &CommitBatch) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stored tiles among `wanted` (partial tiles as long as stored).
    fn read_tiles(
        &self,
        wanted: &[TileKey],
    ) -> impl Future<Output = Result<HashMap<TileKey, Vec<u8>>, StoreError>> + Send;

    /// How many leaves the stored tree has (level-0 hashes).
    fn tree_size(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Stores tiles outside an append (building the tree of a log written
    /// before the tree existed).
    fn put_tiles(&self, tiles: &[TileWrite])
        -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a published checkpoint; false if one of that size exists.
    fn save_checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a checkpoint's note by one with more (co)signatures, if it
    /// is still `old` (false otherwise: another process added some first).
    fn update_checkpoint_note(
        &self,
        size: u64,
        old: &str,
        new: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>, StoreError>> + Send;

    fn checkpoint_at(
        &self,
        size: u64,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>, StoreError>> + Send;

    /// Where the follower `name` has got to (the next entry it handles).
    fn cursor(&self, name: &str) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Records the follower's position.
    fn save_cursor(
        &self,
        name: &str,
        next_seq: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records (or updates) a notification given up on.
    fn record_dead_letter(
        &self,
        letter: &DeadLetter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn dead_letters(&self) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Makes this process the store's writer for as long as the store is
    /// open, or fails with [`StoreError::WriterBusy`] if a store that
    /// allows only one writing process already has one. Stores that many
    /// processes may append to (PostgreSQL) accept every claim and
    /// serialise the appends themselves ([`Store::lock_appends`]).
    fn claim_writer(&self) -> impl Future<Output = Result<WriterClaim, StoreError>> + Send {
        async { Ok(WriterClaim::default()) }
    }

    /// Takes the store-wide right to append, held until
    /// [`Store::unlock_appends`]: while it is held no other process
    /// commits, so the writer can catch up, prepare and commit without
    /// losing a race. Returns false for single-writer stores (nothing to do).
    fn lock_appends(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(false) }
    }

    fn unlock_appends(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Removes from the files what erasures committed so far deleted, so
    /// that no copy of a subject's row survives in them: SQLite (with
    /// `secure_delete`, which zeroes deleted cells) folds the WAL back and
    /// truncates it; PostgreSQL rewrites each partition an erasure left
    /// dead tuples in (`VACUUM FULL`). Called after every commit that
    /// erased, and at start (a crash may have come between the two).
    fn scrub_erased(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Flushes and closes: on SQLite the WAL is folded back and removed.
    /// Nothing may be asked of the store afterwards.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// After a full disk: frees the space the store keeps in reserve, so
    /// that its housekeeping (the WAL checkpoint) and the error path can
    /// still write. Stores without a reserve do nothing.
    fn release_reserve(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Takes the reserve back; fails with [`StoreError::Full`] while the
    /// space is not there, which keeps the writer closed.
    fn restore_reserve(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// For a store shared by several processes: the last sequence number
    /// any of them committed, as it changes. `None` for a store only this
    /// process writes (its own commit feed says everything).
    fn shared_head(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}
