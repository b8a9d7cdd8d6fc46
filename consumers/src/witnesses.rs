//! Pushes every checkpoint the ledger publishes to the witnesses it is
//! configured with (C2SP tlog-witness), with the consistency proof from
//! each witness's latest cosigned size, and adds the cosignatures that
//! verify under the witness's key to the stored checkpoint, so later
//! checkpoints fetched and receipts issued carry them.
//!
//! It knows the ledger's public surface (checkpoints, proofs from the
//! store's tiles) and outgoing HTTP through [`crate::witness_client`]; it
//! must not know about SQL or the server's routes. A witness that is down
//! or refuses delays nothing: publication never waits for cosignatures.

use consent_ledger::store::StoredCheckpoint;
use consent_ledger::tlog::{Note, VerifierKey};
use consent_ledger::tree::TreeReader;
use consent_ledger::{Ledger, Store};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::witness_client::{add_checkpoint, WitnessError};

/// One witness: its cosignature verifier key and its base URL.
#[derive(Debug, Clone)]
pub struct WitnessTarget {
    pub key: VerifierKey,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--witness {0}: expected <witness verifier key>=<base URL>, the key of type cosignature (0x04)"
)]
pub struct BadTarget(String);

impl WitnessTarget {
    /// `<name>+<key id>+<base64 key>=<URL>` (the key's base64 has no `=`).
    pub fn parse(s: &str) -> Result<Self, BadTarget> {
        let bad = || BadTarget(s.chars().take(80).collect());
        let key_end = s.find("=http").ok_or_else(bad)?;
        let key = VerifierKey::parse(&s[..key_end]).map_err(|_| bad())?;
        if key.kind != consent_ledger::tlog::note::COSIGNATURE {
            return Err(bad());
        }
        Ok(Self {
            key,
            url: s[key_end + 1..].trim_end_matches('/').to_owned(),
        })
    }
}

/// Follows the ledger's checkpoints until `stop`, pushing each to every
/// witness.
pub async fn run<S: Store>(
    ledger: Ledger<S>,
    targets: Vec<WitnessTarget>,
    mut stop: watch::Receiver<bool>,
) {
    if targets.is_empty() {
        return;
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTP client builds");
    let reader = TreeReader::default();
    // What each witness has cosigned last, as far as we know (a 409 says).
    let mut sizes = vec![0u64; targets.len()];
    let mut pushed = 0u64;
    let mut checkpoints = ledger.checkpointer().subscribe();
    let store = ledger.store().clone();
    loop {
        let latest: Option<StoredCheckpoint> = checkpoints.borrow_and_update().clone();
        if let Some(cp) = latest.filter(|c| c.size > pushed) {
            pushed = cp.size;
            let pushes = targets
                .iter()
                .zip(sizes.iter_mut())
                .map(|(target, size)| push(&client, &*store, &reader, target, size, cp.clone()));
            let lines: Vec<_> = futures_util::future::join_all(pushes)
                .await
                .into_iter()
                .flatten()
                .collect();
            if !lines.is_empty() {
                match ledger
                    .checkpointer()
                    .add_cosignatures(cp.size, &lines)
                    .await
                {
                    Ok(()) => info!(
                        size = cp.size,
                        cosignatures = lines.len(),
                        "checkpoint cosigned"
                    ),
                    Err(e) => warn!(error = %e, "storing cosignatures failed"),
                }
            }
        }
        tokio::select! {
            changed = checkpoints.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Pushes one checkpoint to one witness; the cosignature line if it
/// verifies under the witness's key.
async fn push<S: Store>(
    client: &reqwest::Client,
    store: &S,
    reader: &TreeReader,
    target: &WitnessTarget,
    known: &mut u64,
    cp: StoredCheckpoint,
) -> Option<consent_ledger::tlog::SignatureLine> {
    for _ in 0..3 {
        if *known > cp.size {
            debug!(witness = %target.key.name, size = *known, "the witness has seen a later checkpoint");
            return None;
        }
        let proof = match reader.consistency(store, *known, cp.size).await {
            Ok(p) => p,
            Err(e) => {
                warn!(witness = %target.key.name, error = %e, "no consistency proof for the witness");
                return None;
            }
        };
        match add_checkpoint(client, &target.url, *known, &proof, &cp.note).await {
            Ok(lines) => {
                *known = cp.size;
                let mut note = Note::parse(&cp.note).ok()?;
                for l in &lines {
                    note.add(l.clone());
                }
                let verified = note.verify(std::slice::from_ref(&target.key)).ok()?;
                if verified.is_empty() {
                    warn!(witness = %target.key.name, "the witness answered without a valid cosignature");
                    return None;
                }
                return lines
                    .into_iter()
                    .find(|l| l.name == target.key.name && l.key_id == target.key.key_id);
            }
            Err(WitnessError::Conflict { size }) => {
                debug!(witness = %target.key.name, size, "the witness is at another size; proving from there");
                *known = size;
            }
            Err(e) => {
                warn!(witness = %target.key.name, error = %e, "the witness did not cosign");
                return None;
            }
        }
    }
    None
}
