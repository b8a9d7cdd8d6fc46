//! What the log records. Every entry carries exactly one [`Event`].
//!
//! Subject events are generic over how the subject and the evidence are
//! written: in the log they are a [`Pseudonym`] and an evidence [`Digest`];
//! on the wire, before the ledger has pseudonymised them, they are the
//! controller's own subject identifier and the evidence itself (see
//! [`crate::command`]). One set of types serves both, so the two cannot drift.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{
    Channel, DataCategoryId, Digest, PolicyVersionId, Pseudonym, PurposeId, RecipientId,
};
use crate::policy::PolicyVersion;
use crate::policy_diff::PolicyChange;

/// An entry's event, as recorded in the log.
///
/// In JSON an event is adjacently tagged, `{"type": "consent_granted",
/// "event": {...}}`: the entry format places `type` and `event` as members
/// of the entry itself (FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "event", rename_all = "snake_case")]
// Sized by the policy publication; events are built once and moved rarely.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Genesis: names the ledger and introduces its first signing key.
    LedgerInitialized(LedgerInitialized),
    /// Signed by the outgoing key; later entries are signed by the new one.
    KeyRotated(KeyRotated),
    PolicyPublished(PolicyPublished),
    ConsentGranted(ConsentGranted),
    ConsentWithdrawn(ConsentWithdrawn),
    Unsubscribed(Unsubscribed),
    PolicyAccepted(PolicyAccepted),
    ObjectionRecorded(ObjectionRecorded),
    AccountClosed(AccountClosed),
    ErasureRequested(ErasureRequested),
    /// A recipient confirmed it was told of a withdrawal, objection,
    /// unsubscription, account closure or erasure (appended by the
    /// notifier, once per recipient, after the recipient's endpoint
    /// answered 2xx): "every recipient was told" is provable from the log.
    RecipientNotified(RecipientNotified),
    /// The operator accepted that the store lost entries this ledger had
    /// signed (a restored backup, a lost WAL): the checkpoint that can no
    /// longer be extended, and how many entries the store kept. Appended
    /// before anything else is signed onto the shortened log, so the
    /// inconsistency with that checkpoint is explained in the log itself.
    LossAccepted(LossAccepted),
}

impl Event {
    /// The subject this event is about, if any.
    pub fn subject(&self) -> Option<&Pseudonym> {
        match self {
            Event::LedgerInitialized(_)
            | Event::KeyRotated(_)
            | Event::PolicyPublished(_)
            | Event::LossAccepted(_) => None,
            Event::ConsentGranted(e) => Some(&e.subject),
            Event::ConsentWithdrawn(e) => Some(&e.subject),
            Event::Unsubscribed(e) => Some(&e.subject),
            Event::PolicyAccepted(e) => Some(&e.subject),
            Event::ObjectionRecorded(e) => Some(&e.subject),
            Event::AccountClosed(e) => Some(&e.subject),
            Event::ErasureRequested(e) => Some(&e.subject),
            Event::RecipientNotified(e) => Some(&e.subject),
        }
    }

    /// The policy version the event names: the one a grant or acceptance
    /// was given under, or the one a publication introduces.
    pub fn policy_version(&self) -> Option<&PolicyVersionId> {
        match self {
            Event::ConsentGranted(e) => Some(&e.policy_version),
            Event::PolicyAccepted(e) => Some(&e.policy_version),
            Event::PolicyPublished(e) => Some(&e.policy.version),
            _ => None,
        }
    }

    /// The evidence reference, if the event carries one.
    pub fn evidence(&self) -> Option<&Digest> {
        match self {
            Event::LedgerInitialized(_)
            | Event::KeyRotated(_)
            | Event::PolicyPublished(_)
            | Event::LossAccepted(_) => None,
            Event::ConsentGranted(e) => e.evidence.as_ref(),
            Event::ConsentWithdrawn(e) => e.evidence.as_ref(),
            Event::Unsubscribed(e) => e.evidence.as_ref(),
            Event::PolicyAccepted(e) => e.evidence.as_ref(),
            Event::ObjectionRecorded(e) => e.evidence.as_ref(),
            Event::AccountClosed(e) => e.evidence.as_ref(),
            Event::ErasureRequested(e) => e.evidence.as_ref(),
            Event::RecipientNotified(_) => None,
        }
    }

    /// The payload's JSON (the `event` member of an entry). Every payload
    /// type declares its fields in sorted order and holds no maps or
    /// floats, so this is its RFC 8785 canonical form.
    pub fn payload_json(&self) -> String {
        let s = match self {
            Event::LedgerInitialized(e) => serde_json::to_string(e),
            Event::KeyRotated(e) => serde_json::to_string(e),
            Event::PolicyPublished(e) => serde_json::to_string(e),
            Event::ConsentGranted(e) => serde_json::to_string(e),
            Event::ConsentWithdrawn(e) => serde_json::to_string(e),
            Event::Unsubscribed(e) => serde_json::to_string(e),
            Event::PolicyAccepted(e) => serde_json::to_string(e),
            Event::ObjectionRecorded(e) => serde_json::to_string(e),
            Event::AccountClosed(e) => serde_json::to_string(e),
            Event::ErasureRequested(e) => serde_json::to_string(e),
            Event::RecipientNotified(e) => serde_json::to_string(e),
            Event::LossAccepted(e) => serde_json::to_string(e),
        };
        s.expect("event payloads serialise to plain JSON")
    }

    /// Parses a payload of the given `type`.
    pub fn from_payload(kind: &str, payload: &str) -> Result<Event, serde_json::Error> {
        use serde::de::Error;
        Ok(match kind {
            "ledger_initialized" => Event::LedgerInitialized(serde_json::from_str(payload)?),
            "key_rotated" => Event::KeyRotated(serde_json::from_str(payload)?),
            "policy_published" => Event::PolicyPublished(serde_json::from_str(payload)?),
            "consent_granted" => Event::ConsentGranted(serde_json::from_str(payload)?),
            "consent_withdrawn" => Event::ConsentWithdrawn(serde_json::from_str(payload)?),
            "unsubscribed" => Event::Unsubscribed(serde_json::from_str(payload)?),
            "policy_accepted" => Event::PolicyAccepted(serde_json::from_str(payload)?),
            "objection_recorded" => Event::ObjectionRecorded(serde_json::from_str(payload)?),
            "account_closed" => Event::AccountClosed(serde_json::from_str(payload)?),
            "erasure_requested" => Event::ErasureRequested(serde_json::from_str(payload)?),
            "recipient_notified" => Event::RecipientNotified(serde_json::from_str(payload)?),
            "loss_accepted" => Event::LossAccepted(serde_json::from_str(payload)?),
            other => {
                return Err(serde_json::Error::custom(format!(
                    "unknown event type {other:?}"
                )))
            }
        })
    }

    /// The `type` tag, e.g. `consent_granted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::LedgerInitialized(_) => "ledger_initialized",
            Event::KeyRotated(_) => "key_rotated",
            Event::PolicyPublished(_) => "policy_published",
            Event::ConsentGranted(_) => "consent_granted",
            Event::ConsentWithdrawn(_) => "consent_withdrawn",
            Event::Unsubscribed(_) => "unsubscribed",
            Event::PolicyAccepted(_) => "policy_accepted",
            Event::ObjectionRecorded(_) => "objection_recorded",
            Event::AccountClosed(_) => "account_closed",
            Event::ErasureRequested(_) => "erasure_requested",
            Event::RecipientNotified(_) => "recipient_notified",
            Event::LossAccepted(_) => "loss_accepted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerInitialized {
    /// Key id of `public_key` (see FORMAT.md).
    pub key_id: String,
    /// The ledger's name (its origin), e.g. `consent.example.com/ledger`.
    pub ledger: String,
    /// Ed25519 public key, 64 lower-case hex digits.
    pub public_key: String,
}

/// A recipient confirmed (2xx) a notice of a withdrawal, objection,
/// unsubscription, account closure or erasure.
// Fields in code-point order, as in every payload (serde then writes JCS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientNotified {
    /// Sequence number of the entry the recipient was told about.
    pub entry: u64,
    /// That entry's hash, 64 lower-case hex digits.
    pub entry_hash: String,
    /// Purposes whose processing the recipient was told to stop (empty:
    /// all processing of the subject's data, and delete it on erasure).
    pub purposes: Vec<PurposeId>,
    pub recipient: RecipientId,
    pub subject: Pseudonym,
}

/// A loss of signed entries, accepted by the operator.
// Fields in code-point order, as in every payload (serde then writes JCS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossAccepted {
    /// The signed checkpoint (C2SP signed note, as the key directory kept
    /// it) that the store no longer extends.
    pub checkpoint: String,
    /// Entries the store kept (0..kept); the checkpoint covered more, or
    /// other entries at the same positions.
    pub kept: u64,
    /// The operator's reason (no personal data).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRotated {
    /// Key id of the new key.
    pub key_id: String,
    /// The new Ed25519 public key, 64 lower-case hex digits.
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPublished {
    /// Changes against `previous_version`, computed by the ledger.
    pub changes: Vec<PolicyChange>,
    /// SHA-256 of the RFC 8785 canonical JSON of `policy`.
    pub content_hash: Digest,
    pub policy: PolicyVersion,
    /// The version this one follows, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<PolicyVersionId>,
}

/// How a subject accepted a policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceMethod {
    /// An affirmative act: a click, a signature.
    Explicit,
    /// Continued use of the service after a non-material update.
    ContinuedUse,
}

/// The fields every subject event shares are `subject`, `channel` and
/// `evidence`. Fields are declared in sorted order: serde_json then writes
/// the RFC 8785 canonical form directly (tested in `tests/canonical.rs`).
macro_rules! subject_event {
    ($(#[$doc:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(
            deny_unknown_fields,
            bound(deserialize = "S: Deserialize<'de>, E: Deserialize<'de>")
        )]
        pub struct $name<S = Pseudonym, E = Digest> { $($body)* }
    };
}

subject_event!(
    /// The subject gave consent for a purpose, for some of its data categories.
    ConsentGranted {
        /// Where or how the event was collected.
        pub channel: Channel,
        pub data_categories: Vec<DataCategoryId>,
        /// Evidence kept off the log: its reference in the log, the evidence
        /// itself (a JSON object) on the wire.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        /// The policy version the subject was shown (must be the one in force).
        pub policy_version: PolicyVersionId,
        pub purpose: PurposeId,
        /// The data subject: a pseudonym in the log, the controller's subject
        /// identifier on the wire.
        pub subject: S,
    }
);

subject_event!(
    /// The subject withdrew consent for one purpose, or for every purpose.
    ConsentWithdrawn {
        pub channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        /// The purpose; absent means every purpose.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub purpose: Option<PurposeId>,
        pub subject: S,
    }
);

subject_event!(
    /// The subject stopped one contact medium (a data category such as
    /// `email-address`) for a purpose, e.g. by an unsubscribe link.
    Unsubscribed {
        pub channel: Channel,
        pub data_category: DataCategoryId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        pub purpose: PurposeId,
        pub subject: S,
    }
);

subject_event!(
    /// The subject accepted a policy version.
    PolicyAccepted {
        pub channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        pub method: AcceptanceMethod,
        pub policy_version: PolicyVersionId,
        pub subject: S,
    }
);

subject_event!(
    /// The subject objected to a purpose based on legitimate interest.
    ObjectionRecorded {
        pub channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        pub purpose: PurposeId,
        pub subject: S,
    }
);

subject_event!(
    /// The subject closed their account: contract-based processing ends.
    AccountClosed {
        pub channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        pub subject: S,
    }
);

subject_event!(
    /// The subject asked for erasure: every processing ends, their secret
    /// and off-log personal data are deleted, recipients are told.
    ErasureRequested {
        pub channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub evidence: Option<E>,
        pub subject: S,
    }
);
