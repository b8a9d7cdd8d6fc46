//! Publishes signed checkpoints (C2SP tlog-checkpoint) of the tree: at most
//! one per interval while entries arrive, each stored before it is
//! announced, and none signed unless the stored tiles prove it consistent
//! with the last one published (by this process or another sharing the
//! database). After a key rotation the new key signs at once and the
//! retired key goes on co-signing for an overlap period, so verifiers
//! pinned to either key keep working while they update.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use consent_domain::Timestamp;
use tokio::sync::{watch, Mutex};
use tracing::{debug, error, info, instrument};

use crate::error::LedgerError;
use crate::keys::KeyStore;
use crate::replay::TreeHead;
use crate::signed_memory::{self, SignedCheckpoint};
use crate::store::{Store, StoredCheckpoint};
use crate::tlog::{verify_consistency, Checkpoint, NoteSigner, VerifierKey};
use crate::tree::TreeReader;

#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Least time between two checkpoints; `None`: only on request.
    pub interval: Option<Duration>,
    /// How long a retired key keeps co-signing after a rotation.
    pub key_overlap: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(1)),
            key_overlap: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The log's verifier key for one of its signing keys: the log's name (the
/// origin) and the key's Ed25519 public key, as the log records it (64 hex
/// digits). `None` if that is not a public key.
pub fn log_verifier_key(origin: &str, public_key_hex: &str) -> Option<VerifierKey> {
    let bytes: [u8; 32] = hex::decode(public_key_hex).ok()?.try_into().ok()?;
    let public = ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?;
    Some(VerifierKey::new(origin, crate::tlog::note::ED25519, public))
}

/// Signs and stores checkpoints for one ledger.
pub struct Checkpointer<S> {
    store: Arc<S>,
    keys: KeyStore,
    origin: String,
    config: CheckpointConfig,
    reader: TreeReader,
    heads: watch::Receiver<TreeHead>,
    published: watch::Sender<Option<StoredCheckpoint>>,
    /// One publication at a time in this process.
    publishing: Mutex<HashMap<String, NoteSigner>>,
    /// Why the checkpointer stopped for good (it refused to sign).
    stopped: watch::Sender<Option<String>>,
}

impl<S: Store> Checkpointer<S> {
    pub(crate) async fn new(
        store: Arc<S>,
        keys: KeyStore,
        origin: String,
        config: CheckpointConfig,
        heads: watch::Receiver<TreeHead>,
    ) -> Result<Arc<Self>, LedgerError> {
        let latest = store.latest_checkpoint().await?;
        let (published, _) = watch::channel(latest);
        Ok(Arc::new(Self {
            store,
            keys,
            origin,
            config,
            reader: TreeReader::default(),
            heads,
            published,
            publishing: Mutex::new(HashMap::new()),
            stopped: watch::channel(None).0,
        }))
    }

    /// Why checkpoints are no longer published, if they are not (the log
    /// refused to sign one: `/healthz` reports it).
    pub fn stopped(&self) -> Option<String> {
        self.stopped.borrow().clone()
    }

    /// The last checkpoint published, as it changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<StoredCheckpoint>> {
        self.published.subscribe()
    }

    /// Publishes at most one checkpoint per interval while the tree grows.
    /// Publishes at most every interval while the tree grows, until `stop`
    /// is set. Stops only while waiting: a checkpoint being published is
    /// finished first.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(interval) = self.config.interval else {
            return;
        };
        let mut heads = self.heads.clone();
        let now = tokio::time::Instant::now();
        let mut last = now.checked_sub(interval).unwrap_or(now);
        loop {
            let covered = self.published.borrow().as_ref().map_or(0, |c| c.size);
            if heads.borrow_and_update().size <= covered {
                tokio::select! {
                    changed = heads.changed() => if changed.is_err() {
                        return;
                    },
                    () = crate::tasks::stopped(&mut stop) => return,
                }
            }
            if heads.borrow().size <= covered {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(last + interval) => {}
                () = crate::tasks::stopped(&mut stop) => return,
            }
            last = tokio::time::Instant::now();
            match self.publish().await {
                Ok(_) => {}
                Err(
                    e @ (LedgerError::InconsistentCheckpoint { .. }
                    | LedgerError::StoreRolledBack { .. }
                    | LedgerError::InvalidName(_)),
                ) => {
                    error!(error = %e, "stopped publishing checkpoints");
                    self.stopped.send_replace(Some(e.to_string()));
                    return;
                }
                Err(e) => error!(error = %e, "publishing a checkpoint failed; retrying"),
            }
        }
    }

    /// Signs and stores a checkpoint of the tree as it is now (unless one
    /// of that size or larger exists) and returns the latest checkpoint.
    #[instrument(skip_all, fields(origin = %self.origin))]
    pub async fn publish(&self) -> Result<Option<StoredCheckpoint>, LedgerError> {
        if !crate::tlog::note::valid_name(&self.origin) {
            return Err(LedgerError::InvalidName(self.origin.clone()));
        }
        let mut signers = self.publishing.lock().await;
        let head = self.heads.borrow().clone();
        let latest = self.store.latest_checkpoint().await?;
        if let Some(l) = &latest {
            if l.size >= head.size {
                self.announce(latest.clone());
                return Ok(latest);
            }
        }
        if head.size == 0 {
            return Ok(None);
        }
        let inconsistent = |detail: String| LedgerError::InconsistentCheckpoint {
            size: head.size,
            detail,
        };
        // The root the writer computed must be the root of the stored tiles,
        // and the new tree must extend the last published one.
        let stored_root = self.reader.root(&*self.store, head.size).await?;
        if stored_root != head.root {
            return Err(inconsistent("the stored tiles give another root".into()));
        }
        if let Some(l) = &latest {
            let proof = self
                .reader
                .consistency(&*self.store, l.size, head.size)
                .await?;
            verify_consistency(l.size, head.size, &l.root, &head.root, &proof).map_err(|e| {
                inconsistent(format!("not consistent with checkpoint {}: {e}", l.size))
            })?;
        }
        // Nor may it contradict what this ledger's keys remember signing
        // (the store may have lost what the stored checkpoints said).
        if let Some(known) = self.remembered()? {
            if known.size > head.size {
                // Another writer sharing the keys signed further than this
                // one has followed (a rolled-back store is the writer's to
                // refuse, at start and after a failure): try again later.
                return Err(LedgerError::Unavailable(format!(
                    "the tree has {} entries; checkpoint {} was signed already: waiting to catch up",
                    head.size, known.size
                )));
            }
            let proof = self
                .reader
                .consistency(&*self.store, known.size, head.size)
                .await?;
            verify_consistency(known.size, head.size, &known.root, &head.root, &proof).map_err(
                |e| LedgerError::StoreRolledBack {
                    detail: format!(
                        "the tree of {} entries is not consistent with checkpoint {} this ledger signed: {e}",
                        head.size, known.size
                    ),
                },
            )?;
        }
        let now = Timestamp::now();
        let mut note_signers = Vec::new();
        let n = head.keys.len();
        for (i, (id, _)) in head.keys.iter().enumerate() {
            let is_active = i + 1 == n;
            // The key after this one was introduced at head.keys[i + 1].1.
            let retired_at = head.keys.get(i + 1).map(|k| k.1);
            let overlapping = retired_at.is_some_and(|t| {
                now.as_micros().saturating_sub(t.as_micros())
                    < self.config.key_overlap.as_micros() as i64
            });
            if !(is_active || overlapping) {
                continue;
            }
            match self.signer(&mut signers, id) {
                Ok(s) => note_signers.push(s),
                // A retired key may be gone from the key store.
                Err(e) if !is_active => {
                    debug!(key_id = %id, error = %e, "retired key not available to co-sign");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: head.size,
            root: head.root,
        };
        let stored = StoredCheckpoint {
            size: head.size,
            root: head.root,
            note: checkpoint.sign(&note_signers).to_string(),
            published_at: now.to_string(),
        };
        // Remembered beside the keys before anyone can see it.
        let memory = SignedCheckpoint {
            size: stored.size,
            root: stored.root,
            note: stored.note.clone(),
        };
        let dir = self.keys.dir().to_owned();
        tokio::task::spawn_blocking(move || signed_memory::remember(&dir, &memory))
            .await
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?
            .map_err(|e| {
                LedgerError::Unavailable(format!("remembering the signed checkpoint: {e}"))
            })?;
        if self.store.save_checkpoint(&stored).await? {
            info!(size = stored.size, "published checkpoint");
        }
        let latest = self.store.latest_checkpoint().await?;
        self.announce(latest.clone());
        Ok(latest)
    }

    /// The key directory (where the signed checkpoint is remembered).
    pub(crate) fn keys_dir(&self) -> &std::path::Path {
        self.keys.dir()
    }

    /// The checkpoint this ledger's key directory remembers signing.
    fn remembered(&self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        signed_memory::recall(self.keys.dir()).map_err(|e| LedgerError::Unavailable(e.to_string()))
    }

    /// The active signing key, as a note signer named after the log (for
    /// signing decision receipts).
    pub async fn active_signer(&self) -> Result<NoteSigner, LedgerError> {
        let id =
            self.heads
                .borrow()
                .keys
                .last()
                .map(|k| k.0.clone())
                .ok_or(LedgerError::Corrupt {
                    seq: 0,
                    detail: "no signing key".into(),
                })?;
        let mut signers = self.publishing.lock().await;
        Ok(self.signer(&mut signers, &id)?)
    }

    /// The note signer of key `id`, loaded from the key store once.
    fn signer(
        &self,
        loaded: &mut HashMap<String, NoteSigner>,
        id: &str,
    ) -> Result<NoteSigner, crate::keys::KeyError> {
        if let Some(s) = loaded.get(id) {
            return Ok(s.clone());
        }
        let s = NoteSigner::new(&self.origin, self.keys.load(id)?.signing);
        loaded.insert(id.to_owned(), s.clone());
        Ok(s)
    }

    /// Adds cosignature lines to a stored checkpoint's note.
    pub async fn add_cosignatures(
        &self,
        size: u64,
        lines: &[crate::tlog::SignatureLine],
    ) -> Result<(), LedgerError> {
        // Another process may add cosignatures to the same checkpoint:
        // compare-and-swap, re-reading on a lost race.
        for _ in 0..8 {
            let Some(stored) = self.store.checkpoint_at(size).await? else {
                return Ok(());
            };
            let Ok(mut note) = crate::tlog::Note::parse(&stored.note) else {
                return Ok(());
            };
            for l in lines {
                note.add(l.clone());
            }
            let text = note.to_string();
            if text == stored.note {
                return Ok(());
            }
            if self
                .store
                .update_checkpoint_note(size, &stored.note, &text)
                .await?
            {
                let latest = self.store.latest_checkpoint().await?;
                self.announce(latest);
                return Ok(());
            }
        }
        Ok(())
    }

    fn announce(&self, latest: Option<StoredCheckpoint>) {
        self.published.send_if_modified(|current| {
            if *current != latest {
                *current = latest;
                true
            } else {
                false
            }
        });
    }
}
