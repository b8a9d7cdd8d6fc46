//! PostgreSQL engine: the system of record when several processes share
//! one ledger. A writer holds an advisory lock (`postgres/lock_appends.sql`)
//! from before it catches up with the log until its batch is committed, so
//! exactly one process appends at a time and the others wait their turn;
//! should anything commit without it, the primary key on `seq` still turns
//! the race into [`StoreError::Conflict`] (the loser re-reads and retries). Each commit notifies the
//! `consent_ledger_appended` channel, which [`PgStore::shared_head`] turns
//! into a watch other writers and followers wait on instead of polling.
//!
//! Batches go in as one `INSERT … SELECT FROM UNNEST(arrays)` per table: one
//! statement and six bound parameters however many rows.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row};
use std::sync::Arc;
use tokio::sync::{watch, Mutex};
use tracing::warn;

use super::{
    ApiKeyRow, ApiKeyTuple, CommitBatch, DeadLetter, Head, IdempotencyHit, Store, StoreError,
    StoredCheckpoint, StoredLine, TileKey,
};
use crate::tlog::TileWrite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a scrub waits for older snapshots before it gives up (and is
/// retried), and how often it looks.
const SCRUB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const SCRUB_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// The channel each commit notifies with its last sequence number.
const CHANNEL: &str = "consent_ledger_appended";

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    head: watch::Receiver<u64>,
    /// The connection holding the append lock, between lock and unlock.
    appender: Arc<Mutex<Option<PoolConnection<Postgres>>>>,
}

impl PgStore {
    /// Waits until no other session of this database holds a snapshot that
    /// can still see what the erasure of `relation` deleted: VACUUM FULL
    /// keeps such rows ("recently dead") in the new files. Snapshots end
    /// with their statement, so this is short; past the deadline the scrub
    /// fails and the writer retries it.
    async fn wait_for_younger_snapshots(&self, relation: &str) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + SCRUB_WAIT;
        loop {
            let blocking: i64 = sqlx::query_scalar(include_str!("postgres/scrub_blocked.sql"))
                .bind(relation)
                .fetch_one(&self.pool)
                .await?;
            if blocking == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(StoreError::Io(format!(
                    "{blocking} session(s) still hold a snapshot older than the erasure; \
                     {relation} is rewritten once they end"
                )));
            }
            tokio::time::sleep(SCRUB_POLL).await;
        }
    }

    /// Connects to `postgres://…` (creating the database if it does not
    /// exist), applies the embedded migrations and starts listening for
    /// other processes' commits.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::UnsupportedUrl(super::redacted(url)));
        }
        if !Postgres::database_exists(url).await? {
            // Two processes may race to create it: the loser finds it there.
            if let Err(e) = Postgres::create_database(url).await {
                if !Postgres::database_exists(url).await? {
                    return Err(e.into());
                }
            }
        }
        // An acknowledgement waits for the WAL flush whatever the server's
        // default says.
        let options = PgConnectOptions::from_str(url)?
            .application_name("consent-ledger")
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let start: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM entries")
            .fetch_one(&pool)
            .await?;
        let (tx, head) = watch::channel(start.map_or(0, |s| s as u64));
        tokio::spawn(listen(listener, pool.clone(), tx));
        Ok(Self {
            pool,
            head,
            appender: Arc::default(),
        })
    }
}

/// Turns commit notifications into the shared-head watch until every
/// store clone is gone. After a lost connection (notifications may have
/// been missed) it re-reads the head.
async fn listen(mut listener: PgListener, pool: PgPool, tx: watch::Sender<u64>) {
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            next = listener.try_recv() => match next {
                Ok(Some(n)) => {
                    if let Ok(seq) = n.payload().parse::<u64>() {
                        tx.send_if_modified(|h| {
                            let newer = seq > *h;
                            if newer {
                                *h = seq;
                            }
                            newer
                        });
                    }
                }
                Ok(None) => {
                    let head: Result<Option<i64>, _> =
                        sqlx::query_scalar("SELECT max(seq) FROM entries").fetch_one(&pool).await;
                    if let Ok(Some(seq)) = head {
                        tx.send_if_modified(|h| {
                            let newer = seq as u64 > *h;
                            *h = (*h).max(seq as u64);
                            newer
                        });
                    }
                }
                // The store was closed: let go of the listener's connection.
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    warn!(error = %e, "listening for other writers' commits failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

fn lines(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<StoredLine>, StoreError> {
    rows.into_iter()
        .map(|r| {
            Ok(StoredLine {
                seq: r.try_get::<i64, _>(0)? as u64,
                hash: r.try_get(1)?,
                line: r.try_get(2)?,
            })
        })
        .collect()
}

fn checkpoint_row(r: sqlx::postgres::PgRow) -> Result<StoredCheckpoint, StoreError> {
    let size = r.get::<i64, _>(0) as u64;
    Ok(StoredCheckpoint {
        size,
        root: r
            .get::<Vec<u8>, _>(1)
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                seq: size,
                detail: "checkpoint root is not 32 bytes".into(),
            })?,
        note: r.get(2),
        published_at: r.get(3),
    })
}

/// Inserts new tiles and replaces partial ones by their longer selves.
async fn upsert_tiles(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tiles: &[TileWrite],
) -> Result<(), StoreError> {
    if tiles.is_empty() {
        return Ok(());
    }
    sqlx::query(include_str!("postgres/upsert_tiles.sql"))
        .bind(tiles.iter().map(|t| t.level as i32).collect::<Vec<_>>())
        .bind(tiles.iter().map(|t| t.index as i64).collect::<Vec<_>>())
        .bind(
            tiles
                .iter()
                .map(|t| t.hashes.as_slice())
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::from_write(e, 0))?;
    Ok(())
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Writes one batch in one transaction.
async fn write_batch(
    conn: &mut PoolConnection<Postgres>,
    batch: &CommitBatch,
) -> Result<(), StoreError> {
    let first_seq = batch.entries.first().map_or(0, |e| e.seq);
    let last_seq = batch.entries.last().map_or(0, |e| e.seq);
    let w = |e| StoreError::from_write(e, first_seq);
    let mut tx = sqlx::Connection::begin(&mut **conn).await.map_err(w)?;
    let e = &batch.entries;
    sqlx::query(include_str!("postgres/insert_entries.sql"))
        .bind(e.iter().map(|r| r.seq as i64).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.recorded_at.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|r| &r.hash[..]).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.subject.as_deref()).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.line.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(w)?;
    if !batch.subjects.is_empty() {
        let s = &batch.subjects;
        sqlx::query(include_str!("postgres/insert_subjects.sql"))
            .bind(s.iter().map(|r| r.subject_id.as_str()).collect::<Vec<_>>())
            .bind(s.iter().map(|r| &r.secret[..]).collect::<Vec<_>>())
            .bind(s.iter().map(|r| r.pseudonym.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    if !batch.evidence.is_empty() {
        let v = &batch.evidence;
        sqlx::query(include_str!("postgres/insert_evidence.sql"))
            .bind(v.iter().map(|r| r.seq as i64).collect::<Vec<_>>())
            .bind(v.iter().map(|r| r.reference.as_str()).collect::<Vec<_>>())
            .bind(v.iter().map(|r| r.pseudonym.as_str()).collect::<Vec<_>>())
            .bind(v.iter().map(|r| &r.salt[..]).collect::<Vec<_>>())
            .bind(v.iter().map(|r| r.content.as_slice()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    if !batch.idempotency.is_empty() {
        let i = &batch.idempotency;
        sqlx::query(include_str!("postgres/insert_idempotency.sql"))
            .bind(i.iter().map(|r| r.key_hash.as_str()).collect::<Vec<_>>())
            .bind(i.iter().map(|r| &r.request_hash[..]).collect::<Vec<_>>())
            .bind(i.iter().map(|r| r.seq as i64).collect::<Vec<_>>())
            .bind(i.iter().map(|r| r.pseudonym.as_deref()).collect::<Vec<_>>())
            .bind(i.iter().map(|r| r.expires_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    for erasure in &batch.erase {
        sqlx::query(include_str!("postgres/erase_subject.sql"))
            .bind(&erasure.subject_id)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        let seqs: Vec<i64> = erasure.evidence_seqs.iter().map(|&s| s as i64).collect();
        sqlx::query(include_str!("postgres/erase_evidence.sql"))
            .bind(seqs)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        sqlx::query(include_str!("postgres/erase_request_keys.sql"))
            .bind(&erasure.pseudonym)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    if let Some(before) = batch.expire_keys_before {
        sqlx::query(include_str!("postgres/expire_request_keys.sql"))
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    upsert_tiles(&mut tx, &batch.tiles).await?;
    for (name, next) in &batch.cursors {
        sqlx::query(include_str!("postgres/save_cursor.sql"))
            .bind(name)
            .bind(*next as i64)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    sqlx::query(include_str!("postgres/notify_appended.sql"))
        .bind(last_seq.to_string())
        .execute(&mut *tx)
        .await
        .map_err(w)?;
    tx.commit().await.map_err(w)?;
    Ok(())
}

impl Store for PgStore {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let row = sqlx::query(include_str!("postgres/head.sql"))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq = row.try_get::<i64, _>(0)? as u64;
        let hash: Vec<u8> = row.try_get(1)?;
        let hash = hash.try_into().map_err(|_| StoreError::Corrupt {
            seq,
            detail: "hash column is not 32 bytes".into(),
        })?;
        Ok(Some(Head {
            seq,
            hash,
            recorded_at: row.try_get(2)?,
        }))
    }

    async fn read_lines(&self, from_seq: u64, limit: u32) -> Result<Vec<StoredLine>, StoreError> {
        let rows = sqlx::query(include_str!("postgres/read_lines.sql"))
            .bind(from_seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        lines(rows)
    }

    async fn key_lines(&self) -> Result<Vec<StoredLine>, StoreError> {
        let rows = sqlx::query(include_str!("postgres/key_lines.sql"))
            .fetch_all(&self.pool)
            .await?;
        lines(rows)
    }

    async fn lines_at(&self, seqs: &[u64]) -> Result<Vec<StoredLine>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
        let rows = sqlx::query(include_str!("postgres/lines_at.sql"))
            .bind(seqs)
            .fetch_all(&self.pool)
            .await?;
        lines(rows)
    }

    async fn find_subjects(
        &self,
        subject_ids: &[&str],
    ) -> Result<HashMap<String, ([u8; 32], String)>, StoreError> {
        if subject_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(include_str!("postgres/find_subjects.sql"))
            .bind(owned(subject_ids))
            .fetch_all(&self.pool)
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0)?;
            let secret: Vec<u8> = r.try_get(1)?;
            let secret: [u8; 32] = secret.try_into().map_err(|_| StoreError::Corrupt {
                seq: 0,
                detail: "a subject secret is not 32 bytes".into(),
            })?;
            out.insert(id, (secret, r.try_get(2)?));
        }
        Ok(out)
    }

    async fn find_idempotency(
        &self,
        keys: &[&str],
        now: i64,
    ) -> Result<HashMap<String, IdempotencyHit>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(include_str!("postgres/find_idempotency.sql"))
            .bind(owned(keys))
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            out.insert(
                r.try_get(0)?,
                IdempotencyHit {
                    request_hash: r.try_get(1)?,
                    seq: r.try_get::<i64, _>(2)? as u64,
                    hash: r.try_get(3)?,
                },
            );
        }
        Ok(out)
    }

    async fn scrub_erased(&self) -> Result<(), StoreError> {
        let pending: Vec<(String, String)> =
            sqlx::query_as(include_str!("postgres/scrub_pending.sql"))
                .fetch_all(&self.pool)
                .await?;
        for (relation, erased_by) in pending {
            // Names come from our own tables (`tableoid::regclass`), but an
            // identifier cannot be bound: take only what a name can be.
            let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
            if relation.is_empty() || !relation.chars().all(|c| plain(c) || c == '.') {
                return Err(StoreError::Io(format!(
                    "refusing to rewrite {relation:?}: not a table name of this ledger"
                )));
            }
            self.wait_for_younger_snapshots(&relation).await?;
            // Rewrites the table and its indexes into new files; the old
            // ones are truncated and removed, dead tuples with them.
            sqlx::query(&format!("VACUUM (FULL) {relation}"))
                .execute(&self.pool)
                .await?;
            sqlx::query(include_str!("postgres/scrub_done.sql"))
                .bind(&relation)
                .bind(&erased_by)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn find_evidence(&self, seq: u64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(include_str!("postgres/find_evidence.sql"))
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn create_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query(include_str!("postgres/create_api_key.sql"))
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.secret_hash[..])
            .bind(&key.scopes)
            .bind(&key.created_at)
            .bind(&key.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows: Vec<ApiKeyTuple> = sqlx::query_as(include_str!("postgres/list_api_keys.sql"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(ApiKeyRow::from).collect())
    }

    async fn revoke_api_key(&self, id: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        sqlx::query(include_str!("postgres/revoke_api_key.sql"))
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        self.find_api_key(id).await
    }

    async fn touch_api_keys(&self, used: &[(String, String)]) -> Result<(), StoreError> {
        for (id, at) in used {
            sqlx::query(include_str!("postgres/touch_api_key.sql"))
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn lookup_pseudonym(&self, subject_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(include_str!("postgres/lookup_pseudonym.sql"))
                .bind(subject_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn any_api_key(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(include_str!("postgres/any_api_key.sql"))
            .fetch_one(&self.pool)
            .await?)
    }

    async fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row: Option<ApiKeyTuple> = sqlx::query_as(include_str!("postgres/find_api_key.sql"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(ApiKeyRow::from))
    }

    async fn commit(&self, batch: &CommitBatch) -> Result<(), StoreError> {
        let first_seq = batch.entries.first().map_or(0, |e| e.seq);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::from_write(e, first_seq))?;
        let written = write_batch(&mut conn, batch).await;
        if written.is_err() {
            // The connection may be half-closed or mid-transaction: a
            // fresh one serves the next batch.
            conn.close_on_drop();
        }
        written
    }

    async fn read_tiles(
        &self,
        wanted: &[TileKey],
    ) -> Result<HashMap<TileKey, Vec<u8>>, StoreError> {
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(include_str!("postgres/read_tiles.sql"))
            .bind(wanted.iter().map(|t| t.0 as i32).collect::<Vec<_>>())
            .bind(wanted.iter().map(|t| t.1 as i64).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let key = (r.get::<i32, _>(0) as u32, r.get::<i64, _>(1) as u64);
                (key, r.get::<Vec<u8>, _>(2))
            })
            .collect())
    }

    async fn tree_size(&self) -> Result<u64, StoreError> {
        let last: Option<(i64, i32)> = sqlx::query_as(include_str!("postgres/tree_size.sql"))
            .fetch_optional(&self.pool)
            .await?;
        Ok(last.map_or(0, |(idx, len)| idx as u64 * 256 + len as u64 / 32))
    }

    async fn put_tiles(&self, tiles: &[TileWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert_tiles(&mut tx, tiles).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_checkpoint(&self, c: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(include_str!("postgres/save_checkpoint.sql"))
            .bind(c.size as i64)
            .bind(&c.root[..])
            .bind(&c.note)
            .bind(&c.published_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_checkpoint_note(
        &self,
        size: u64,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(include_str!("postgres/update_checkpoint_note.sql"))
            .bind(size as i64)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(include_str!("postgres/latest_checkpoint.sql"))
            .fetch_optional(&self.pool)
            .await?;
        row.map(checkpoint_row).transpose()
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(include_str!("postgres/checkpoint_at.sql"))
            .bind(size as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(checkpoint_row).transpose()
    }

    async fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(include_str!("postgres/cursor.sql"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(next.map(|n| n as u64))
    }

    async fn save_cursor(&self, name: &str, next_seq: u64) -> Result<(), StoreError> {
        sqlx::query(include_str!("postgres/save_cursor.sql"))
            .bind(name)
            .bind(next_seq as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        sqlx::query(include_str!("postgres/record_dead_letter.sql"))
            .bind(letter.seq as i64)
            .bind(&letter.recipient)
            .bind(letter.attempts as i32)
            .bind(&letter.last_error)
            .bind(&letter.failed_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(i64, String, i32, String, String)> =
            sqlx::query_as(include_str!("postgres/dead_letters.sql"))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, recipient, attempts, last_error, failed_at)| DeadLetter {
                    seq: seq as u64,
                    recipient,
                    attempts: attempts as u32,
                    last_error,
                    failed_at,
                },
            )
            .collect())
    }

    async fn lock_appends(&self) -> Result<bool, StoreError> {
        let mut held = self.appender.lock().await;
        if held.is_none() {
            let mut conn = self.pool.acquire().await?;
            sqlx::query(include_str!("postgres/lock_appends.sql"))
                .execute(&mut *conn)
                .await?;
            *held = Some(conn);
        }
        Ok(true)
    }

    async fn close(&self) {
        // Bounded: a connection still checked out elsewhere must not hold
        // the process up at exit.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pool.close()).await;
    }

    async fn unlock_appends(&self) {
        let Some(mut conn) = self.appender.lock().await.take() else {
            return;
        };
        let unlocked = sqlx::query(include_str!("postgres/unlock_appends.sql"))
            .execute(&mut *conn)
            .await;
        if let Err(e) = unlocked {
            // Closing the session is what releases the lock then.
            warn!(error = %e, "releasing the append lock failed; closing its connection");
            drop(conn.detach());
        }
    }

    fn shared_head(&self) -> Option<watch::Receiver<u64>> {
        Some(self.head.clone())
    }
}
