//! Consent receipts: for any entry, a C2SP tlog-proof@v1 (inclusion proof
//! plus the signed checkpoint it leads to), and a JSON receipt whose fields
//! follow ISO/IEC TS 27560 / Kantara Consent Receipt practice, carrying the
//! entry line and that proof. Both verify offline with the log's verifier
//! key alone ([`verify_receipt`]). A receipt names the subject only by
//! pseudonym: it never holds personal data.

use consent_domain::policy::{LegalBasis, PolicyVersion};
use consent_domain::pseudonym::content_hash;
use consent_domain::Event;
use consent_tlog::consent_receipt::{
    ConsentReceipt, PrivacyNotice, ReceiptController, ReceiptEvent, ReceiptPurpose,
    ReceiptRetention,
};
use consent_tlog::DecisionReceipt;
use serde_json::Value;

use crate::error::LedgerError;
use crate::format::EntryLine;
use crate::store::{Store, StoredCheckpoint};
use crate::tlog::{leaf_hash, open_checkpoint, verify_inclusion, TlogProof, VerifierKey};
use crate::tree::TreeReader;

pub use consent_tlog::consent_receipt::RECEIPT_SCHEMA;

/// The tlog-proof of entry `seq` against `checkpoint` (which must cover it).
pub async fn tlog_proof<S: Store>(
    store: &S,
    reader: &TreeReader,
    seq: u64,
    checkpoint: &StoredCheckpoint,
) -> Result<TlogProof, LedgerError> {
    let proof = reader.inclusion(store, seq, checkpoint.size).await?;
    Ok(TlogProof {
        extra: None,
        index: seq,
        proof,
        checkpoint: checkpoint.note.clone(),
    })
}

/// The W3C DPV consent state an event puts its purpose in, where it is one.
fn dpv_state(event: &Event) -> Option<&'static str> {
    Some(match event {
        Event::ConsentGranted(_) => "dpv:ConsentGiven",
        Event::PolicyAccepted(_) => "dpv:RenewedConsentGiven",
        Event::ConsentWithdrawn(_) | Event::Unsubscribed(_) => "dpv:ConsentWithdrawn",
        Event::ObjectionRecorded(_) => "dpv:ConsentRefused",
        Event::AccountClosed(_) | Event::ErasureRequested(_) => "dpv:ConsentRevoked",
        _ => return None,
    })
}

fn legal_basis(b: &LegalBasis) -> &'static str {
    match b {
        LegalBasis::Consent => "dpv:Consent",
        LegalBasis::Contract => "dpv:Contract",
        LegalBasis::LegalObligation => "dpv:LegalObligation",
        LegalBasis::LegitimateInterest => "dpv:LegitimateInterest",
    }
}

/// What an entry's payload names: the purposes it is about (one, several,
/// or none: every purpose of the policy) and the data categories, if any.
fn named_in(payload: &Value) -> (Vec<String>, Option<Vec<String>>) {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let purposes = match (payload.get("purpose"), payload.get("purposes")) {
        (Some(Value::String(p)), _) => vec![p.clone()],
        (_, Some(ps @ Value::Array(_))) => strings(ps),
        _ => Vec::new(),
    };
    let categories = match (payload.get("data_categories"), payload.get("data_category")) {
        (Some(c @ Value::Array(_)), _) => Some(strings(c)),
        (_, Some(Value::String(c))) => Some(vec![c.clone()]),
        _ => None,
    };
    (purposes, categories)
}

/// The JSON consent receipt of an entry. `policy` is the policy version the
/// entry names, or else the one in force when it was recorded.
pub fn consent_receipt(
    origin: &str,
    line: &str,
    entry: &EntryLine,
    policy: Option<&PolicyVersion>,
    proof: &TlogProof,
) -> ConsentReceipt {
    let payload: Value = serde_json::from_str(&entry.event.payload_json()).unwrap_or(Value::Null);
    let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
    let (named, named_categories) = named_in(&payload);
    let purposes = policy
        .map(|p| {
            p.purposes
                .iter()
                .filter(|pu| named.is_empty() || named.iter().any(|n| n == pu.id.as_str()))
                .map(|pu| ReceiptPurpose {
                    description: pu.description.clone(),
                    lawful_basis: legal_basis(&pu.legal_basis).to_owned(),
                    pii_types: named_categories.clone().unwrap_or_else(|| {
                        pu.data_categories.iter().map(|c| c.to_string()).collect()
                    }),
                    purpose: pu.id.to_string(),
                    recipients: pu.recipients.iter().map(|r| r.to_string()).collect(),
                    required: pu.required,
                    retention: ReceiptRetention {
                        description: pu.retention.description.clone(),
                        max_days: pu.retention.max_days,
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let consent_type = match &entry.event {
        Event::ConsentGranted(_) | Event::PolicyAccepted(_) => "explicit",
        _ => "not-applicable",
    };
    let validity = match &entry.event {
        Event::ConsentGranted(_) | Event::PolicyAccepted(_) => {
            "until withdrawn, or until a material change of the policy asks for re-acceptance"
        }
        _ => "permanent record",
    };
    ConsentReceipt {
        collection_method: text("channel"),
        consent_type: consent_type.to_owned(),
        entry: line.to_owned(),
        event: ReceiptEvent {
            // The ledger records events as they arrive: the event's time is
            // its recording time.
            event_time: entry.recorded_at.to_string(),
            recorded_time: entry.recorded_at.to_string(),
            state: dpv_state(&entry.event).map(str::to_owned),
            kind: entry.event.kind().to_owned(),
        },
        jurisdiction: policy.and_then(|p| p.jurisdiction.clone()),
        ledger: origin.to_owned(),
        pii_controllers: policy.map(|p| {
            vec![ReceiptController {
                contact: p.controller.contact.clone(),
                id: p.controller.id.clone(),
                name: p.controller.name.clone(),
            }]
        }),
        pii_principal_id: entry.event.subject().map(|s| s.to_string()),
        policy_version: text("policy_version"),
        privacy_notice: policy.map(|p| PrivacyNotice {
            content_hash: content_hash(p).into(),
            language: p.language.clone(),
            url: p.url.clone(),
            version: p.version.to_string(),
        }),
        purposes,
        receipt_id: format!("{origin}/{}", entry.seq),
        record_id: entry.hash.clone(),
        schema: RECEIPT_SCHEMA.to_owned(),
        seq: entry.seq,
        tlog_proof: proof.to_string(),
        validity: validity.to_owned(),
        withdrawal_method: policy.map(|p| format!(
            "withdraw at any time, free of charge, through the controller{}; the withdrawal is recorded in this ledger",
            p.controller.contact.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        )),
    }
}

/// `(file name, schema)` of the receipt formats, published in `schemas/`.
pub fn receipt_schemas() -> Vec<(&'static str, String)> {
    use consent_domain::schema::schema_json;
    vec![
        (
            "consent-receipt.schema.json",
            schema_json::<ConsentReceipt>(),
        ),
        (
            "decision-receipt.schema.json",
            schema_json::<DecisionReceipt>(),
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("malformed receipt: {0}")]
    Malformed(String),
    #[error("the checkpoint is not signed as required: {0}")]
    Checkpoint(String),
    #[error("the inclusion proof does not verify: {0}")]
    Proof(String),
    #[error("the receipt's fields do not match its entry: {0}")]
    Mismatch(&'static str),
}

/// What a verified receipt proves.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    pub origin: String,
    pub seq: u64,
    pub tree_size: u64,
    pub witnesses: Vec<String>,
    pub entry: EntryLine,
}

/// Verifies a receipt offline: a JSON receipt, or a tlog-proof text with
/// the entry line given apart. The checkpoint must be signed by one of
/// `log_keys` and cosigned by `min_witnesses` of `witness_keys`; the entry
/// must be leaf `index` of its tree.
pub fn verify_receipt(
    receipt: &str,
    entry_line: Option<&str>,
    log_keys: &[VerifierKey],
    witness_keys: &[VerifierKey],
    min_witnesses: usize,
) -> Result<VerifiedReceipt, ReceiptError> {
    let malformed = |m: String| ReceiptError::Malformed(m);
    let (proof_text, line, json) = if receipt.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(receipt).map_err(|e| malformed(e.to_string()))?;
        let proof = v["tlog_proof"]
            .as_str()
            .ok_or(malformed("no tlog_proof".into()))?
            .to_owned();
        let line = v["entry"]
            .as_str()
            .ok_or(malformed("no entry".into()))?
            .to_owned();
        (proof, line, Some(v))
    } else {
        let line = entry_line
            .ok_or(malformed(
                "a tlog-proof needs the entry line beside it".into(),
            ))?
            .trim_end_matches('\n')
            .to_owned();
        (receipt.to_owned(), line, None)
    };
    let proof = TlogProof::parse(&proof_text).map_err(|e| malformed(e.to_string()))?;
    let opened = open_checkpoint(&proof.checkpoint, log_keys, witness_keys, min_witnesses)
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let cp = opened.checkpoint;
    verify_inclusion(
        proof.index,
        cp.size,
        &leaf_hash(line.as_bytes()),
        &proof.proof,
        &cp.root,
    )
    .map_err(|e| ReceiptError::Proof(e.to_string()))?;
    let entry = EntryLine::parse(&line).map_err(|e| malformed(format!("entry: {e}")))?;
    if entry.seq != proof.index {
        return Err(ReceiptError::Mismatch(
            "the entry's seq is not the proof's index",
        ));
    }
    if let Some(v) = json {
        // Every field the entry determines must be what the entry says:
        // rebuild them (without the policy) and compare. Fields taken from
        // the policy (controller, notice, lawful basis, retention,
        // recipients) are not covered by the proof; the notice's
        // `content_hash` can be checked against the policy_published entry.
        let rebuilt =
            serde_json::to_value(consent_receipt(&cp.origin, &line, &entry, None, &proof))
                .expect("a receipt serialises");
        for field in [
            "schema",
            "receipt_id",
            "record_id",
            "pii_principal_id",
            "policy_version",
            "consent_type",
            "collection_method",
            "event",
            "validity",
            "ledger",
            "seq",
            "entry",
            "tlog_proof",
        ] {
            if v.get(field) != rebuilt.get(field) {
                return Err(ReceiptError::Mismatch(field));
            }
        }
        let payload: Value =
            serde_json::from_str(&entry.event.payload_json()).unwrap_or(Value::Null);
        let (named, categories) = named_in(&payload);
        let categories = categories.map(|c| serde_json::json!(c));
        for p in v["purposes"].as_array().into_iter().flatten() {
            let id = p["purpose"].as_str().unwrap_or_default();
            if !named.is_empty() && !named.iter().any(|n| n == id) {
                return Err(ReceiptError::Mismatch("purposes"));
            }
            if categories.as_ref().is_some_and(|c| &p["pii_types"] != c) {
                return Err(ReceiptError::Mismatch("purposes.pii_types"));
            }
        }
    }
    Ok(VerifiedReceipt {
        origin: cp.origin,
        seq: entry.seq,
        tree_size: cp.size,
        witnesses: opened.witnesses.iter().map(|w| w.name.clone()).collect(),
        entry,
    })
}
