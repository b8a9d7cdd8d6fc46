//! Chain verification: the checks FORMAT.md lists, in the order it lists
//! them, reporting the first bad entry by sequence number and reason.
//!
//! Lines are checked in windows. Per window: (1) in parallel, each line is
//! parsed, checked to be its own RFC 8785 canonical form, and hashed;
//! (2) in order, sequence numbers, links, times and keys are checked;
//! (3) in parallel, signatures are checked with Ed25519 batch verification
//! (and one by one only when a batch fails, to locate the bad entry).

use crate::tlog::{leaf_hash, Hash, TreeBuilder};
use std::fmt;

use consent_domain::{Event, Timestamp};
use ed25519_dalek::{Signature, VerifyingKey};

use crate::format::{
    body_json, entry_hash, key_id, signed_line, RawEntryLine, RecordedBy, FORMAT_VERSION,
    GENESIS_PREV, LEGACY_FORMAT_VERSION,
};

/// Why an entry is bad. Stable names, printed by `consent verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Not JSON, or not an entry of this format.
    Malformed,
    /// Valid JSON but not its own RFC 8785 canonical form.
    NotCanonical,
    /// The `hash` member is not the hash of the entry body.
    HashMismatch,
    /// The store's hash column differs from the entry's hash.
    StoredHashMismatch,
    BadSignature,
    /// `prev` is not the previous entry's hash.
    BrokenLink,
    /// One or more entries are missing before this one.
    Gap,
    /// An entry appears again or earlier than its place.
    OutOfOrder,
    TimeWentBackwards,
    /// Signed by a key that is not the ledger's active key at that point.
    UnknownKey,
    /// Entry 0 is not a valid genesis entry, or does not carry the pinned key.
    BadGenesis,
    /// The export's header does not match its entries.
    HeaderMismatch,
    /// A stored Merkle tile is not the one the entries give (reported at
    /// the first entry the tile covers).
    TilesMismatch,
    /// The store cannot read this entry (a damaged page, bytes that are
    /// not text): every entry before it was read.
    Unreadable,
    /// The log does not extend the checkpoint this ledger's key directory
    /// remembers signing: entries were lost or rewritten.
    StoreRolledBack,
}

impl FailureReason {
    pub fn code(self) -> &'static str {
        match self {
            FailureReason::Malformed => "malformed",
            FailureReason::NotCanonical => "not_canonical",
            FailureReason::HashMismatch => "hash_mismatch",
            FailureReason::StoredHashMismatch => "stored_hash_mismatch",
            FailureReason::BadSignature => "bad_signature",
            FailureReason::BrokenLink => "broken_link",
            FailureReason::Gap => "gap",
            FailureReason::OutOfOrder => "out_of_order",
            FailureReason::TimeWentBackwards => "time_went_backwards",
            FailureReason::UnknownKey => "unknown_key",
            FailureReason::BadGenesis => "bad_genesis",
            FailureReason::HeaderMismatch => "header_mismatch",
            FailureReason::TilesMismatch => "tiles_mismatch",
            FailureReason::Unreadable => "unreadable",
            FailureReason::StoreRolledBack => "store_rolled_back",
        }
    }
}

/// The first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct VerifyFailure {
    pub seq: u64,
    pub reason: FailureReason,
    pub detail: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}: {}: {}",
            self.seq,
            self.reason.code(),
            self.detail
        )
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: u64,
    /// Hash of the last entry (hex), if any.
    pub head: Option<String>,
    /// The ledger's name from its genesis entry.
    pub ledger: Option<String>,
    /// Every key the log introduced, in order: (key id, public key hex).
    pub keys: Vec<(String, String)>,
    /// The RFC 9162 root of the tree of all verified entries.
    pub tree_root: Hash,
    /// The root at the size asked for with [`ChainVerifier::with_root_at`],
    /// if the log is that long.
    pub root_at: Option<(u64, Hash)>,
}

/// One line to check, with what the store says about it.
pub struct Input<'a> {
    /// The row's sequence number (the store's), or the line's position.
    pub position: u64,
    /// The store's hash column, where there is one.
    pub stored_hash: Option<&'a [u8]>,
    pub line: &'a str,
}

struct Parsed {
    seq: u64,
    v: u32,
    recorded_at: Timestamp,
    prev: String,
    key_id: String,
    hash: [u8; 32],
    hash_hex: String,
    sig: Signature,
    event: Event,
}

fn fail(seq: u64, reason: FailureReason, detail: impl Into<String>) -> VerifyFailure {
    VerifyFailure {
        seq,
        reason,
        detail: detail.into(),
    }
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Phase 1: parse, canonical check, hash. Pure per line.
fn parse(input: &Input<'_>) -> Result<Parsed, VerifyFailure> {
    let at = input.position;
    let raw: RawEntryLine<'_> = serde_json::from_str(input.line)
        .map_err(|e| fail(at, FailureReason::Malformed, format!("not an entry: {e}")))?;
    match (raw.v, raw.recorded_by.as_deref()) {
        (FORMAT_VERSION, Some(by)) if RecordedBy::parse(by).is_some() => {}
        (FORMAT_VERSION, Some(by)) => {
            return Err(fail(
                at,
                FailureReason::Malformed,
                format!("recorded_by {by:?} is neither local nor api-key:<16 hex>"),
            ))
        }
        (FORMAT_VERSION, None) => {
            return Err(fail(
                at,
                FailureReason::Malformed,
                "a version-2 entry must have recorded_by",
            ))
        }
        (LEGACY_FORMAT_VERSION, None) => {}
        (LEGACY_FORMAT_VERSION, Some(_)) => {
            return Err(fail(
                at,
                FailureReason::Malformed,
                "a version-1 entry has no recorded_by",
            ))
        }
        (v, _) => {
            return Err(fail(
                at,
                FailureReason::Malformed,
                format!("unsupported format version {v}"),
            ))
        }
    }
    let event = Event::from_payload(&raw.kind, raw.event.get()).map_err(|e| {
        fail(
            at,
            FailureReason::Malformed,
            format!("bad {} event: {e}", raw.kind),
        )
    })?;
    let hash = decode_hex::<32>(&raw.hash).ok_or_else(|| {
        fail(
            at,
            FailureReason::Malformed,
            "hash is not 64 lower-case hex digits",
        )
    })?;
    let sig = decode_hex::<64>(&raw.sig).ok_or_else(|| {
        fail(
            at,
            FailureReason::Malformed,
            "sig is not 128 lower-case hex digits",
        )
    })?;
    // Canonical form: the line must be exactly what a correct writer writes
    // for these values. Payload types serialise canonically by construction
    // (sorted fields, no maps, no floats), so re-serialising is the check.
    let payload = event.payload_json();
    let body = body_json(
        raw.seq,
        raw.recorded_at,
        raw.recorded_by.as_deref(),
        &raw.prev,
        &raw.kind,
        &payload,
        &raw.key_id,
    );
    if payload != raw.event.get() || signed_line(&body, &hash, &sig) != input.line {
        return Err(fail(
            at,
            FailureReason::NotCanonical,
            "the line is not its RFC 8785 canonical form",
        ));
    }
    let computed = entry_hash(body.as_bytes());
    if computed != hash {
        return Err(fail(
            at,
            FailureReason::HashMismatch,
            format!(
                "hash is {} but the body hashes to {}",
                raw.hash,
                hex::encode(computed)
            ),
        ));
    }
    if let Some(stored) = input.stored_hash {
        if stored != hash {
            return Err(fail(
                at,
                FailureReason::StoredHashMismatch,
                format!("the store's hash column holds {}", hex::encode(stored)),
            ));
        }
    }
    Ok(Parsed {
        seq: raw.seq,
        v: raw.v,
        recorded_at: raw.recorded_at,
        prev: raw.prev,
        key_id: raw.key_id,
        hash_hex: raw.hash,
        hash,
        sig: Signature::from_bytes(&sig),
        event,
    })
}

/// Streaming verifier: feed windows of lines in order, then [`Self::finish`].
pub struct ChainVerifier {
    expected: u64,
    prev: String,
    last_time: Option<Timestamp>,
    /// The previous entry's format version: it never goes back.
    last_version: u32,
    active: Option<(String, VerifyingKey)>,
    pinned: Option<[u8; 32]>,
    ledger: Option<String>,
    keys: Vec<(String, String)>,
    threads: usize,
    /// The Merkle tree of the entries verified so far.
    tree: TreeBuilder,
    /// A tree size whose root to remember (a checkpoint to compare with).
    root_at: Option<(u64, Option<Hash>)>,
    /// Keep the tiles the verified entries change, for a replica to store.
    keep_tiles: bool,
}

impl ChainVerifier {
    /// `pinned`: the genesis public key the auditor trusts (from `consent key
    /// show`, obtained out of band). Without it the genesis entry's key is
    /// trusted on first use.
    pub fn new(pinned: Option<[u8; 32]>) -> Self {
        Self {
            expected: 0,
            prev: GENESIS_PREV.to_owned(),
            last_time: None,
            last_version: LEGACY_FORMAT_VERSION,
            active: None,
            pinned,
            ledger: None,
            keys: Vec::new(),
            threads: rayon::current_num_threads(),
            tree: TreeBuilder::default(),
            root_at: None,
            keep_tiles: false,
        }
    }

    /// Also remembers the root of the tree of the first `size` entries.
    pub fn with_root_at(mut self, size: u64) -> Self {
        self.root_at = Some((size, (size == 0).then(crate::tlog::empty_root)));
        self
    }

    /// Keeps the Merkle tiles the verified entries change, to be taken
    /// with [`ChainVerifier::take_tile_writes`] (a replica stores them).
    pub fn keeping_tiles(mut self) -> Self {
        self.keep_tiles = true;
        self
    }

    pub fn keeps_tiles(&self) -> bool {
        self.keep_tiles
    }

    /// The tiles changed since the last call (with [`ChainVerifier::keeping_tiles`]).
    pub fn take_tile_writes(&mut self) -> Vec<crate::tlog::TileWrite> {
        self.tree.take_writes()
    }

    /// The number of leaves and the root of the tree verified so far.
    pub fn tree_head(&self) -> (u64, Hash) {
        (self.tree.size(), self.tree.root())
    }

    /// Checks the next window of lines.
    pub fn feed(&mut self, window: &[Input<'_>]) -> Result<(), VerifyFailure> {
        let parsed = par_map(window, self.threads, parse);
        // Phase 2, in order. Signatures to check are collected up to the
        // first structural failure; a bad signature before it wins.
        let mut checks: Vec<(u64, [u8; 32], Signature, VerifyingKey)> =
            Vec::with_capacity(window.len());
        let mut structural = None;
        for (input, p) in window.iter().zip(parsed) {
            match p.and_then(|p| self.link(input.position, p)) {
                Ok(check) => {
                    checks.push(check);
                    self.tree.push(leaf_hash(input.line.as_bytes()));
                    if !self.keep_tiles {
                        self.tree.clear_writes();
                    }
                    if let Some((size, root @ None)) = &mut self.root_at {
                        if self.tree.size() == *size {
                            *root = Some(self.tree.root());
                        }
                    }
                }
                Err(f) => {
                    structural = Some(f);
                    break;
                }
            }
        }
        check_signatures(&checks, self.threads)?;
        structural.map_or(Ok(()), Err)
    }

    /// Phase 2 for one entry: position, link, time, key. Advances the state.
    fn link(
        &mut self,
        position: u64,
        p: Parsed,
    ) -> Result<(u64, [u8; 32], Signature, VerifyingKey), VerifyFailure> {
        let seq = p.seq;
        if seq != self.expected || position != self.expected {
            let found = if seq != self.expected { seq } else { position };
            let reason = if found > self.expected {
                FailureReason::Gap
            } else {
                FailureReason::OutOfOrder
            };
            return Err(fail(
                self.expected,
                reason,
                format!("expected entry {} here, found entry {found}", self.expected),
            ));
        }
        if p.prev != self.prev {
            return Err(fail(
                seq,
                FailureReason::BrokenLink,
                format!(
                    "prev is {} but entry {} hashes to {}",
                    p.prev,
                    seq.wrapping_sub(1),
                    self.prev
                ),
            ));
        }
        if p.v < self.last_version {
            return Err(fail(
                seq,
                FailureReason::Malformed,
                format!(
                    "a version-{} entry after a version-{} one",
                    p.v, self.last_version
                ),
            ));
        }
        if let Some(last) = self.last_time {
            if p.recorded_at < last {
                return Err(fail(
                    seq,
                    FailureReason::TimeWentBackwards,
                    format!(
                        "recorded at {}, before the previous entry ({last})",
                        p.recorded_at
                    ),
                ));
            }
        }
        let signer = match (&p.event, &self.active) {
            (Event::LedgerInitialized(g), None) => {
                let public = decode_hex::<32>(&g.public_key).ok_or_else(|| {
                    fail(
                        seq,
                        FailureReason::BadGenesis,
                        "public_key is not 64 hex digits",
                    )
                })?;
                let key = VerifyingKey::from_bytes(&public).map_err(|_| {
                    fail(
                        seq,
                        FailureReason::BadGenesis,
                        "public_key is not an Ed25519 key",
                    )
                })?;
                let id = key_id(&public);
                if g.key_id != id || p.key_id != id {
                    return Err(fail(
                        seq,
                        FailureReason::BadGenesis,
                        "key ids do not match the genesis public key",
                    ));
                }
                if self.pinned.is_some_and(|pin| pin != public) {
                    return Err(fail(
                        seq,
                        FailureReason::BadGenesis,
                        "the genesis key is not the pinned key",
                    ));
                }
                self.ledger = Some(g.ledger.clone());
                self.keys.push((id.clone(), g.public_key.clone()));
                self.active = Some((id, key));
                key
            }
            (_, None) => {
                return Err(fail(
                    seq,
                    FailureReason::BadGenesis,
                    "entry 0 must be ledger_initialized",
                ))
            }
            (Event::LedgerInitialized(_), Some(_)) => {
                return Err(fail(
                    seq,
                    FailureReason::Malformed,
                    "ledger_initialized after genesis",
                ))
            }
            (_, Some((active_id, active_key))) => {
                if &p.key_id != active_id {
                    return Err(fail(
                        seq,
                        FailureReason::UnknownKey,
                        format!(
                            "signed by key {} but the active key is {active_id}",
                            p.key_id
                        ),
                    ));
                }
                *active_key
            }
        };
        if let Event::KeyRotated(r) = &p.event {
            let public = decode_hex::<32>(&r.public_key).ok_or_else(|| {
                fail(
                    seq,
                    FailureReason::Malformed,
                    "new public_key is not 64 hex digits",
                )
            })?;
            let key = VerifyingKey::from_bytes(&public).map_err(|_| {
                fail(
                    seq,
                    FailureReason::Malformed,
                    "new public_key is not an Ed25519 key",
                )
            })?;
            if r.key_id != key_id(&public) {
                return Err(fail(
                    seq,
                    FailureReason::Malformed,
                    "new key_id does not match new public_key",
                ));
            }
            self.keys.push((r.key_id.clone(), r.public_key.clone()));
            self.active = Some((r.key_id.clone(), key));
        }
        self.expected += 1;
        self.prev = p.hash_hex;
        self.last_time = Some(p.recorded_at);
        self.last_version = p.v;
        Ok((seq, p.hash, p.sig, signer))
    }

    pub fn finish(self) -> VerifyReport {
        VerifyReport {
            entries: self.expected,
            head: (self.expected > 0).then_some(self.prev),
            ledger: self.ledger,
            keys: self.keys,
            tree_root: self.tree.root(),
            root_at: self
                .root_at
                .and_then(|(size, root)| root.map(|r| (size, r))),
        }
    }

    /// Entries verified so far.
    pub fn verified(&self) -> u64 {
        self.expected
    }
}

/// Maps `f` over `items` on the rayon pool (at most `threads` chunks), keeping order.
fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    use rayon::prelude::*;
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    items.par_iter().with_min_len(chunk).map(f).collect()
}

/// Phase 3: batch-verify each chunk; locate the first bad one on failure.
fn check_signatures(
    checks: &[(u64, [u8; 32], Signature, VerifyingKey)],
    threads: usize,
) -> Result<(), VerifyFailure> {
    use rayon::prelude::*;
    // Batches of at most 1024 (batch verification gains little beyond),
    // spread over the pool.
    let chunk = checks.len().div_ceil(threads.max(1)).clamp(1, 1024);
    let results: Vec<Option<u64>> = checks
        .par_chunks(chunk)
        .map(|c| {
            let messages: Vec<&[u8]> = c.iter().map(|x| &x.1[..]).collect();
            let sigs: Vec<Signature> = c.iter().map(|x| x.2).collect();
            let keys: Vec<VerifyingKey> = c.iter().map(|x| x.3).collect();
            if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                return None;
            }
            // The batch failed: find the culprit (or blame the chunk's first
            // entry should single checks disagree with the batch).
            c.iter()
                .find(|(_, h, s, k)| k.verify_strict(h, s).is_err())
                .or(c.first())
                .map(|x| x.0)
        })
        .collect();
    match results.into_iter().flatten().min() {
        None => Ok(()),
        Some(seq) => Err(fail(
            seq,
            FailureReason::BadSignature,
            "the Ed25519 signature does not verify under the signing key",
        )),
    }
}

/// Lines per verification window.
pub const WINDOW: usize = 8192;
