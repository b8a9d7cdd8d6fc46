//! SQLite engine: one file, WAL journal, `synchronous = FULL` so that an
//! acknowledged commit survives power loss, not only a process crash.

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::oneshot;

use super::{
    ApiKeyRow, ApiKeyTuple, CommitBatch, DeadLetter, Head, IdempotencyHit, Store, StoreError,
    StoredCheckpoint, StoredLine, TileKey, WriterClaim,
};
use crate::tlog::TileWrite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// A scrub after an erasure waits for older readers at most SCRUB_WAIT in
/// all (the writer retries it later), SCRUB_TRY per checkpoint.
const SCRUB_WAIT: Duration = Duration::from_secs(2);
const SCRUB_TRY: Duration = Duration::from_millis(200);

/// The tail of the request-key INSERT (both dialects): see
/// `insert_idempotency.sql` of the PostgreSQL engine.
const REPLACE_EXPIRED_KEY: &str = include_str!("sqlite/replace_expired_key.sql");

/// Rows per multi-row INSERT: stays under SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

/// Two pools on one file: `writer` is the single connection the group
/// commit uses (its look-ups too, so its page cache stays warm: in WAL mode
/// a connection that sees another's commit discards its cache), `readers`
/// serve verify, export and queries.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
    /// Stops the background checkpointer when the last clone is dropped.
    _checkpointer: Arc<oneshot::Sender<()>>,
    /// The database file (None in memory).
    path: Option<PathBuf>,
}

/// How often the background task folds the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Past this size the WAL is checkpointed with TRUNCATE (which waits for
/// the writer's current transaction and holds the next one back for the
/// few milliseconds it takes), and a WAL that restarts is cut back to it.
const WAL_LIMIT: u64 = 64 << 20;

/// Bytes kept in reserve beside the database (`<db>-reserve`), released
/// when the disk fills so the WAL checkpoint and the error path can write;
/// `CONSENT_DISK_RESERVE_MIB` overrides the default of 8 MiB.
fn reserve_bytes() -> u64 {
    std::env::var("CONSENT_DISK_RESERVE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(8)
        << 20
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `sqlite://PATH` and
    /// applies the embedded migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, SqliteSynchronous::Full).await
    }

    /// For a copy that can be rebuilt from elsewhere (a decision node's
    /// replica, refilled from Kafka): `synchronous = NORMAL`, so a commit
    /// is atomic but not fsynced; a crash may lose the last few commits,
    /// and the positions written with them, never only one of the two.
    ///
    /// A replica takes entries in the order they arrive from Kafka's
    /// partitions, before the gaps between them fill (its node verifies
    /// them as they become contiguous), so it has no chain trigger: the
    /// system of record enforces the chain; a replica is checked by
    /// `consent verify`.
    pub async fn open_replica(url: &str) -> Result<Self, StoreError> {
        let store = Self::open_with(url, SqliteSynchronous::Normal).await?;
        sqlx::query("DROP TRIGGER IF EXISTS entries_extend_chain")
            .execute(&store.writer)
            .await?;
        Ok(store)
    }

    async fn open_with(url: &str, synchronous: SqliteSynchronous) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(super::redacted(url)));
        }
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .filter(|p| !p.is_empty() && !p.contains(":memory:"))
            .map(PathBuf::from);
        create_private(path.as_deref())?;
        private_files(path.as_deref());
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            // 64 MiB of page cache per connection: index pages stay in memory.
            .pragma("cache_size", "-65536")
            // Deleted content is overwritten with zeros, freed pages too:
            // an erased subject's row leaves no bytes in the file.
            .pragma("secure_delete", "ON")
            .foreign_keys(true);
        // The writer never checkpoints inline (a checkpoint in the middle
        // of a commit is a multi-millisecond stall on the append path); a
        // background task does it on a reader connection instead.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", WAL_LIMIT.to_string()),
            )
            .await?;
        MIGRATOR.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(checkpointer(pool.clone(), path.clone(), stopped));
        Ok(Self {
            pool,
            writer,
            _checkpointer: Arc::new(stop),
            path,
        })
    }
}

/// Folds the WAL into the database file every [`CHECKPOINT_EVERY`] until
/// the store is dropped: PASSIVE, which never blocks the writer, and
/// TRUNCATE once the WAL is past [`WAL_LIMIT`] (under sustained load a
/// PASSIVE checkpoint never catches up with the writer, and the WAL would
/// grow without bound).
async fn checkpointer(pool: SqlitePool, path: Option<PathBuf>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    let wal = path.map(|p| suffixed(&p, "-wal"));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let large = wal
                    .as_ref()
                    .and_then(|w| std::fs::metadata(w).ok())
                    .is_some_and(|m| m.len() > WAL_LIMIT);
                let mode = if large { "TRUNCATE" } else { "PASSIVE" };
                let pragma = format!("PRAGMA wal_checkpoint({mode})");
                if let Err(e) = sqlx::query(&pragma).execute(&pool).await {
                    tracing::warn!(error = %e, mode, "WAL checkpoint failed; will retry");
                }
            }
        }
    }
}

/// `<path><suffix>`: SQLite's side files and ours.
fn suffixed(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a missing database file readable by its owner only, whatever
/// the umask, before SQLite opens it (SQLite gives the -wal and -shm it
/// creates the database file's mode).
fn create_private(path: Option<&std::path::Path>) -> Result<(), StoreError> {
    let Some(path) = path else { return Ok(()) };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io(format!("creating {}: {e}", path.display()))),
    }
}

/// The database and its side files hold subject ids, secrets and evidence:
/// readable by the owner only. A ledger found readable by others (made
/// before this rule, or changed by hand) is made private, with a warning.
fn private_files(path: Option<&std::path::Path>) {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = path else { return };
    for suffix in ["", "-wal", "-shm", "-writer.lock", "-reserve"] {
        let file = suffixed(path, suffix);
        if let Ok(meta) = std::fs::metadata(&file) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %file.display(),
                    mode = format!("{mode:o}"),
                    "the ledger's file was readable by others; made private (0600)"
                );
                let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}

/// Writes the reserve file in full and syncs it; on a full disk removes
/// what was written and reports [`StoreError::Full`].
fn write_reserve(path: &std::path::Path, bytes: u64) -> Result<(), StoreError> {
    use std::io::Write;
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= bytes) {
        return Ok(());
    }
    // Taken back only with as much again free beside it: appends resume
    // when there is room for them, not the moment the reserve fits.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Ok(fs) = rustix::fs::statvfs(dir.unwrap_or(std::path::Path::new("."))) {
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        if free < bytes.saturating_mul(2) {
            return Err(StoreError::Full(format!(
                "{} MiB free; appends resume with at least {} MiB",
                free >> 20,
                (bytes * 2) >> 20
            )));
        }
    }
    let attempt = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(path)?;
        // Allocated blocks, not a sparse or compressible file; written out
        // where the filesystem cannot allocate.
        let allocated = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes);
        match allocated {
            Ok(()) => return file.sync_all(),
            Err(e) if e == rustix::io::Errno::NOSPC => return Err(e.into()),
            Err(_) => {}
        }
        let chunk = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    };
    attempt().map_err(|e| {
        let _ = std::fs::remove_file(path);
        if e.raw_os_error() == Some(28) {
            StoreError::Full(format!("no room for the {} MiB reserve", bytes >> 20))
        } else {
            StoreError::Io(format!("the disk reserve could not be written: {e}"))
        }
    })
}

fn lines(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<StoredLine>, StoreError> {
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

fn json_list(items: &[&str]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

fn checkpoint_row(r: sqlx::sqlite::SqliteRow) -> Result<StoredCheckpoint, StoreError> {
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
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    tiles: &[TileWrite],
) -> Result<(), StoreError> {
    for chunk in tiles.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO tiles (level, idx, hashes) ");
        q.push_values(chunk, |mut b, t| {
            b.push_bind(t.level as i64)
                .push_bind(t.index as i64)
                .push_bind(&t.hashes);
        });
        q.push(" ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes");
        q.build()
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::from_write(e, 0))?;
    }
    Ok(())
}

/// Writes one batch in one transaction on the writer's connection.
async fn write_batch(
    conn: &mut sqlx::pool::PoolConnection<Sqlite>,
    batch: &CommitBatch,
) -> Result<(), StoreError> {
    let first_seq = batch.entries.first().map_or(0, |e| e.seq);
    let w = |e| StoreError::from_write(e, first_seq);
    let mut tx = sqlx::Connection::begin(&mut **conn).await.map_err(w)?;
    for chunk in batch.entries.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO entries (seq, recorded_at, hash, subject, kind, line) ",
        );
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.seq as i64)
                .push_bind(&e.recorded_at)
                .push_bind(&e.hash[..])
                .push_bind(&e.subject)
                .push_bind(e.kind)
                .push_bind(&e.line);
        });
        q.build().execute(&mut *tx).await.map_err(w)?;
    }
    for chunk in batch.subjects.chunks(ROWS_PER_STATEMENT) {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO subjects (subject_id, secret, pseudonym) ");
        q.push_values(chunk, |mut b, s| {
            b.push_bind(&s.subject_id)
                .push_bind(&s.secret[..])
                .push_bind(&s.pseudonym);
        });
        q.build().execute(&mut *tx).await.map_err(w)?;
    }
    for chunk in batch.evidence.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO evidence (seq, reference, pseudonym, salt, content, sealed) ",
        );
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.seq as i64)
                .push_bind(&e.reference)
                .push_bind(&e.pseudonym)
                .push_bind(&e.salt[..])
                .push_bind(&e.content)
                .push_bind(1i64);
        });
        q.build().execute(&mut *tx).await.map_err(w)?;
    }
    for chunk in batch.idempotency.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO request_keys (key_hash, request_hash, seq, pseudonym, expires_at) ",
        );
        q.push_values(chunk, |mut b, i| {
            b.push_bind(&i.key_hash)
                .push_bind(&i.request_hash[..])
                .push_bind(i.seq as i64)
                .push_bind(&i.pseudonym)
                .push_bind(i.expires_at);
        });
        // A key that expired but was not yet swept is taken over.
        q.push(REPLACE_EXPIRED_KEY);
        q.build().execute(&mut *tx).await.map_err(w)?;
    }
    for erasure in &batch.erase {
        sqlx::query(include_str!("sqlite/erase_subject.sql"))
            .bind(&erasure.subject_id)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        sqlx::query(include_str!("sqlite/erase_evidence.sql"))
            .bind(serde_json::to_string(&erasure.evidence_seqs).expect("numbers serialise"))
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        sqlx::query(include_str!("sqlite/erase_request_keys.sql"))
            .bind(&erasure.pseudonym)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    if let Some(before) = batch.expire_keys_before {
        sqlx::query(include_str!("sqlite/expire_request_keys.sql"))
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    upsert_tiles(&mut tx, &batch.tiles).await?;
    for (name, next) in &batch.cursors {
        sqlx::query(include_str!("sqlite/save_cursor.sql"))
            .bind(name)
            .bind(*next as i64)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
    }
    tx.commit().await.map_err(w)?;
    Ok(())
}

impl SqliteStore {
    async fn read_range(&self, from_seq: u64, limit: u32) -> Result<Vec<StoredLine>, StoreError> {
        let rows = sqlx::query(include_str!("sqlite/read_lines.sql"))
            .bind(from_seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        lines(rows)
    }

    /// Reads entry by entry to find the first one the damage `first`
    /// (met reading the whole range) makes unreadable.
    async fn readable_prefix(
        &self,
        from_seq: u64,
        limit: u32,
        first: StoreError,
    ) -> Result<Vec<StoredLine>, StoreError> {
        let mut out = Vec::new();
        let mut next = from_seq;
        while out.len() < limit as usize {
            match self.read_range(next, 1).await {
                Ok(mut one) => match one.pop() {
                    Some(row) => {
                        next = row.seq + 1;
                        out.push(row);
                    }
                    None => break,
                },
                Err(e) if e.is_damage() => {
                    if out.is_empty() {
                        return Err(StoreError::Corrupt {
                            seq: next,
                            detail: format!("the store cannot read it ({e})"),
                        });
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            return Err(StoreError::Corrupt {
                seq: from_seq,
                detail: format!("the store cannot read it ({first})"),
            });
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let row = sqlx::query(include_str!("sqlite/head.sql"))
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

    /// On damage (a malformed page, a value that does not decode) returns
    /// the entries before the first one it cannot read, or, if that is the
    /// first asked for, [`StoreError::Corrupt`] naming it.
    async fn read_lines(&self, from_seq: u64, limit: u32) -> Result<Vec<StoredLine>, StoreError> {
        match self.read_range(from_seq, limit).await {
            Err(e) if e.is_damage() => self.readable_prefix(from_seq, limit, e).await,
            read => read,
        }
    }

    async fn key_lines(&self) -> Result<Vec<StoredLine>, StoreError> {
        let rows = sqlx::query(include_str!("sqlite/key_lines.sql"))
            .fetch_all(&self.pool)
            .await?;
        lines(rows)
    }

    async fn lines_at(&self, seqs: &[u64]) -> Result<Vec<StoredLine>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(include_str!("sqlite/lines_at.sql"))
            .bind(serde_json::to_string(seqs).expect("numbers serialise"))
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
        let rows = sqlx::query(include_str!("sqlite/find_subjects.sql"))
            .bind(json_list(subject_ids))
            .fetch_all(&self.writer)
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
        let rows = sqlx::query(include_str!("sqlite/find_idempotency.sql"))
            .bind(json_list(keys))
            .bind(now)
            .fetch_all(&self.writer)
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
        // Deleted cells are zeroed (`secure_delete`); what is left are the
        // WAL frames written before the delete. Fold them back and cut the
        // WAL to nothing, on the writer's connection, so that no commit
        // slips in between; readers still on an older snapshot are waited
        // for (busy timeout), and a checkpoint they blocked is retried.
        // Each try waits for readers at most SCRUB_TRY (not the 10 s busy
        // timeout of appends); past SCRUB_WAIT the writer retries later.
        let mut conn = self.writer.acquire().await?;
        sqlx::query(&format!("PRAGMA busy_timeout = {}", SCRUB_TRY.as_millis()))
            .execute(&mut *conn)
            .await?;
        let deadline = std::time::Instant::now() + SCRUB_WAIT;
        let folded = loop {
            let checkpoint: Result<(i64, i64, i64), sqlx::Error> =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *conn)
                    .await;
            match checkpoint {
                Ok((0, _, _)) => break Ok(()),
                Ok(_) if std::time::Instant::now() < deadline => {}
                Ok(_) => {
                    break Err(StoreError::Io(
                        "the WAL could not be truncated after an erasure: readers held it".into(),
                    ))
                }
                Err(e) => break Err(e.into()),
            }
        };
        sqlx::query(&format!(
            "PRAGMA busy_timeout = {}",
            BUSY_TIMEOUT.as_millis()
        ))
        .execute(&mut *conn)
        .await?;
        folded
    }

    async fn find_evidence(&self, seq: u64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(include_str!("sqlite/find_evidence.sql"))
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn create_api_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query(include_str!("sqlite/create_api_key.sql"))
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.secret_hash[..])
            .bind(&key.scopes)
            .bind(&key.created_at)
            .bind(&key.expires_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows: Vec<ApiKeyTuple> = sqlx::query_as(include_str!("sqlite/list_api_keys.sql"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(ApiKeyRow::from).collect())
    }

    async fn revoke_api_key(&self, id: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        sqlx::query(include_str!("sqlite/revoke_api_key.sql"))
            .bind(id)
            .bind(at)
            .execute(&self.writer)
            .await?;
        self.find_api_key(id).await
    }

    async fn touch_api_keys(&self, used: &[(String, String)]) -> Result<(), StoreError> {
        for (id, at) in used {
            sqlx::query(include_str!("sqlite/touch_api_key.sql"))
                .bind(id)
                .bind(at)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    async fn lookup_pseudonym(&self, subject_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(include_str!("sqlite/lookup_pseudonym.sql"))
                .bind(subject_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn any_api_key(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(include_str!("sqlite/any_api_key.sql"))
            .fetch_one(&self.pool)
            .await?)
    }

    async fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row: Option<ApiKeyTuple> = sqlx::query_as(include_str!("sqlite/find_api_key.sql"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(ApiKeyRow::from))
    }

    async fn commit(&self, batch: &CommitBatch) -> Result<(), StoreError> {
        let first_seq = batch.entries.first().map_or(0, |e| e.seq);
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| StoreError::from_write(e, first_seq))?;
        let written = write_batch(&mut conn, batch).await;
        if written.is_err() {
            // After a failed statement SQLite may have rolled the whole
            // transaction back by itself (SQLITE_FULL, I/O errors), and the
            // driver's idea of the transaction may no longer match the
            // connection's: never reuse it.
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
        let rows = sqlx::query(include_str!("sqlite/read_tiles.sql"))
            .bind(serde_json::to_string(wanted).expect("numbers serialise"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let key = (r.get::<i64, _>(0) as u32, r.get::<i64, _>(1) as u64);
                (key, r.get::<Vec<u8>, _>(2))
            })
            .collect())
    }

    async fn tree_size(&self) -> Result<u64, StoreError> {
        let last: Option<(i64, i64)> = sqlx::query_as(include_str!("sqlite/tree_size.sql"))
            .fetch_optional(&self.pool)
            .await?;
        Ok(last.map_or(0, |(idx, len)| idx as u64 * 256 + len as u64 / 32))
    }

    async fn put_tiles(&self, tiles: &[TileWrite]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        upsert_tiles(&mut tx, tiles).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_checkpoint(&self, c: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(include_str!("sqlite/save_checkpoint.sql"))
            .bind(c.size as i64)
            .bind(&c.root[..])
            .bind(&c.note)
            .bind(&c.published_at)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_checkpoint_note(
        &self,
        size: u64,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(include_str!("sqlite/update_checkpoint_note.sql"))
            .bind(size as i64)
            .bind(old)
            .bind(new)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(include_str!("sqlite/latest_checkpoint.sql"))
            .fetch_optional(&self.pool)
            .await?;
        row.map(checkpoint_row).transpose()
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(include_str!("sqlite/checkpoint_at.sql"))
            .bind(size as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(checkpoint_row).transpose()
    }

    async fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(include_str!("sqlite/cursor.sql"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(next.map(|n| n as u64))
    }

    async fn save_cursor(&self, name: &str, next_seq: u64) -> Result<(), StoreError> {
        sqlx::query(include_str!("sqlite/save_cursor.sql"))
            .bind(name)
            .bind(next_seq as i64)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        sqlx::query(include_str!("sqlite/record_dead_letter.sql"))
            .bind(letter.seq as i64)
            .bind(&letter.recipient)
            .bind(letter.attempts as i64)
            .bind(&letter.last_error)
            .bind(&letter.failed_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(i64, String, i64, String, String)> =
            sqlx::query_as(include_str!("sqlite/dead_letters.sql"))
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

    async fn release_reserve(&self) {
        if let Some(path) = &self.path {
            let reserve = suffixed(path, "-reserve");
            if std::fs::remove_file(&reserve).is_ok() {
                tracing::warn!("released the disk reserve");
            }
        }
    }

    async fn restore_reserve(&self) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let reserve = suffixed(path, "-reserve");
        let bytes = reserve_bytes();
        tokio::task::spawn_blocking(move || write_reserve(&reserve, bytes))
            .await
            .map_err(|e| StoreError::Io(e.to_string()))?
    }

    async fn close(&self) {
        // Fold the whole WAL back and cut it to nothing, then close every
        // connection (the last one closing removes the WAL).
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.writer.close().await;
        self.pool.close().await;
    }

    /// One writing process per file: an exclusive lock on `<db>-writer.lock`
    /// (released by the OS when the process ends, however it ends).
    async fn claim_writer(&self) -> Result<WriterClaim, StoreError> {
        let Some(path) = &self.path else {
            return Ok(WriterClaim::default());
        };
        let mut name = path.as_os_str().to_owned();
        name.push("-writer.lock");
        let busy = || StoreError::WriterBusy(path.display().to_string());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(PathBuf::from(name))
            .map_err(|_| busy())?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::Write;
                let _ = file.set_len(0);
                let _ = writeln!(&file, "{}", std::process::id());
                Ok(WriterClaim::file(file))
            }
            Err(_) => Err(busy()),
        }
    }
}
