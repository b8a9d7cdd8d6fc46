//! The JSON consent receipt's format (`consent-ledger/receipt/v1`): the
//! fields of ISO/IEC TS 27560 / Kantara Consent Receipt practice, with the
//! entry line it is about and a C2SP tlog-proof of that entry. The ledger
//! fills it (`consent_ledger::receipt`); anyone checks it with the proof
//! and the log's verifier key. It names the subject only by pseudonym.
//!
//! Members are declared in alphabetical order: a receipt is written as a
//! JSON object whose members are in that order, which is also the order
//! of RFC 8785 for these names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version tag of the JSON receipt.
pub const RECEIPT_SCHEMA: &str = "consent-ledger/receipt/v1";

// Members in alphabetical order, as the JSON object is written.
/// A consent receipt for one entry of a consent-ledger log
/// (`consent-ledger/receipt/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConsentReceipt {
    /// The channel the event came through, as the entry says.
    pub collection_method: Option<String>,
    /// `explicit` for a grant or an acceptance, else `not-applicable`.
    pub consent_type: String,
    /// The entry's canonical line, as it is hashed into the log.
    pub entry: String,
    pub event: ReceiptEvent,
    /// The policy's jurisdiction, if it states one.
    pub jurisdiction: Option<String>,
    /// The log's name (its checkpoints' origin).
    pub ledger: String,
    /// The controller, from the policy version (not covered by the proof).
    pub pii_controllers: Option<Vec<ReceiptController>>,
    /// The subject's pseudonym (64 hex digits), for entries about a subject.
    pub pii_principal_id: Option<String>,
    /// The policy version the entry names.
    pub policy_version: Option<String>,
    /// The policy version the receipt describes (not covered by the proof;
    /// its `content_hash` is checkable against the `policy_published` entry).
    pub privacy_notice: Option<PrivacyNotice>,
    /// The purposes the entry is about, as the policy describes them.
    pub purposes: Vec<ReceiptPurpose>,
    /// `<ledger>/<seq>`.
    pub receipt_id: String,
    /// The entry's hash (64 hex digits).
    pub record_id: String,
    /// Always `consent-ledger/receipt/v1`.
    pub schema: String,
    /// The entry's position in the log.
    pub seq: u64,
    /// The C2SP tlog-proof@v1 text of the entry against a checkpoint.
    pub tlog_proof: String,
    /// How long what the entry records holds.
    pub validity: String,
    /// How the subject withdraws, from the policy.
    pub withdrawal_method: Option<String>,
}

/// What happened, in W3C DPV terms where it is a consent state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptEvent {
    /// When the subject acted (today: the recording time).
    pub event_time: String,
    /// When the ledger signed the entry.
    pub recorded_time: String,
    /// The DPV consent state the event puts its purpose in (`dpv:ConsentGiven`, …).
    pub state: Option<String>,
    /// The entry's event type.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptController {
    pub contact: Option<String>,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrivacyNotice {
    /// SHA-256 of the RFC 8785 form of the policy version.
    pub content_hash: String,
    pub language: Option<String>,
    pub url: Option<String>,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptPurpose {
    pub description: String,
    /// The legal basis as a DPV term (`dpv:Consent`, `dpv:Contract`, …).
    pub lawful_basis: String,
    /// The data categories the entry names, else the purpose's.
    pub pii_types: Vec<String>,
    pub purpose: String,
    pub recipients: Vec<String>,
    pub required: bool,
    pub retention: ReceiptRetention,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptRetention {
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days: Option<u32>,
}
