//! The fold: entries in, in order, exactly once; the read model out.

use std::collections::HashMap;
use std::sync::Arc;

use consent_domain::policy_diff::PolicyChange;
use consent_domain::{Event, LegalBasis, PolicyVersion, Pseudonym, Timestamp};

use crate::interner::Interner;
use crate::timeline::{CategoryIx, Fact, Position, PurposeIx, Record, Timeline, VersionIx};

/// A purpose's terms under one policy version, interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub basis: LegalBasis,
    /// Sorted.
    pub categories: Vec<CategoryIx>,
    /// Whether this version changes the purpose materially (against the
    /// version before it).
    pub material_change: bool,
}

/// A published policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub version: VersionIx,
    pub policy: Arc<PolicyVersion>,
    pub changes: Arc<Vec<PolicyChange>>,
    pub at: Position,
    pub purposes: HashMap<PurposeIx, Terms>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("entry {found} arrived before entry {expected}: entries must be applied in order")]
    Gap { expected: u64, found: u64 },
    #[error("entry {0} names a subject pseudonym that is not 64 hex digits")]
    BadPseudonym(u64),
}

/// The consent read model. `PartialEq` lets tests compare a rebuilt model
/// with an incrementally built one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentProjection {
    checkpoint: Option<u64>,
    pub(crate) purposes: Interner,
    pub(crate) categories: Interner,
    pub(crate) versions: Interner,
    /// In publication order (effective times never decrease).
    pub(crate) policies: Vec<PolicyRecord>,
    pub(crate) subjects: HashMap<[u8; 32], Timeline, PseudonymHash>,
}

/// Pseudonyms are HMAC-SHA-256 outputs: already uniformly random, so their
/// first eight bytes are a perfect hash. Skipping SipHash on the hot path
/// saves a third of a decision's time (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PseudonymHash;

impl std::hash::BuildHasher for PseudonymHash {
    type Hasher = FirstEightBytes;
    fn build_hasher(&self) -> FirstEightBytes {
        FirstEightBytes(0)
    }
}

/// See [`PseudonymHash`]. Only `[u8; 32]` keys are hashed with it.
#[derive(Debug, Default)]
pub struct FirstEightBytes(u64);

impl std::hash::Hasher for FirstEightBytes {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its bytes (a length prefix is not written for
        // arrays); fold them in eight at a time so any input still hashes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
            if bytes.len() == 32 {
                self.0 = u64::from_le_bytes(word);
                return;
            }
        }
    }
}

pub(crate) fn subject_key(p: &Pseudonym) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(p.as_str(), &mut key).ok()?;
    Some(key)
}

impl ConsentProjection {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last applied sequence number.
    pub fn checkpoint(&self) -> Option<u64> {
        self.checkpoint
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    /// Applies entry `seq`. An entry at or below the checkpoint was applied
    /// already and changes nothing (`Ok(false)`); one beyond the next is a
    /// gap and is refused.
    pub fn apply(
        &mut self,
        seq: u64,
        recorded_at: Timestamp,
        hash: [u8; 32],
        event: &Event,
    ) -> Result<bool, ApplyError> {
        let expected = self.checkpoint.map_or(0, |c| c + 1);
        if seq < expected {
            return Ok(false);
        }
        if seq > expected {
            return Err(ApplyError::Gap {
                expected,
                found: seq,
            });
        }
        let at = Position {
            seq,
            recorded_at,
            hash,
        };
        let fact = match event {
            Event::LedgerInitialized(_)
            | Event::KeyRotated(_)
            | Event::RecipientNotified(_)
            | Event::LossAccepted(_) => None,
            Event::PolicyPublished(p) => {
                self.publish(&p.policy, &p.changes, at);
                None
            }
            Event::ConsentGranted(e) => {
                let mut categories: smallvec::SmallVec<[CategoryIx; 4]> = e
                    .data_categories
                    .iter()
                    .map(|c| self.categories.intern(c.as_str()))
                    .collect();
                categories.sort_unstable();
                categories.dedup();
                Some(Fact::Granted {
                    purpose: self.purposes.intern(e.purpose.as_str()),
                    categories,
                    version: self.versions.intern(e.policy_version.as_str()),
                })
            }
            Event::ConsentWithdrawn(e) => Some(Fact::Withdrawn {
                purpose: e.purpose.as_ref().map(|p| self.purposes.intern(p.as_str())),
            }),
            Event::Unsubscribed(e) => Some(Fact::Unsubscribed {
                purpose: self.purposes.intern(e.purpose.as_str()),
                category: self.categories.intern(e.data_category.as_str()),
            }),
            Event::PolicyAccepted(e) => Some(Fact::Accepted {
                version: self.versions.intern(e.policy_version.as_str()),
                method: e.method,
            }),
            Event::ObjectionRecorded(e) => Some(Fact::Objected {
                purpose: self.purposes.intern(e.purpose.as_str()),
            }),
            Event::AccountClosed(_) => Some(Fact::AccountClosed),
            Event::ErasureRequested(_) => Some(Fact::Erased),
        };
        if let (Some(fact), Some(subject)) = (fact, event.subject()) {
            let key = subject_key(subject).ok_or(ApplyError::BadPseudonym(seq))?;
            self.subjects
                .entry(key)
                .or_default()
                .records
                .push(Record { at, fact });
        }
        self.checkpoint = Some(seq);
        Ok(true)
    }

    fn publish(&mut self, policy: &PolicyVersion, changes: &[PolicyChange], at: Position) {
        let mut purposes = HashMap::new();
        for p in &policy.purposes {
            let mut categories: Vec<CategoryIx> = p
                .data_categories
                .iter()
                .map(|c| self.categories.intern(c.as_str()))
                .collect();
            categories.sort_unstable();
            purposes.insert(
                self.purposes.intern(p.id.as_str()),
                Terms {
                    basis: p.legal_basis,
                    categories,
                    material_change: changes.iter().any(|c| c.touches(&p.id)),
                },
            );
        }
        self.policies.push(PolicyRecord {
            version: self.versions.intern(policy.version.as_str()),
            policy: Arc::new(policy.clone()),
            changes: Arc::new(changes.to_vec()),
            at,
            purposes,
        });
    }

    /// The sequence numbers of every entry about a subject, in order.
    pub fn subject_entries(&self, subject: &Pseudonym) -> Vec<u64> {
        subject_key(subject)
            .and_then(|k| self.subjects.get(&k))
            .map(|t| t.records.iter().map(|r| r.at.seq).collect())
            .unwrap_or_default()
    }

    /// The published versions, in publication order.
    pub fn policies(&self) -> &[PolicyRecord] {
        &self.policies
    }
}
