//! Recording subject events (`POST /v1/events`) and reading a subject's
//! history (`GET /v1/subjects/{subject}/history`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use consent_domain::{Pseudonym, SubjectId, Submission, Timestamp};
use consent_ledger::format::EntryLine;
use consent_ledger::{AppendResult, IdempotencyKey, Rejection, Store};
use serde_json::{json, Value};

use super::auth::{Audit, Authorized, Record};
use super::problem::{Body, PathParam, Problem};
use super::AppState;

/// Maps an append's outcome to a response: 201 for a new entry, 200 for an
/// idempotent replay, a problem for a rejection or failure.
pub fn appended(result: AppendResult) -> Result<Response, Problem> {
    appended_json(result).map(|(status, body)| (status, Json(body)).into_response())
}

fn appended_json(result: AppendResult) -> Result<(StatusCode, Value), Problem> {
    match result.map_err(super::problem::ledger_problem)? {
        Ok(a) => {
            let status = if a.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let body = json!({
                "seq": a.seq,
                "hash": a.hash,
                "recorded_at": a.recorded_at,
                "subject": a.subject,
                "replayed": a.replayed,
                // Pass it to a decision request to read this write.
                "token": a.seq.to_string(),
                // A C2SP tlog-proof of this entry once a checkpoint covers it.
                "receipt": format!("/v1/entries/{}/receipt", a.seq),
            });
            Ok((status, body))
        }
        Err(r) => {
            let status = match r {
                Rejection::IdempotencyConflict => StatusCode::CONFLICT,
                Rejection::EntryTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Rejection::Domain(_) | Rejection::InvalidIdempotencyKey(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            Err(Problem::new(status, r.code(), r.to_string()))
        }
    }
}

/// The request's `Idempotency-Key` header, if any.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
        })
}

pub async fn record(
    State(state): State<Arc<AppState>>,
    caller: Authorized<Record>,
    headers: HeaderMap,
    Body(submission): Body<Submission>,
) -> Result<Response, Problem> {
    if matches!(submission, Submission::PolicyPublished(_)) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "use_policies_endpoint",
            "publish policy versions with POST /v1/policies (scope `policy`)",
        ));
    }
    let key = idempotency_key(&headers)?
        .map(|k| IdempotencyKey::new(caller.idempotency_scope("POST /v1/events"), k));
    // Which recipients must be told, decided before the append moves the
    // projection on (an erasure deletes nothing the projection needs).
    if let Submission::ErasureRequested(e) = &submission {
        // The id will no longer lead to the pseudonym.
        state
            .pseudonyms
            .write()
            .expect("pseudonym cache lock")
            .remove(e.subject.as_str());
    }
    let notify_purpose = match &submission {
        Submission::ConsentWithdrawn(e) => Some(e.purpose.clone()),
        Submission::ObjectionRecorded(e) => Some(Some(e.purpose.clone())),
        Submission::Unsubscribed(e) => Some(Some(e.purpose.clone())),
        Submission::AccountClosed(_) | Submission::ErasureRequested(_) => Some(None),
        _ => None,
    };
    let outcome = appended_json(
        state
            .writer()?
            .append_by(submission, key, caller.recorded_by())
            .await,
    );
    let label = match &outcome {
        Ok((StatusCode::OK, _)) => "replayed",
        Ok(_) => "appended",
        Err(p) if p.status.is_server_error() => "failed",
        Err(_) => "rejected",
    };
    super::metrics::Metrics::count(&state.metrics.appends, label);
    let (status, mut body) = outcome?;
    if let (Some(purpose), Some(subject)) = (notify_purpose, body["subject"].as_str()) {
        let subject = Pseudonym::try_from(subject.to_owned()).map_err(Problem::internal)?;
        let at = body["recorded_at"]
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok())
            .unwrap_or_else(Timestamp::now);
        let recipients = state
            .projection
            .model
            .read()
            .expect("projection lock")
            .recipients_to_notify(&subject, purpose.as_ref(), at);
        // Delivery to recipients (signed webhooks) comes with the notifier.
        body["notify_recipients"] = json!(recipients);
    }
    Ok((status, Json(body)).into_response())
}

pub async fn history(
    State(state): State<Arc<AppState>>,
    _: Authorized<Audit>,
    PathParam(subject): PathParam<String>,
) -> Result<Json<Value>, Problem> {
    let store = &*state.store;
    let subject = SubjectId::new(subject).map_err(super::problem::invalid_subject)?;
    let pseudonym = super::decisions::pseudonym_of(&state, &subject)
        .await?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown_subject",
                "no such subject (or erased)",
            )
        })?;
    let (seqs, timeline) = {
        let model = state.projection.model.read().expect("projection lock");
        (
            model.subject_entries(&pseudonym),
            model.decision_timeline(&pseudonym, Timestamp::now()),
        )
    };
    let timeline: Vec<Value> = timeline
        .into_iter()
        .map(|s| {
            json!({"purpose": s.purpose, "data_category": s.data_category, "from": s.from,
                   "allowed": s.allowed, "reason": s.reason.code()})
        })
        .collect();
    let lines = store.lines_at(&seqs).await.map_err(Problem::internal)?;
    let mut entries = Vec::with_capacity(lines.len());
    for row in lines {
        let e = EntryLine::parse(&row.line).map_err(Problem::internal)?;
        entries.push(json!({
            "seq": e.seq,
            "recorded_at": e.recorded_at,
            "recorded_by": e.recorded_by,
            "hash": e.hash,
            "type": e.event.kind(),
            "event": serde_json::from_str::<Value>(&e.event.payload_json()).map_err(Problem::internal)?,
        }));
    }
    Ok(Json(
        json!({"subject": pseudonym, "entries": entries, "decision_timeline": timeline}),
    ))
}
