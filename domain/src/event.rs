//! What the log records. Every entry carries exactly one [`Event`].
//!
//! Subject events are generic over how the subject and the evidence are
//! written: in the log they are a [`Pseudonym`] and an evidence [`Digest`];
//! on the wire, before the ledger has pseudonymised them, they are the
//! controller's own subject identifier and the evidence itself (see
//! [`crate::command`]). One set of types serves both, so the two cannot drift.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{Channel, DataCategoryId, Digest, PolicyVersionId, Pseudonym, PurposeId};
use crate::policy::PolicyVersion;
use crate::policy_diff::PolicyChange;

/// An entry's event, as recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
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
}

impl Event {
    /// The subject this event is about, if any.
    pub fn subject(&self) -> Option<&Pseudonym> {
        match self {
            Event::LedgerInitialized(_) | Event::KeyRotated(_) | Event::PolicyPublished(_) => None,
            Event::ConsentGranted(e) => Some(&e.subject),
            Event::ConsentWithdrawn(e) => Some(&e.subject),
            Event::Unsubscribed(e) => Some(&e.subject),
            Event::PolicyAccepted(e) => Some(&e.subject),
            Event::ObjectionRecorded(e) => Some(&e.subject),
            Event::AccountClosed(e) => Some(&e.subject),
            Event::ErasureRequested(e) => Some(&e.subject),
        }
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerInitialized {
    /// The ledger's name (its origin), e.g. `consent.example.com/ledger`.
    pub ledger: String,
    /// Key id of `public_key` (see FORMAT.md).
    pub key_id: String,
    /// Ed25519 public key, 64 lower-case hex digits.
    pub public_key: String,
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
    pub policy: PolicyVersion,
    /// SHA-256 of the RFC 8785 canonical JSON of `policy`.
    pub content_hash: Digest,
    /// The version this one follows, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<PolicyVersionId>,
    /// Changes against `previous_version`, computed by the ledger.
    pub changes: Vec<PolicyChange>,
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

macro_rules! subject_event {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(
            deny_unknown_fields,
            bound(deserialize = "S: Deserialize<'de>, E: Deserialize<'de>")
        )]
        pub struct $name<S = Pseudonym, E = Digest> {
            /// The data subject: a pseudonym in the log, the controller's
            /// subject identifier on the wire.
            pub subject: S,
            $($(#[$fdoc])* pub $field: $ty,)*
            /// Where or how the event was collected.
            pub channel: Channel,
            /// Evidence kept off the log: its reference in the log, the
            /// evidence itself (a JSON object) on the wire.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub evidence: Option<E>,
        }
    };
}

subject_event!(
    /// The subject gave consent for a purpose, for some of its data categories.
    ConsentGranted {
        purpose: PurposeId,
        data_categories: Vec<DataCategoryId>,
        /// The policy version the subject was shown (must be the one in force).
        policy_version: PolicyVersionId,
    }
);

subject_event!(
    /// The subject withdrew consent for one purpose, or for every purpose.
    ConsentWithdrawn {
        /// The purpose; absent means every purpose.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purpose: Option<PurposeId>,
    }
);

subject_event!(
    /// The subject stopped one contact medium (a data category such as
    /// `email-address`) for a purpose, e.g. by an unsubscribe link.
    Unsubscribed {
        purpose: PurposeId,
        data_category: DataCategoryId,
    }
);

subject_event!(
    /// The subject accepted a policy version.
    PolicyAccepted {
        policy_version: PolicyVersionId,
        method: AcceptanceMethod,
    }
);

subject_event!(
    /// The subject objected to a purpose based on legitimate interest.
    ObjectionRecorded { purpose: PurposeId }
);

subject_event!(
    /// The subject closed their account: contract-based processing ends.
    AccountClosed {}
);

subject_event!(
    /// The subject asked for erasure: every processing ends, their secret
    /// and off-log personal data are deleted, recipients are told.
    ErasureRequested {}
);
