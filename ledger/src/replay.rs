//! Rebuilds the writer's state from the stored log: the rules' state, the
//! head to link to, and which key is active. Checks sequence and links on
//! the way (cheap) so a writer never appends onto a broken chain; full
//! verification, with signatures, is `verify`.

use std::collections::HashMap;

use consent_domain::{Event, LedgerState, Pseudonym, Timestamp};

use crate::error::LedgerError;
use crate::format::{body_json, entry_hash, EntryLine, RawEntryLine, GENESIS_PREV};
use crate::store::{Store, StoredLine};
use crate::tlog::{leaf_hash, TreeBuilder};

/// Page size when reading the log.
const PAGE: u32 = 8192;

/// Where the next entry goes.
#[derive(Debug, Clone)]
pub struct Head {
    pub next_seq: u64,
    pub prev: String,
    pub last_time: Option<Timestamp>,
}

pub struct Replayed {
    pub state: LedgerState,
    pub head: Head,
    pub ledger: Option<String>,
    pub active_key: Option<String>,
    /// Per subject, the entries that carry an evidence reference.
    pub evidence_seqs: HashMap<Pseudonym, Vec<u64>>,
    /// Every key the log introduced, in order: (key id, public key hex).
    pub keys: Vec<(String, String)>,
    /// When each of `keys` was introduced.
    pub key_times: Vec<Timestamp>,
    /// The Merkle tree over the entries so far (leaf = the stored line).
    pub tree: TreeBuilder,
    /// Signed checkpoints whose loss the log records (`loss_accepted`).
    pub losses_accepted: Vec<String>,
}

impl Replayed {
    /// The state before the first entry.
    pub fn empty() -> Self {
        Self {
            state: LedgerState::new(),
            head: Head {
                next_seq: 0,
                prev: GENESIS_PREV.to_owned(),
                last_time: None,
            },
            ledger: None,
            active_key: None,
            keys: Vec::new(),
            key_times: Vec::new(),
            evidence_seqs: HashMap::new(),
            tree: TreeBuilder::default(),
            losses_accepted: Vec::new(),
        }
    }

    /// Folds the next stored entry in: it must carry the next sequence
    /// number and link to the current head.
    pub fn apply(&mut self, row: &StoredLine) -> Result<EntryLine, LedgerError> {
        let corrupt = |detail: String| LedgerError::Corrupt {
            seq: row.seq,
            detail,
        };
        let entry = EntryLine::parse(&row.line).map_err(|e| corrupt(e.to_string()))?;
        if entry.seq != self.head.next_seq || row.seq != self.head.next_seq {
            return Err(corrupt(format!("expected entry {}", self.head.next_seq)));
        }
        if entry.prev != self.head.prev {
            return Err(corrupt("prev does not link to the previous entry".into()));
        }
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(&entry.hash, &mut hash).is_err() || row.hash != hash {
            return Err(corrupt(
                "the stored hash differs from the entry's hash; run `consent verify`".into(),
            ));
        }
        match &entry.event {
            Event::LedgerInitialized(g) => {
                self.ledger = Some(g.ledger.clone());
                self.active_key = Some(g.key_id.clone());
                self.keys.push((g.key_id.clone(), g.public_key.clone()));
                self.key_times.push(entry.recorded_at);
            }
            Event::LossAccepted(l) => self.losses_accepted.push(l.checkpoint.clone()),
            Event::KeyRotated(r) => {
                self.active_key = Some(r.key_id.clone());
                self.keys.push((r.key_id.clone(), r.public_key.clone()));
                self.key_times.push(entry.recorded_at);
            }
            _ => {}
        }
        if let (Some(subject), true) = (entry.event.subject(), entry.event.evidence().is_some()) {
            self.evidence_seqs
                .entry(subject.clone())
                .or_default()
                .push(entry.seq);
        }
        if let Event::ErasureRequested(e) = &entry.event {
            self.evidence_seqs.remove(&e.subject);
        }
        self.state.apply(&entry.event, entry.recorded_at);
        // The tiles of entries read back are stored already.
        self.tree.push(leaf_hash(row.line.as_bytes()));
        self.tree.clear_writes();
        self.head = Head {
            next_seq: entry.seq + 1,
            prev: entry.hash.clone(),
            last_time: Some(entry.recorded_at),
        };
        Ok(entry)
    }
}

impl Replayed {
    /// Recomputes an already replayed entry's hash from its body and checks
    /// its signature under the key it names (the writer trusts the head
    /// it links to only after this).
    pub fn check_signed(&self, row: &StoredLine) -> Result<(), LedgerError> {
        use ed25519_dalek::Verifier;
        let corrupt = |detail: &str| LedgerError::Corrupt {
            seq: row.seq,
            detail: format!("{detail}; run `consent verify`"),
        };
        let raw: RawEntryLine<'_> =
            serde_json::from_str(&row.line).map_err(|_| corrupt("the entry is not JSON"))?;
        let body = body_json(
            raw.seq,
            raw.recorded_at,
            raw.recorded_by.as_deref(),
            &raw.prev,
            &raw.kind,
            raw.event.get(),
            &raw.key_id,
        );
        let hash = entry_hash(body.as_bytes());
        if hex::encode(hash) != raw.hash {
            return Err(corrupt("the entry's hash is not the hash of its body"));
        }
        let public = self
            .keys
            .iter()
            .find(|(id, _)| *id == raw.key_id)
            .and_then(|(_, pk)| <[u8; 32]>::try_from(hex::decode(pk).ok()?).ok())
            .and_then(|pk| ed25519_dalek::VerifyingKey::from_bytes(&pk).ok())
            .ok_or_else(|| corrupt("the entry names a key the log never introduced"))?;
        let sig = hex::decode(&raw.sig)
            .ok()
            .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
            .ok_or_else(|| corrupt("the entry's signature is malformed"))?;
        public
            .verify(&hash, &sig)
            .map_err(|_| corrupt("the entry's signature does not verify"))
    }
}

/// Rebuilds everything from the stored log.
impl Replayed {
    /// The size and root of the tree now, and the keys that sign its
    /// checkpoints: the active key and the one before it, with when each
    /// was introduced.
    pub fn tree_head(&self) -> TreeHead {
        let n = self.keys.len();
        TreeHead {
            size: self.tree.size(),
            root: self.tree.root(),
            keys: (n.saturating_sub(2)..n)
                .map(|i| (self.keys[i].0.clone(), self.key_times[i]))
                .collect(),
        }
    }
}

/// What the checkpointer signs: a tree size and root, and the signing
/// keys (oldest first) with their introduction times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: [u8; 32],
    pub keys: Vec<(String, Timestamp)>,
}

pub async fn replay<S: Store>(store: &S) -> Result<Replayed, LedgerError> {
    let mut replayed = Replayed::empty();
    catch_up(store, &mut replayed, |_, _| {}).await?;
    Ok(replayed)
}

/// Folds in the entries stored after `replayed`'s head (written by another
/// process sharing the database), calling `seen` with each.
pub async fn catch_up<S: Store>(
    store: &S,
    replayed: &mut Replayed,
    mut seen: impl FnMut(&StoredLine, EntryLine),
) -> Result<(), LedgerError> {
    loop {
        // Read until a page comes back empty: a store that meets damage
        // returns the entries before it, and the next read names it.
        let page = store.read_lines(replayed.head.next_seq, PAGE).await?;
        if page.is_empty() {
            return Ok(());
        }
        for row in &page {
            let entry = replayed.apply(row)?;
            seen(row, entry);
        }
    }
}
