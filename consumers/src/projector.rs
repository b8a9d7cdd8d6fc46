//! Keeps the consent projection current in process: folds the stored log
//! at start, then every committed batch from the ledger's feed; catches up
//! from the store when it falls behind (a lagged feed or a gap).
//! Subscribing before the initial fold means nothing committed in between
//! is missed; applying is idempotent, so anything seen twice is harmless.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use consent_ledger::format::EntryLine;
use consent_ledger::{Ledger, Store, StoreError};
use consent_projections::ApplyError;
use consent_projections::ConsentProjection;
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored entry {seq} cannot be read: {detail}")]
    Corrupt { seq: u64, detail: String },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The live read model and its checkpoint, shared by request handlers.
pub struct LiveProjection {
    /// The model behind a `std` (not async) lock, on purpose: a decision
    /// reads it for well under a microsecond and the projector writes one
    /// committed batch at a time, so no holder ever waits on I/O or
    /// `.await`s with it held, and a blocking lock is cheaper than an async
    /// one on the decision path. Rule for every user: take it, read or
    /// apply, drop it; never across an `.await`.
    pub model: RwLock<ConsentProjection>,
    checkpoint: watch::Sender<Option<u64>>,
}

impl LiveProjection {
    /// An empty projection (checkpoint: nothing applied).
    pub fn new() -> Self {
        Self {
            model: RwLock::new(ConsentProjection::new()),
            checkpoint: watch::channel(None).0,
        }
    }

    /// Announces what the model has applied to those waiting on it.
    pub fn publish_checkpoint(&self) {
        let checkpoint = self.model.read().expect("projection lock").checkpoint();
        self.checkpoint.send_replace(checkpoint);
    }

    pub fn checkpoint(&self) -> Option<u64> {
        *self.checkpoint.borrow()
    }

    /// Waits until the projection has applied entry `seq`, at most `limit`.
    /// Returns whether it has.
    pub async fn wait_for(&self, seq: u64, limit: Duration) -> bool {
        let mut rx = self.checkpoint.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|c| c.is_some_and(|c| c >= seq)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Applies one page of stored entries after the model's checkpoint;
/// returns how many there were (0: caught up).
pub async fn apply_next_page<S: Store>(
    store: &S,
    model: &RwLock<ConsentProjection>,
) -> Result<usize, ProjectorError> {
    let from = model
        .read()
        .expect("projection lock")
        .checkpoint()
        .map_or(0, |c| c + 1);
    let page = store.read_lines(from, 8192).await?;
    let mut model = model.write().expect("projection lock");
    for row in &page {
        let corrupt = |detail: String| ProjectorError::Corrupt {
            seq: row.seq,
            detail,
        };
        let entry = EntryLine::parse(&row.line).map_err(|e| corrupt(e.to_string()))?;
        let hash: [u8; 32] = row
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("hash column is not 32 bytes".into()))?;
        model.apply(entry.seq, entry.recorded_at, hash, &entry.event)?;
    }
    Ok(page.len())
}

/// Applies stored entries after the projection's checkpoint.
async fn catch_up<S: Store>(store: &S, projection: &LiveProjection) -> Result<(), ProjectorError> {
    while apply_next_page(store, &projection.model).await? > 0 {
        let checkpoint = projection
            .model
            .read()
            .expect("projection lock")
            .checkpoint();
        projection.checkpoint.send_replace(checkpoint);
    }
    Ok(())
}

/// Builds the projection from the store and keeps it current, as one of
/// the ledger's tasks (it stops at [`Ledger::shutdown`], between batches).
pub async fn start<S: Store>(ledger: &Ledger<S>) -> Result<Arc<LiveProjection>, ProjectorError> {
    // Subscribe before reading the store so nothing committed in between is missed.
    let mut feed = ledger.subscribe();
    let projection = Arc::new(LiveProjection::new());
    catch_up(&**ledger.store(), &projection).await?;
    info!(checkpoint = ?projection.checkpoint(), "projection built");
    let store = ledger.store().clone();
    let live = projection.clone();
    let mut stop = ledger.stopping();
    ledger.spawn(async move {
        loop {
            let received = tokio::select! {
                received = feed.recv() => received,
                () = consent_ledger::tasks::stopped(&mut stop) => break,
            };
            match received {
                Ok(batch) => {
                    let mut behind = false;
                    {
                        let mut model = live.model.write().expect("projection lock");
                        for c in batch.iter() {
                            if model.apply(c.seq, c.recorded_at, c.hash, &c.event).is_err() {
                                behind = true;
                                break;
                            }
                        }
                        live.checkpoint.send_replace(model.checkpoint());
                    }
                    if behind {
                        if let Err(e) = catch_up(&*store, &live).await {
                            warn!(error = %e, "projection catch-up failed");
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        missed_batches = n,
                        "projection fell behind the feed; catching up from the store"
                    );
                    if let Err(e) = catch_up(&*store, &live).await {
                        warn!(error = %e, "projection catch-up failed");
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Ok(projection)
}

impl Default for LiveProjection {
    fn default() -> Self {
        Self::new()
    }
}
