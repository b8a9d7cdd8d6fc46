//! [`Ledger`]: the handle services and the CLI hold. Opening it replays the
//! log (creating the genesis entry and first key for an empty one) and
//! starts the group-commit writer.

use std::sync::Arc;

use consent_domain::event::LossAccepted;
use consent_domain::Submission;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{info, instrument, warn};

use crate::signed_memory::SignedCheckpoint;

use crate::checkpointer::{CheckpointConfig, Checkpointer};
use crate::error::LedgerError;
use crate::format::RecordedBy;
use crate::keys::KeyStore;
use crate::replay::{replay, Replayed};
use crate::store::{Store, StoreError, WriterClaim};
use crate::tasks::{StillRunning, Tasks};
use crate::tree::build_missing_tiles;
use crate::writer::{AppendResult, Committed, Core, Request, Writer, WriterHealth};

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The ledger's name (its origin), written into the genesis entry.
    pub name: String,
    /// Most requests folded into one transaction.
    pub max_batch: usize,
    /// When checkpoints are published and which keys sign them.
    pub checkpoints: CheckpointConfig,
    /// Accept, with this reason, that the store lost entries the key
    /// directory remembers signing (`consent recover accept-loss`): a
    /// `loss_accepted` entry records it before anything else is appended.
    /// Without it such a store is refused (`store_rolled_back`).
    pub accept_loss: Option<String>,
    /// Maintain the Merkle tree in the append path. Only a benchmark's
    /// baseline turns this off: such a ledger stores no tiles, publishes
    /// no checkpoints and can give no proofs or receipts.
    #[doc(hidden)]
    pub merkle_tree: bool,
    /// How long an idempotency key is remembered (default 7 days).
    pub idempotency_ttl: std::time::Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            name: "localhost/consent-ledger".into(),
            max_batch: 4096,
            checkpoints: CheckpointConfig::default(),
            accept_loss: None,
            merkle_tree: true,
            idempotency_ttl: crate::idempotency::DEFAULT_TTL,
        }
    }
}

/// A running ledger. Cheap to clone; the writer stops at
/// [`Ledger::shutdown`] or when every clone is dropped, after answering
/// what it has already taken.
pub struct Ledger<S> {
    store: Arc<S>,
    tx: mpsc::Sender<Request>,
    committed: watch::Receiver<u64>,
    feed: broadcast::Sender<Arc<[Committed]>>,
    name: String,
    checkpointer: Arc<Checkpointer<S>>,
    health: watch::Receiver<WriterHealth>,
    /// The `loss_accepted` entry this open appended: (its seq, the size of
    /// the checkpoint whose loss it records).
    loss_recorded: Option<(u64, u64)>,
    /// This process's right to append (single-writer stores).
    _claim: Arc<WriterClaim>,
    /// The writer, the checkpointer and the followers, and their stop.
    tasks: Arc<Tasks>,
}

impl<S> Clone for Ledger<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            tx: self.tx.clone(),
            committed: self.committed.clone(),
            feed: self.feed.clone(),
            name: self.name.clone(),
            checkpointer: self.checkpointer.clone(),
            health: self.health.clone(),
            loss_recorded: self.loss_recorded,
            _claim: self._claim.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<S: Store> Ledger<S> {
    #[instrument(skip_all, fields(ledger = %config.name))]
    pub async fn open(store: S, keys: KeyStore, config: LedgerConfig) -> Result<Self, LedgerError> {
        let store = Arc::new(store);
        let claim = Arc::new(store.claim_writer().await?);
        // Read before the replay: another writer sharing the key directory
        // may remember a larger checkpoint by the time the replay ends.
        let remembered = recalled(&keys)?;
        let mut replayed = replay(&*store).await?;
        if replayed.active_key.is_none() {
            // The name is the origin of every checkpoint: a note key name.
            if !crate::tlog::note::valid_name(&config.name)
                || config.name.chars().any(char::is_control)
            {
                return Err(LedgerError::InvalidName(config.name));
            }
            let mut core = Core {
                log: Replayed::empty(),
                key: keys.generate()?,
                keys: keys.clone(),
                tree: true,
                key_ttl: config.idempotency_ttl,
            };
            let batch = core.genesis(&config.name);
            match store.commit(&batch).await {
                Ok(()) => {
                    info!(key_id = %core.key.id, "created genesis entry and first signing key")
                }
                // Another process sharing the database created it first.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            replayed = replay(&*store).await?;
        }
        let active = replayed.active_key.clone().ok_or(LedgerError::Corrupt {
            seq: 0,
            detail: "no genesis entry".into(),
        })?;
        let name = replayed
            .ledger
            .clone()
            .unwrap_or_else(|| config.name.clone());
        let built = build_missing_tiles(&*store).await?;
        if built > 0 {
            info!(
                leaves = built,
                "stored the Merkle tree tiles the log lacked"
            );
        }
        // A loss already on record (a crash before the remembered
        // checkpoint was set aside): set it aside now.
        if let Some(known) = remembered
            .as_ref()
            .filter(|k| replayed.losses_accepted.contains(&k.note))
        {
            crate::signed_memory::set_aside(keys.dir(), known)
                .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        }
        let lost = match trust_the_store(&*store, remembered.clone(), &replayed).await {
            Ok(()) => None,
            Err(LedgerError::StoreRolledBack { detail }) => match &config.accept_loss {
                Some(reason) => Some((remembered.clone(), reason.clone(), detail)),
                None => return Err(LedgerError::StoreRolledBack { detail }),
            },
            Err(e) => return Err(e),
        };
        let (tree_head, heads) = watch::channel(replayed.tree_head());
        let checkpointer = Checkpointer::new(
            store.clone(),
            keys.clone(),
            name.clone(),
            config.checkpoints.clone(),
            heads,
        )
        .await?;
        let core = Box::new(Core {
            key: keys.load(&active)?,
            log: replayed,
            keys,
            tree: config.merkle_tree,
            key_ttl: config.idempotency_ttl,
        });
        let next = core.log.head.next_seq;
        let head_hash = core.log.head.prev.clone();
        info!(
            entries = next,
            subjects = core.log.state.subject_count(),
            "ledger opened"
        );
        let (committed_tx, committed) = watch::channel(next.saturating_sub(1));
        let (tx, rx) = mpsc::channel(65_536);
        let (feed, _) = broadcast::channel(1024);
        let (health_tx, health) = watch::channel(WriterHealth::default());
        let mut writer = Writer {
            store: store.clone(),
            core: Some(core),
            max_batch: config.max_batch.max(1),
            committed: committed_tx,
            feed: feed.clone(),
            lock_held_since: None,
            tree_head,
            health: health_tx,
            failure: None,
            published_hash: hex::decode(&head_hash)
                .ok()
                .and_then(|h| h.try_into().ok())
                .unwrap_or([0; 32]),
            scrub_due: false,
            keys_expired_at: None,
        };
        // An erasure committed just before a crash may not have been
        // scrubbed from the files yet.
        if let Err(e) = store.scrub_erased().await {
            warn!(error = %e, "erased rows could not be scrubbed from the files yet; will retry");
            writer.scrub_due = true;
        }
        // The reserve is taken before the first append; on a disk already
        // full the writer starts closed and opens once space is back.
        if let Err(e) = store.restore_reserve().await {
            writer.start_closed(&e.into()).await;
        }
        let tasks = Arc::new(Tasks::new());
        tasks.spawn(writer.run(rx, tasks.stopping()));
        let mut ledger = Self {
            store,
            tx,
            committed,
            feed,
            name,
            checkpointer,
            health,
            loss_recorded: None,
            _claim: claim,
            tasks,
        };
        if let Some((Some(known), reason, detail)) = lost {
            let size = known.size;
            let seq = ledger.record_loss(known, reason, &detail).await?;
            ledger.loss_recorded = Some((seq, size));
        }
        // Only now: nothing is signed onto a rolled-back store before its
        // loss is on record.
        if config.merkle_tree {
            let checkpointer = ledger.checkpointer.clone();
            ledger
                .tasks
                .spawn(checkpointer.run(ledger.tasks.stopping()));
        }
        Ok(ledger)
    }

    /// Stops the ledger's tasks and waits up to `bound` for them: the
    /// writer refuses new requests (`writer_stopped`), answers and commits
    /// every one already queued; the checkpointer finishes a checkpoint it
    /// is publishing; followers started with [`Ledger::spawn`] stop between
    /// batches. Every clone sees it. Safe to call more than once.
    pub async fn shutdown(&self, bound: std::time::Duration) -> Result<(), StillRunning> {
        self.tasks.shutdown(bound).await
    }

    /// Runs `task` as one of the ledger's: it should watch
    /// [`Ledger::stopping`] and return soon after it is set, and
    /// [`Ledger::shutdown`] waits for it.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// The stop signal of [`Ledger::shutdown`], for tasks that follow the
    /// ledger (wait on it with [`crate::tasks::stopped`]).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.tasks.stopping()
    }

    /// Appends `loss_accepted` for the remembered checkpoint the store no
    /// longer extends, then sets the remembered checkpoint aside.
    async fn record_loss(
        &self,
        known: SignedCheckpoint,
        reason: String,
        detail: &str,
    ) -> Result<u64, LedgerError> {
        let (reply, answer) = oneshot::channel();
        // `kept` is set by the writer: the entries before this one.
        let event = LossAccepted {
            checkpoint: known.note.clone(),
            kept: 0,
            reason,
        };
        self.tx
            .send(Request::AcceptLoss { event, reply })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        let appended = answer
            .await
            .map_err(|_| LedgerError::WriterStopped)??
            .map_err(|r| LedgerError::Unavailable(r.to_string()))?;
        let kept = crate::signed_memory::set_aside(self.checkpointer.keys_dir(), &known)
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        warn!(seq = appended.seq, checkpoint = known.size, %detail, kept = %kept.display(),
            "recorded the accepted loss of signed entries");
        Ok(appended.seq)
    }

    /// The `loss_accepted` entry this open appended (`accept_loss`): its
    /// seq and the size of the lost checkpoint.
    pub fn loss_recorded(&self) -> Option<(u64, u64)> {
        self.loss_recorded
    }

    /// Whether the writer takes appends (and why not), as it changes.
    pub fn health(&self) -> watch::Receiver<WriterHealth> {
        self.health.clone()
    }

    /// Appends one submission asked for locally (`recorded_by: local`).
    /// The answer comes once it is durable.
    pub async fn append(
        &self,
        submission: Submission,
        idempotency_key: Option<crate::idempotency::IdempotencyKey>,
    ) -> AppendResult {
        self.append_by(submission, idempotency_key, RecordedBy::Local)
            .await
    }

    /// Appends one submission; the entry records who asked for it. The
    /// answer comes once it is durable.
    #[instrument(skip_all, fields(kind = submission.kind(), idempotent = idempotency_key.is_some()))]
    pub async fn append_by(
        &self,
        submission: Submission,
        idempotency_key: Option<crate::idempotency::IdempotencyKey>,
        recorded_by: RecordedBy,
    ) -> AppendResult {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Append {
                submission,
                idempotency_key,
                recorded_by,
                reply,
            })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        answer.await.map_err(|_| LedgerError::WriterStopped)?
    }

    /// Queues one submission and returns at once with the future of its
    /// answer. Submissions queued from one task are decided in queue order,
    /// so a caller can stream many and still rely on their order.
    pub async fn enqueue(
        &self,
        submission: Submission,
        idempotency_key: Option<crate::idempotency::IdempotencyKey>,
    ) -> Result<impl std::future::Future<Output = AppendResult>, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Append {
                submission,
                idempotency_key,
                recorded_by: RecordedBy::Local,
                reply,
            })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        Ok(async move { answer.await.map_err(|_| LedgerError::WriterStopped)? })
    }

    /// Introduces a new signing key with an entry signed by the current one.
    #[instrument(skip_all)]
    pub async fn rotate_key(&self) -> AppendResult {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::RotateKey { reply })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        answer.await.map_err(|_| LedgerError::WriterStopped)?
    }

    /// Records that a recipient confirmed a notification. Idempotent per
    /// (entry, recipient): a repeat returns the original entry, `replayed`.
    #[instrument(skip_all, fields(entry = event.entry, recipient = %event.recipient))]
    pub async fn record_notification(
        &self,
        event: consent_domain::event::RecipientNotified,
    ) -> AppendResult {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::RecordNotification { event, reply })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        answer.await.map_err(|_| LedgerError::WriterStopped)?
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Committed entries, batch by batch, as they commit: in-process
    /// delivery to projections. A subscriber that falls behind gets
    /// `Lagged` and must catch up from the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Committed]>> {
        self.feed.subscribe()
    }

    /// Signs, stores and announces checkpoints of the tree.
    pub fn checkpointer(&self) -> &Arc<Checkpointer<S>> {
        &self.checkpointer
    }

    /// The sequence number of the last committed entry, as it changes.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }
}

/// What a writer checks before it appends onto a stored log (the replay
/// already checked every sequence number, link and stored hash column):
/// the head entry's hash and signature, the stored tree's root against the
/// entries', and that the log extends the checkpoint the key directory
/// remembers signing.
pub(crate) async fn trust_the_store<S: Store>(
    store: &S,
    known: Option<SignedCheckpoint>,
    replayed: &Replayed,
) -> Result<(), LedgerError> {
    let size = replayed.head.next_seq;
    if size == 0 {
        return Ok(());
    }
    let head = store.read_lines(size - 1, 1).await?;
    let row = head.first().ok_or(LedgerError::Corrupt {
        seq: size - 1,
        detail: "the head entry cannot be read back".into(),
    })?;
    replayed.check_signed(row)?;
    let reader = crate::tree::TreeReader::default();
    if reader.root(store, size).await? != replayed.tree.root() {
        return Err(LedgerError::Corrupt {
            seq: size - 1,
            detail: "the stored Merkle tree's root differs from the entries'; run `consent verify`"
                .into(),
        });
    }
    if let Some(known) = known.filter(|k| !replayed.losses_accepted.contains(&k.note)) {
        if known.size > size {
            return Err(LedgerError::StoreRolledBack {
                detail: format!(
                    "the store holds {size} entries but this ledger signed checkpoint {} ({} entries) before: entries {size}..{} are gone",
                    known.size,
                    known.size,
                    known.size - 1
                ),
            });
        }
        if reader.root(store, known.size).await? != known.root {
            return Err(LedgerError::StoreRolledBack {
                detail: format!(
                    "the store's first {} entries are not those of checkpoint {} this ledger signed: history was rewritten",
                    known.size, known.size
                ),
            });
        }
    }
    Ok(())
}

/// The checkpoint the key directory remembers signing.
pub(crate) fn recalled(keys: &KeyStore) -> Result<Option<SignedCheckpoint>, LedgerError> {
    crate::signed_memory::recall(keys.dir()).map_err(|e| LedgerError::Unavailable(e.to_string()))
}
