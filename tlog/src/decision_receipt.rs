//! Signed decision receipts: a decision (subject pseudonym, purpose, data
//! category, instant, answer, reason, evidence positions and hashes) with
//! the checkpoint it was evaluated against, signed by the ledger's key, so
//! a service can later prove it checked consent before processing, and
//! anyone can check the evidence against the log.
//!
//! Signature: Ed25519 over `consent-ledger/decision-receipt/v1\n` ‖ the
//! RFC 8785 canonical JSON of the receipt without its `signature` member.

use ed25519_dalek::{Signature, Signer as _};
use serde_json::Value;

use crate::{open_checkpoint, NoteSigner, VerifierKey};

pub const DECISION_RECEIPT_DOMAIN: &[u8] = b"consent-ledger/decision-receipt/v1\n";
pub const DECISION_RECEIPT_TYPE: &str = "consent-ledger/decision-receipt/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionReceiptError {
    #[error("malformed decision receipt: {0}")]
    Malformed(&'static str),
    #[error("the receipt's signature does not verify with the given key")]
    BadSignature,
    #[error("the receipt's checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("evidence entry {0} is beyond the checkpoint the decision was evaluated at")]
    EvidenceBeyondCheckpoint(u64),
}

fn signed_bytes(receipt: &Value) -> Vec<u8> {
    let mut body = receipt.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("signature");
    }
    let mut bytes = DECISION_RECEIPT_DOMAIN.to_vec();
    bytes.extend(serde_json_canonicalizer::to_vec(&body).expect("JSON values serialise"));
    bytes
}

// Members in alphabetical order, as the JSON object is written.
/// A decision with the checkpoint it was evaluated at, signed with the
/// log's key (`consent-ledger/decision-receipt/v1`).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct DecisionReceipt {
    /// The checkpoint (a C2SP signed note) the decision was evaluated at.
    pub checkpoint: String,
    /// The decision as the API answered it (`POST /v1/decisions`).
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub decision: Value,
    /// Ed25519 signature, 128 hex digits, over the bytes
    /// `consent-ledger/decision-receipt/v1` and a newline, then the RFC 8785
    /// form of the receipt without this member.
    pub signature: String,
    /// The log's verifier key (C2SP note key) that made the signature.
    pub signed_by: String,
    /// Always `consent-ledger/decision-receipt/v1`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Signs `decision` evaluated at `checkpoint` (a signed note).
pub fn sign_decision_receipt(
    decision: Value,
    checkpoint: &str,
    signer: &NoteSigner,
) -> DecisionReceipt {
    let mut receipt = DecisionReceipt {
        checkpoint: checkpoint.to_owned(),
        decision,
        signature: String::new(),
        signed_by: signer.verifier().to_string(),
        kind: DECISION_RECEIPT_TYPE.to_owned(),
    };
    let unsigned = serde_json::to_value(&receipt).expect("a receipt serialises");
    let sig = signer.key.sign(&signed_bytes(&unsigned));
    receipt.signature = hex::encode(sig.to_bytes());
    receipt
}

/// Verifies a decision receipt with the log's verifier key(s): the
/// signature, the checkpoint's signature, and that every evidence entry
/// lies inside the checkpoint's tree. Returns the decision.
pub fn verify_decision_receipt(
    receipt: &Value,
    log_keys: &[VerifierKey],
) -> Result<Value, DecisionReceiptError> {
    let malformed = DecisionReceiptError::Malformed;
    if receipt["type"].as_str() != Some(DECISION_RECEIPT_TYPE) {
        return Err(malformed("not a decision receipt"));
    }
    let sig: [u8; 64] = receipt["signature"]
        .as_str()
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(malformed("signature is not 128 hex digits"))?;
    let bytes = signed_bytes(receipt);
    let signature = Signature::from_bytes(&sig);
    if !log_keys
        .iter()
        .any(|k| k.public.verify_strict(&bytes, &signature).is_ok())
    {
        return Err(DecisionReceiptError::BadSignature);
    }
    let note = receipt["checkpoint"]
        .as_str()
        .ok_or(malformed("no checkpoint"))?;
    let cp = open_checkpoint(note, log_keys, &[], 0)
        .map_err(|e| DecisionReceiptError::Checkpoint(e.to_string()))?
        .checkpoint;
    for e in receipt["decision"]["evidence"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let seq = e["seq"].as_u64().ok_or(malformed("evidence without seq"))?;
        if seq >= cp.size {
            return Err(DecisionReceiptError::EvidenceBeyondCheckpoint(seq));
        }
    }
    Ok(receipt["decision"].clone())
}
