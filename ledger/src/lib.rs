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
//! - [`verify`]: chain verification with Ed25519 batch verification.
//! - [`export`]: JSON Lines export and its offline verification.
//! - [`error`]: [`LedgerError`] (infrastructure) and [`Rejection`] (business).

pub mod checkpointer;
pub mod decision_receipt;
pub mod error;
pub mod export;
pub mod format;
pub mod keys;
pub mod ledger;
pub mod receipt;
pub mod replay;
pub mod store;
pub mod tlog;
pub mod tree;
pub mod verify;
mod writer;

pub use error::{LedgerError, Rejection};
pub use keys::{KeyStore, LedgerKey};
pub use ledger::{Ledger, LedgerConfig};
pub use store::{AnyStore, PgStore, SqliteStore, Store, StoreError, WriterClaim};
pub use verify::{FailureReason, VerifyFailure, VerifyReport};
pub use writer::{notification_key, AppendResult, Appended, Committed};

/// Verifies the whole stored log, `WINDOW` entries at a time, reading the
/// next window while the current one is checked.
pub async fn verify_store<S: Store>(
    store: &S,
    pinned: Option<[u8; 32]>,
) -> Result<Result<VerifyReport, VerifyFailure>, StoreError> {
    verify_store_with(store, verify::ChainVerifier::new(pinned)).await
}

/// [`verify_store`] with a verifier set up by the caller.
pub async fn verify_store_with<S: Store>(
    store: &S,
    mut verifier: verify::ChainVerifier,
) -> Result<Result<VerifyReport, VerifyFailure>, StoreError> {
    let mut page = store.read_lines(0, verify::WINDOW as u32).await?;
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
        page = next?;
    }
    Ok(Ok(verifier.finish()))
}
