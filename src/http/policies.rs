//! Policy versions: publish, list, get (with what changed), and the
//! paginated list of subjects who must re-accept a material change.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use consent_domain::command::PublishPolicy;
use consent_domain::{PolicyVersion, PolicyVersionId, Submission, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value};

use consent_ledger::IdempotencyKey;

use super::auth::{Authorized, Policy};
use super::events::appended;
use super::problem::{Body, Params, PathParam, Problem};
use super::AppState;

pub async fn publish(
    State(state): State<Arc<AppState>>,
    caller: Authorized<Policy>,
    headers: HeaderMap,
    Body(policy): Body<PolicyVersion>,
) -> Result<Response, Problem> {
    let key = super::events::idempotency_key(&headers)?
        .map(|k| IdempotencyKey::new(caller.idempotency_scope("POST /v1/policies"), k));
    appended(
        state
            .writer()?
            .append_by(
                Submission::PolicyPublished(PublishPolicy { policy }),
                key,
                caller.recorded_by(),
            )
            .await,
    )
}

fn summary(p: &consent_projections::projection::PolicyRecord) -> Value {
    json!({
        "version": p.policy.version,
        "effective_at": p.policy.effective_at,
        "seq": p.at.seq,
        "hash": hex::encode(p.at.hash),
        "material": p.changes.iter().any(|c| c.material),
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Authorized<Policy>,
) -> Result<Json<Value>, Problem> {
    let model = state.projection.model.read().expect("projection lock");
    let versions: Vec<Value> = model.policies().iter().map(summary).collect();
    Ok(Json(json!({ "versions": versions })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    _: Authorized<Policy>,
    PathParam(version): PathParam<String>,
) -> Result<Json<Value>, Problem> {
    let model = state.projection.model.read().expect("projection lock");
    let p = model
        .policies()
        .iter()
        .find(|p| p.policy.version.as_str() == version)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown_policy_version",
                format!("policy version {version} is not published"),
            )
        })?;
    let mut body = summary(p);
    body["policy"] = serde_json::to_value(&*p.policy).map_err(Problem::internal)?;
    body["changes"] = serde_json::to_value(&*p.changes).map_err(Problem::internal)?;
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Return subjects after this pseudonym (the previous page's `next`).
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn reacceptance(
    State(state): State<Arc<AppState>>,
    _: Authorized<Policy>,
    PathParam(version): PathParam<String>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, Problem> {
    let version = PolicyVersionId::new(version).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_policy_version",
            e.to_string(),
        )
    })?;
    let model = state.projection.model.read().expect("projection lock");
    if !model.policies().iter().any(|p| p.policy.version == version) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_policy_version",
            format!("policy version {version} is not published"),
        ));
    }
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to 1000, not {limit}"),
        ));
    }
    let all = model.must_reaccept(&version, Timestamp::now());
    let start = page
        .after
        .as_deref()
        .map_or(0, |a| all.partition_point(|p| p.as_str() <= a));
    let subjects: Vec<_> = all[start..].iter().take(limit).collect();
    let next = (start + subjects.len() < all.len())
        .then(|| subjects.last().map(|p| p.to_string()))
        .flatten();
    Ok(Json(json!({
        "version": version,
        "count": all.len(),
        "subjects": subjects,
        "next": next,
    })))
}
