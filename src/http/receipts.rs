//! Proofs and receipts over HTTP: `GET /v1/proofs/inclusion`,
//! `GET /v1/proofs/consistency` (the `audit` scope), and
//! `GET /v1/entries/{seq}/receipt` (the `record` or `audit` scope): the
//! entry's C2SP tlog-proof, or with `?format=json` its consent receipt.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use consent_ledger::format::EntryLine;
use consent_ledger::receipt::{consent_receipt, tlog_proof};
use consent_ledger::store::StoredCheckpoint;
use consent_ledger::tlog::proof_text::hash_line;
use consent_ledger::Store;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Audit, Authorized, Credentials, Scope};
use super::problem::{Params, PathParam, Problem};
use super::AppState;

/// The latest checkpoint if it covers `size` entries; otherwise, on a
/// writer, the next one the checkpointer publishes (at most one interval
/// away: requests never force a checkpoint); otherwise 503
/// `checkpoint_pending`. A size past the committed tree can never be
/// covered by waiting: 422 `invalid_tree_size` at once.
pub async fn covering_checkpoint(state: &AppState, size: u64) -> Result<StoredCheckpoint, Problem> {
    let tree = state.store.tree_size().await.map_err(Problem::internal)?;
    if size > tree {
        return Err(bad_size(format!(
            "no checkpoint can cover {size} entries: the log holds {tree}"
        )));
    }
    let latest = state
        .store
        .latest_checkpoint()
        .await
        .map_err(Problem::internal)?;
    if let Some(c) = latest.filter(|c| c.size >= size) {
        return Ok(c);
    }
    if let Some(ledger) = &state.writer {
        let mut published = ledger.checkpointer().subscribe();
        let covering = tokio::time::timeout(CHECKPOINT_WAIT, async {
            loop {
                if let Some(c) = published
                    .borrow_and_update()
                    .clone()
                    .filter(|c| c.size >= size)
                {
                    return Some(c);
                }
                if published.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        if let Ok(Some(c)) = covering {
            return Ok(c);
        }
    }
    Err(Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "checkpoint_pending",
        format!("no published checkpoint covers {size} entries yet; retry in a second"),
    ))
}

/// Longest a request waits for the checkpoint covering its entry.
const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn bad_size(detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_tree_size",
        detail,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    /// Tree size; default: the latest checkpoint's.
    #[serde(default)]
    size: Option<u64>,
}

pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    _: Authorized<Audit>,
    Params(q): Params<InclusionQuery>,
) -> Result<Json<Value>, Problem> {
    let size = match q.size {
        Some(s) => s,
        None => {
            covering_checkpoint(&state, q.seq.saturating_add(1))
                .await?
                .size
        }
    };
    let tree = state.store.tree_size().await.map_err(Problem::internal)?;
    if q.seq >= size || size > tree {
        return Err(bad_size(format!(
            "entry {} is not in a tree of {size} entries (the tree has {tree})",
            q.seq
        )));
    }
    let proof = state
        .tree
        .inclusion(&*state.store, q.seq, size)
        .await
        .map_err(Problem::internal)?;
    let root = state
        .tree
        .root(&*state.store, size)
        .await
        .map_err(Problem::internal)?;
    Ok(Json(json!({
        "seq": q.seq,
        "tree_size": size,
        "root_hash": hash_line(&root),
        "proof": proof.iter().map(hash_line).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    old: u64,
    #[serde(default)]
    new: Option<u64>,
}

pub async fn consistency(
    State(state): State<Arc<AppState>>,
    _: Authorized<Audit>,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<Value>, Problem> {
    let new = match q.new {
        Some(s) => s,
        None => covering_checkpoint(&state, q.old.max(1)).await?.size,
    };
    let tree = state.store.tree_size().await.map_err(Problem::internal)?;
    if q.old > new || new > tree {
        return Err(bad_size(format!(
            "no consistency proof from {} to {new} entries (the tree has {tree})",
            q.old
        )));
    }
    let proof = state
        .tree
        .consistency(&*state.store, q.old, new)
        .await
        .map_err(Problem::internal)?;
    Ok(Json(json!({
        "old_size": q.old,
        "new_size": new,
        "proof": proof.iter().map(hash_line).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptQuery {
    #[serde(default)]
    format: Option<String>,
}

pub async fn receipt(
    State(state): State<Arc<AppState>>,
    credentials: Credentials,
    PathParam(seq): PathParam<String>,
    Params(q): Params<ReceiptQuery>,
) -> Result<Response, Problem> {
    // The tlog-proof holds only hashes and the checkpoint: a recording
    // service may fetch it for the subject. The JSON receipt carries the
    // entry (pseudonym, purposes): the audit scope.
    let json = q.format.as_deref() == Some("json");
    if json || credentials.require(&state, Scope::Record).await.is_err() {
        credentials.require(&state, Scope::Audit).await?;
    }
    let seq: u64 = seq.parse().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            format!("{seq:?} is not an entry's sequence number"),
        )
    })?;
    let line = state
        .store
        .lines_at(&[seq])
        .await
        .map_err(Problem::internal)?
        .pop()
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no entry {seq}"),
            )
        })?
        .line;
    let checkpoint = covering_checkpoint(&state, seq.saturating_add(1)).await?;
    let proof = tlog_proof(&*state.store, &state.tree, seq, &checkpoint)
        .await
        .map_err(Problem::internal)?;
    match q.format.as_deref() {
        None | Some("tlog-proof") => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            proof.to_string(),
        )
            .into_response()),
        Some("json") => {
            let entry = EntryLine::parse(&line).map_err(Problem::internal)?;
            let policy = policy_of(&state, &entry);
            Ok(Json(consent_receipt(
                &state.name,
                &line,
                &entry,
                policy.as_deref(),
                &proof,
            ))
            .into_response())
        }
        Some(other) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_format",
            format!("format must be tlog-proof or json, not {other:?}"),
        )),
    }
}

/// The policy an entry names, or else the one in force when recorded.
fn policy_of(
    state: &AppState,
    entry: &EntryLine,
) -> Option<Arc<consent_domain::policy::PolicyVersion>> {
    let model = state.projection.model.read().expect("projection lock");
    let named = entry.event.policy_version().and_then(|v| {
        model
            .policies()
            .iter()
            .find(|p| &p.policy.version == v)
            .map(|p| p.policy.clone())
    });
    named.or_else(|| model.policy_in_force(entry.recorded_at))
}
