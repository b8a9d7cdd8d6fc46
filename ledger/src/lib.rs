//! # consent-ledger
//!
//! The signed, hash-chained consent log. It owns the byte format
//! ([`format`], specified in FORMAT.md), signing keys ([`keys`]), storage
//! behind one trait ([`store::Store`]), the group-commit writer
//! ([`Ledger::append`]), verification ([`verify`]) and export ([`export`]).
//!
//! It takes commands from `consent-domain`, pseudonymises subjects and moves
//! evidence off the log before the rules see them, and asks the domain to
//! decide; it never decides a business question itself. It must not know
//! about HTTP, the CLI, projections or Kafka.
//!
//! ## Layout
//! - [`format`]: canonical entry bytes, entry hash, key ids.
//! - [`keys`]: the key directory (0700, key files 0600).
//! - [`store`]: the [`store::Store`] trait; `store/sqlite.rs` and
//!   `store/postgres.rs`, each with its `.sql` files, and [`AnyStore`]
//!   choosing one from a URL. PostgreSQL lets several processes append
//!   (an advisory lock serialises them; LISTEN/NOTIFY lets each follow the
//!   others); an SQLite file has one writing process.
//! - [`replay`]: rebuilds the writer's state from the stored log.
//! - `writer`: the group-commit task (catch up with other writers, decide,
//!   chain, sign, commit, answer).
//! - [`ledger`]: the [`Ledger`] handle.
//! - [`tasks`]: the ledger's tasks, one stop signal, awaited at shutdown.
//! - [`signed_memory`]: the latest checkpoint signed, kept beside the keys
//!   (a store that no longer extends it was rolled back).
//! - [`verify`]: chain verification with Ed25519 batch verification.
//! - [`export`]: JSON Lines export and its offline verification.
//! - [`idempotency`]: idempotency keys kept as scoped hashes, never in clear.
//! - [`evidence_seal`]: evidence sealed under its subject's secret, so that
//!   erasing the secret makes every copy unreadable.
//! - [`error`]: [`LedgerError`] (infrastructure) and [`Rejection`] (business).

pub mod checkpointer;
pub mod error;
pub mod evidence_seal;
pub mod export;
pub mod format;
pub mod idempotency;
pub mod ledger;
pub mod receipt;
pub mod replay;
pub mod signed_memory;
pub mod store;
pub mod tasks;
pub mod tree;
pub mod verify;
mod writer;

/// The key directory (its own crate, `consent-keys`, shared with the witness).
pub use consent_keys as keys;
pub use consent_keys::{KeyStore, LedgerKey};
/// The transparency log (its own crate, `consent-tlog`: pure, no storage).
pub use consent_tlog as tlog;
pub use consent_tlog::decision_receipt;
pub use error::{LedgerError, Rejection};
pub use idempotency::{notification_key, IdempotencyKey};
pub use ledger::{Ledger, LedgerConfig};
pub use store::{AnyStore, ApiKeyRow, PgStore, SqliteStore, Store, StoreError, WriterClaim};
pub use verify::{FailureReason, VerifyFailure, VerifyReport};
pub use writer::{AppendResult, Appended, Committed, Failure, WriterHealth};

/// `(file name, schema)` of every published JSON Schema: the domain's
/// (submissions, events, policy versions) and the receipts'. The committed
/// copies live in `schemas/`.
pub fn published_schemas() -> Vec<(&'static str, String)> {
    let mut all = consent_domain::schema::domain_schemas();
    all.extend(receipt::receipt_schemas());
    all
}

/// Verifies the whole stored log, `WINDOW` entries at a time, reading the
/// next window while the current one is checked.
pub async fn verify_store<S: Store>(
    store: &S,
    pinned: Option<[u8; 32]>,
) -> Result<Result<VerifyReport, VerifyFailure>, StoreError> {
    verify_store_with(store, verify::ChainVerifier::new(pinned)).await
}

/// [`verify_store`] with a verifier set up by the caller. With
/// [`verify::ChainVerifier::keeping_tiles`] it also checks every stored
/// Merkle tile against the tree the entries give, and that the stored tree
/// is exactly as large as the log.
pub async fn verify_store_with<S: Store>(
    store: &S,
    mut verifier: verify::ChainVerifier,
) -> Result<Result<VerifyReport, VerifyFailure>, StoreError> {
    let mut page = match unreadable(store.read_lines(0, verify::WINDOW as u32).await)? {
        Ok(page) => page,
        Err(f) => return Ok(Err(f)),
    };
    while !page.is_empty() {
        let next_from = page.last().map_or(0, |r| r.seq + 1);
        let check = tokio::task::spawn_blocking(move || {
            let inputs: Vec<verify::Input<'_>> = page
                .iter()
                .map(|r| verify::Input {
                    position: r.seq,
                    stored_hash: Some(&r.hash),
                    line: &r.line,
                })
                .collect();
            let outcome = verifier.feed(&inputs);
            (verifier, outcome)
        });
        let (checked, next) =
            tokio::join!(check, store.read_lines(next_from, verify::WINDOW as u32));
        let (v, outcome) = checked.expect("the verifier does not panic");
        if let Err(f) = outcome {
            return Ok(Err(f));
        }
        verifier = v;
        if verifier.keeps_tiles() {
            if let Err(f) = check_tiles(store, verifier.take_tile_writes()).await? {
                return Ok(Err(f));
            }
        }
        page = match unreadable(next)? {
            Ok(page) => page,
            Err(f) => return Ok(Err(f)),
        };
    }
    if verifier.keeps_tiles() {
        let (leaves, _) = verifier.tree_head();
        let stored = store.tree_size().await?;
        if stored != leaves {
            return Ok(Err(VerifyFailure {
                seq: leaves.min(stored),
                reason: FailureReason::TilesMismatch,
                detail: format!(
                    "the stored Merkle tree has {stored} leaves; the log has {leaves} entries"
                ),
            }));
        }
    }
    Ok(Ok(verifier.finish()))
}

/// A store's report of an entry it cannot read, as the verifier's failure
/// at that entry.
#[allow(clippy::type_complexity)]
fn unreadable(
    read: Result<Vec<store::StoredLine>, StoreError>,
) -> Result<Result<Vec<store::StoredLine>, VerifyFailure>, StoreError> {
    match read {
        Ok(page) => Ok(Ok(page)),
        Err(StoreError::Corrupt { seq, detail }) => Ok(Err(VerifyFailure {
            seq,
            reason: verify::FailureReason::Unreadable,
            detail,
        })),
        Err(e) => Err(e),
    }
}

/// Each stored tile must begin with the hashes the entries give (a stored
/// tile may be longer than one computed mid-log: tiles only grow).
async fn check_tiles<S: Store>(
    store: &S,
    computed: Vec<tlog::TileWrite>,
) -> Result<Result<(), VerifyFailure>, StoreError> {
    let keys: Vec<(u32, u64)> = computed.iter().map(|w| (w.level, w.index)).collect();
    let stored = store.read_tiles(&keys).await?;
    for w in computed {
        let ok = stored
            .get(&(w.level, w.index))
            .is_some_and(|s| s.starts_with(&w.hashes));
        if !ok {
            // The first leaf the tile covers: 256^(level+1) leaves per tile.
            let first = w.index.saturating_mul(1u64 << (8 * (w.level + 1)).min(63));
            return Ok(Err(VerifyFailure {
                seq: first,
                reason: FailureReason::TilesMismatch,
                detail: format!(
                    "stored Merkle tile {}/{} is not the one the entries give",
                    w.level, w.index
                ),
            }));
        }
    }
    Ok(Ok(()))
}
