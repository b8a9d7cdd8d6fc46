//! `POST /v1/decisions` and `POST /v1/decisions/batch`: may we process data
//! category C of subject S for purpose P, now or as of `at`?

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use consent_domain::{DataCategoryId, Pseudonym, PurposeId, SubjectId, Timestamp};
use consent_ledger::Store;
use consent_projections::{Decision, Evidence, Query};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Authorized, Decide};
use super::problem::{Body, Problem};
use super::AppState;

/// How long a decision waits for the projection to reach a token.
pub const TOKEN_WAIT: Duration = Duration::from_secs(2);
/// Most checks in one batch request.
pub const MAX_BATCH: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The controller's subject identifier…
    #[serde(default, deserialize_with = "present")]
    subject: Option<SubjectId>,
    /// …or the subject's pseudonym (from an append response).
    #[serde(default, deserialize_with = "present")]
    pseudonym: Option<Pseudonym>,
    purpose: PurposeId,
    data_category: DataCategoryId,
    /// The instant to answer for; default now.
    #[serde(default, deserialize_with = "present")]
    at: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingleRequest {
    #[serde(default, deserialize_with = "present")]
    subject: Option<SubjectId>,
    #[serde(default, deserialize_with = "present")]
    pseudonym: Option<Pseudonym>,
    purpose: PurposeId,
    data_category: DataCategoryId,
    #[serde(default, deserialize_with = "present")]
    at: Option<Timestamp>,
    /// Consistency token from an append: answer only once it is applied.
    #[serde(default, deserialize_with = "present")]
    token: Option<String>,
    /// Also return a receipt: the decision and the checkpoint it was
    /// evaluated at, signed with the ledger's key.
    #[serde(default)]
    receipt: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    checks: Vec<Check>,
    #[serde(default, deserialize_with = "present")]
    token: Option<String>,
}

/// An optional member is absent or a value, never `null`: the schema says
/// so, and a `null` that meant "default" would hide a client's bug.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The subject's pseudonym, from the cache or the store. An erasure
/// recorded through another process (another writer, or the writer of a
/// decision node) is seen in the projection: the cached link is dropped and
/// the store, whose secret row the erasure deleted, no longer knows it.
pub async fn pseudonym_of(
    state: &AppState,
    subject: &SubjectId,
) -> Result<Option<Pseudonym>, Problem> {
    let subject = subject.as_str();
    let cached = state
        .pseudonyms
        .read()
        .expect("pseudonym cache lock")
        .get(subject)
        .cloned();
    if let Some(p) = cached {
        let erased = state
            .projection
            .model
            .read()
            .expect("projection lock")
            .is_erased(&p);
        if !erased {
            return Ok(Some(p));
        }
        state
            .pseudonyms
            .write()
            .expect("pseudonym cache lock")
            .remove(subject);
    }
    let found = state
        .store
        .lookup_pseudonym(subject)
        .await
        .map_err(Problem::internal)?;
    let Some(p) = found.and_then(|p| Pseudonym::try_from(p).ok()) else {
        return Ok(None);
    };
    let mut cache = state.pseudonyms.write().expect("pseudonym cache lock");
    if cache.len() >= super::PSEUDONYM_CACHE {
        cache.clear();
    }
    cache.insert(subject.to_owned(), p.clone());
    Ok(Some(p))
}

async fn wait_for_token(state: &AppState, token: Option<&str>) -> Result<(), Problem> {
    let Some(token) = token else { return Ok(()) };
    let seq = parse_token(token)?;
    let behind = state.projection.checkpoint().is_none_or(|c| seq > c);
    if behind && seq > ledger_head(state).await? {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_token",
            "token is ahead of the ledger: not one this ledger issued",
        ));
    }
    if !state.projection.wait_for(seq, TOKEN_WAIT).await {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "consistency_timeout",
            format!("the projection did not reach entry {seq} within {TOKEN_WAIT:?}; retry"),
        ));
    }
    Ok(())
}

/// A token is the decimal sequence number of an append: 1 to 19 digits.
fn parse_token(token: &str) -> Result<u64, Problem> {
    let well_formed = (1..=19).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
    well_formed
        .then(|| token.parse().expect("19 digits fit"))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "a token is the decimal `token` of an append's answer",
            )
        })
}

/// The newest sequence number in the store (which other writers may have
/// moved past this node's projection).
async fn ledger_head(state: &AppState) -> Result<u64, Problem> {
    let head = state.store.head().await.map_err(Problem::internal)?;
    Ok(head.map_or(0, |h| h.seq))
}

/// A decision's question, and the pseudonym to echo in the answer: only
/// one the caller sent. A subject asked about by id is never answered with
/// its pseudonym, so a `decide` key cannot tell a known subject from an
/// unknown one by anything but the decision itself.
async fn query(state: &AppState, check: Check) -> Result<(Query, Option<Pseudonym>), Problem> {
    let (subject, echo) = match (check.subject, check.pseudonym) {
        (Some(id), None) => (
            pseudonym_of(state, &id)
                .await?
                // Unknown: no history, so no consent (legal obligations still hold).
                .unwrap_or_else(|| Pseudonym::from_bytes([0; 32])),
            None,
        ),
        (None, Some(p)) => (p.clone(), Some(p)),
        _ => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "give exactly one of `subject` and `pseudonym`",
            ))
        }
    };
    let q = Query {
        subject,
        purpose: check.purpose,
        data_category: check.data_category,
        at: check.at.unwrap_or_else(Timestamp::now),
    };
    Ok((q, echo))
}

fn count(state: &AppState, d: &Decision) {
    let outcome = if d.allowed { "allowed" } else { "denied" };
    super::metrics::Metrics::count(&state.metrics.decisions, outcome);
}

/// The answer to one check: decision, reason, legal basis, policy version
/// and evidence references; the subject's pseudonym only if the caller
/// named it so. Written straight to the response (no `Value` in between),
/// its members in the order of a JSON object built from a map
/// (alphabetical), as every other answer of the API is.
pub struct Answer<'a> {
    query: &'a Query,
    echo: Option<&'a Pseudonym>,
    decision: Decision,
    receipt: Option<Value>,
}

impl<'a> Answer<'a> {
    fn new(query: &'a Query, echo: Option<&'a Pseudonym>, decision: Decision) -> Self {
        Self {
            query,
            echo,
            decision,
            receipt: None,
        }
    }
}

impl Serialize for Answer<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = &self.decision;
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("allowed", &d.allowed)?;
        m.serialize_entry("at", &d.at)?;
        m.serialize_entry("checkpoint", &d.checkpoint)?;
        m.serialize_entry("data_category", &self.query.data_category)?;
        m.serialize_entry("dpv_consent_state", &d.reason.dpv_consent_state())?;
        m.serialize_entry("evidence", &EvidenceList(&d.evidence))?;
        m.serialize_entry("legal_basis", &d.legal_basis)?;
        m.serialize_entry("policy_version", &d.policy_version())?;
        if let Some(p) = self.echo {
            m.serialize_entry("pseudonym", p)?;
        }
        m.serialize_entry("purpose", &self.query.purpose)?;
        m.serialize_entry("reason", d.reason.code())?;
        if let Some(r) = &self.receipt {
            m.serialize_entry("receipt", r)?;
        }
        m.end()
    }
}

/// Evidence references as `{"hash", "kind", "seq"}` objects.
struct EvidenceList<'a>(&'a [Evidence]);

impl Serialize for EvidenceList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            list.serialize_element(&EvidenceItem(e))?;
        }
        list.end()
    }
}

struct EvidenceItem<'a>(&'a Evidence);

impl Serialize for EvidenceItem<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.0.hash, &mut hex).expect("64 digits for 32 bytes");
        let mut m = serializer.serialize_map(Some(3))?;
        m.serialize_entry("hash", std::str::from_utf8(&hex).expect("hex is ASCII"))?;
        m.serialize_entry("kind", self.0.kind)?;
        m.serialize_entry("seq", &self.0.seq)?;
        m.end()
    }
}

pub async fn decide(
    State(state): State<Arc<AppState>>,
    _: Authorized<Decide>,
    Body(request): Body<SingleRequest>,
) -> Result<Response, Problem> {
    wait_for_token(&state, request.token.as_deref()).await?;
    let check = Check {
        subject: request.subject,
        pseudonym: request.pseudonym,
        purpose: request.purpose,
        data_category: request.data_category,
        at: request.at,
    };
    let (q, echo) = query(&state, check).await?;
    let d = state
        .projection
        .model
        .read()
        .expect("projection lock")
        .decide(&q);
    count(&state, &d);
    let mut answer = Answer::new(&q, echo.as_ref(), d);
    if request.receipt {
        let decision = serde_json::to_value(&answer).map_err(Problem::internal)?;
        let checkpoint = answer.decision.checkpoint;
        answer.receipt = Some(decision_receipt(&state, decision, checkpoint).await?);
    }
    Ok(Json(answer).into_response())
}

/// Signs the decision with the checkpoint covering what the projection had
/// applied when it answered (published now if none does yet).
async fn decision_receipt(
    state: &AppState,
    decision: Value,
    applied: Option<u64>,
) -> Result<Value, Problem> {
    let ledger = state.writer()?;
    let covering = applied.map_or(1, |seq| seq.saturating_add(1));
    let checkpoint = super::receipts::covering_checkpoint(state, covering).await?;
    let signer = ledger
        .checkpointer()
        .active_signer()
        .await
        .map_err(Problem::internal)?;
    let receipt = consent_ledger::decision_receipt::sign_decision_receipt(
        decision,
        &checkpoint.note,
        &signer,
    );
    serde_json::to_value(receipt).map_err(Problem::internal)
}

pub async fn batch(
    State(state): State<Arc<AppState>>,
    _: Authorized<Decide>,
    Body(request): Body<BatchRequest>,
) -> Result<Response, Problem> {
    if request.checks.len() > MAX_BATCH {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "batch_too_large",
            format!("at most {MAX_BATCH} checks per request"),
        ));
    }
    wait_for_token(&state, request.token.as_deref()).await?;
    let mut queries = Vec::with_capacity(request.checks.len());
    for check in request.checks {
        queries.push(query(&state, check).await?);
    }
    let model = state.projection.model.read().expect("projection lock");
    let decisions: Vec<Answer<'_>> = queries
        .iter()
        .map(|(q, echo)| {
            let d = model.decide(q);
            count(&state, &d);
            Answer::new(q, echo.as_ref(), d)
        })
        .collect();
    drop(model);
    #[derive(Serialize)]
    struct Batch<'a> {
        decisions: Vec<Answer<'a>>,
    }
    Ok(Json(Batch { decisions }).into_response())
}

#[cfg(test)]
mod tests {
    use consent_domain::policy::LegalBasis;
    use consent_projections::Reason;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_answer_is_written_as_its_json_object_would_be() {
        let query = Query {
            subject: Pseudonym::from_bytes([7; 32]),
            purpose: PurposeId::new("marketing").unwrap(),
            data_category: DataCategoryId::new("email-address").unwrap(),
            at: Timestamp::from_micros(1_700_000_000_000_000),
        };
        let decision = Decision {
            allowed: true,
            reason: Reason::ConsentGiven,
            legal_basis: Some(LegalBasis::Consent),
            policy: None,
            evidence: [Evidence {
                seq: 4,
                hash: [0xab; 32],
                kind: "consent_granted",
            }]
            .into_iter()
            .collect(),
            at: query.at,
            checkpoint: Some(9),
        };
        let expected = json!({
            "allowed": true,
            "reason": "consent_given",
            "dpv_consent_state": "dpv:ConsentGiven",
            "legal_basis": "consent",
            "policy_version": null,
            "purpose": "marketing",
            "data_category": "email-address",
            "at": "2023-11-14T22:13:20.000000Z",
            "evidence": [{"seq": 4, "hash": "ab".repeat(32), "kind": "consent_granted"}],
            "checkpoint": 9,
        });
        let by_id = Answer::new(&query, None, decision.clone());
        assert_eq!(serde_json::to_value(&by_id).unwrap(), expected);
        // Byte for byte the map's spelling: members in alphabetical order.
        assert_eq!(serde_json::to_string(&by_id).unwrap(), expected.to_string());
        let echo = query.subject.clone();
        let mut by_pseudonym = Answer::new(&query, Some(&echo), decision);
        by_pseudonym.receipt = Some(json!({"signed": "yes"}));
        let mut expected = expected;
        expected["pseudonym"] = json!(echo);
        expected["receipt"] = json!({"signed": "yes"});
        assert_eq!(
            serde_json::to_string(&by_pseudonym).unwrap(),
            expected.to_string()
        );
    }
}
