//! What clients submit. A [`Command`] becomes an [`Event`] once the rules
//! accept it (see [`crate::state::LedgerState::decide`]).
//!
//! On the wire (`consent append`, HTTP) commands name the subject by the
//! controller's own identifier ([`SubjectId`]) and carry evidence inline
//! ([`Evidence`]); the ledger pseudonymises the subject and moves the evidence
//! off the log before the rules see the command, so the rules only ever see
//! `Command<Pseudonym, Digest>`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{
    AccountClosed, ConsentGranted, ConsentWithdrawn, ErasureRequested, ObjectionRecorded,
    PolicyAccepted, Unsubscribed,
};
use crate::ids::{Digest, Pseudonym};
use crate::policy::PolicyVersion;
pub use crate::subject_id::{InvalidSubjectId, SubjectId};

/// A request to record something. The `type` names the event it would become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    bound(deserialize = "S: Deserialize<'de>, E: Deserialize<'de>")
)]
pub enum Command<S = Pseudonym, E = Digest> {
    PolicyPublished(PublishPolicy),
    ConsentGranted(ConsentGranted<S, E>),
    ConsentWithdrawn(ConsentWithdrawn<S, E>),
    Unsubscribed(Unsubscribed<S, E>),
    PolicyAccepted(PolicyAccepted<S, E>),
    ObjectionRecorded(ObjectionRecorded<S, E>),
    AccountClosed(AccountClosed<S, E>),
    ErasureRequested(ErasureRequested<S, E>),
}

/// The command as submitted by a client.
pub type Submission = Command<SubjectId, Evidence>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishPolicy {
    pub policy: PolicyVersion,
}

/// Evidence of how an event was collected (IP address, form text, email
/// message id…): any JSON object. Stored off the log; the log keeps only a
/// salted hash of it. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence(pub serde_json::Map<String, serde_json::Value>);

/// Largest magnitude of a number in evidence: every I-JSON reader holds
/// the integers up to it exactly (RFC 7493 §2.2). The HTTP edge refuses
/// larger numbers (`not_i_json`) rather than store a rounded value.
pub const EVIDENCE_NUMBER_LIMIT: u64 = (1 << 53) - 1;

impl JsonSchema for Evidence {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Evidence".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<EvidenceValue>();
        schemars::json_schema!({
            "description": "Evidence of collection: a JSON object (I-JSON: no duplicate member names, numbers within ±(2^53−1)); stored off-log, referenced by salted hash.",
            "type": "object",
            "additionalProperties": value,
        })
    }
}

/// A value inside evidence, for the schema: any JSON whose numbers every
/// reader keeps exactly.
struct EvidenceValue;

impl JsonSchema for EvidenceValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EvidenceValue".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<EvidenceValue>();
        let limit = EVIDENCE_NUMBER_LIMIT;
        schemars::json_schema!({
            "anyOf": [
                {"type": ["string", "boolean", "null"]},
                {"type": "number", "minimum": -(limit as i64), "maximum": limit},
                {"type": "array", "items": value},
                {"type": "object", "additionalProperties": value},
            ]
        })
    }
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Evidence(<{} fields redacted>)", self.0.len())
    }
}

impl<S, E> Command<S, E> {
    pub fn kind(&self) -> &'static str {
        match self {
            Command::PolicyPublished(_) => "policy_published",
            Command::ConsentGranted(_) => "consent_granted",
            Command::ConsentWithdrawn(_) => "consent_withdrawn",
            Command::Unsubscribed(_) => "unsubscribed",
            Command::PolicyAccepted(_) => "policy_accepted",
            Command::ObjectionRecorded(_) => "objection_recorded",
            Command::AccountClosed(_) => "account_closed",
            Command::ErasureRequested(_) => "erasure_requested",
        }
    }

    /// The subject, if the command is about one.
    pub fn subject(&self) -> Option<&S> {
        match self {
            Command::PolicyPublished(_) => None,
            Command::ConsentGranted(c) => Some(&c.subject),
            Command::ConsentWithdrawn(c) => Some(&c.subject),
            Command::Unsubscribed(c) => Some(&c.subject),
            Command::PolicyAccepted(c) => Some(&c.subject),
            Command::ObjectionRecorded(c) => Some(&c.subject),
            Command::AccountClosed(c) => Some(&c.subject),
            Command::ErasureRequested(c) => Some(&c.subject),
        }
    }

    /// The evidence, if any.
    pub fn evidence(&self) -> Option<&E> {
        match self {
            Command::PolicyPublished(_) => None,
            Command::ConsentGranted(c) => c.evidence.as_ref(),
            Command::ConsentWithdrawn(c) => c.evidence.as_ref(),
            Command::Unsubscribed(c) => c.evidence.as_ref(),
            Command::PolicyAccepted(c) => c.evidence.as_ref(),
            Command::ObjectionRecorded(c) => c.evidence.as_ref(),
            Command::AccountClosed(c) => c.evidence.as_ref(),
            Command::ErasureRequested(c) => c.evidence.as_ref(),
        }
    }

    /// The same command with its subject and evidence rewritten, e.g. from
    /// the wire form to the log form. The callbacks see the values in place.
    pub fn map<S2, E2, X>(
        self,
        mut subject: impl FnMut(S) -> Result<S2, X>,
        mut evidence: impl FnMut(E) -> Result<E2, X>,
    ) -> Result<Command<S2, E2>, X> {
        macro_rules! remap {
            ($variant:ident, $c:expr, { $($f:ident),* }) => {{
                let c = $c;
                Command::$variant($variant {
                    subject: subject(c.subject)?,
                    $($f: c.$f,)*
                    channel: c.channel,
                    evidence: c.evidence.map(&mut evidence).transpose()?,
                })
            }};
        }
        Ok(match self {
            Command::PolicyPublished(p) => Command::PolicyPublished(p),
            Command::ConsentGranted(c) => {
                remap!(ConsentGranted, c, { purpose, data_categories, policy_version })
            }
            Command::ConsentWithdrawn(c) => remap!(ConsentWithdrawn, c, { purpose }),
            Command::Unsubscribed(c) => remap!(Unsubscribed, c, { purpose, data_category }),
            Command::PolicyAccepted(c) => remap!(PolicyAccepted, c, { policy_version, method }),
            Command::ObjectionRecorded(c) => remap!(ObjectionRecorded, c, { purpose }),
            Command::AccountClosed(c) => remap!(AccountClosed, c, {}),
            Command::ErasureRequested(c) => remap!(ErasureRequested, c, {}),
        })
    }
}
