//! `GET /healthz`: whether this node does its job right now, truthfully.
//!
//! `ok` (200) only while the writer takes appends and the projection has
//! applied everything committed (it is given [`PROJECTION_BOUND`] to catch
//! up with the head seen when asked). Otherwise 503 with the reason:
//! `failing` while the writer refuses appends (`storage_full`,
//! `storage_unavailable`, `store_rolled_back`: it reopens by itself once
//! its state is proved equal to the store), has stopped (`writer_stopped`)
//! or checkpoints are refused (`checkpoints_stopped`); `degraded` while
//! decisions lag behind the log (`projection_behind`); `draining` while
//! the server stops. Decisions are still answered while the writer
//! fails; a load balancer that routes decisions may keep using the node.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// How long the projection may take to reach the head before the node
/// reports itself `degraded`.
pub const PROJECTION_BOUND: Duration = Duration::from_secs(2);

pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let head = *state.committed().borrow();
    let writer = state
        .writer
        .as_ref()
        .map(|ledger| ledger.health().borrow().clone());
    let caught_up = state.projection.wait_for(head, PROJECTION_BOUND).await;
    let mut body = json!({
        "status": "ok",
        "ledger": state.name,
        "role": if state.writer.is_some() { "writer" } else { "decision_node" },
        "head": head,
        "projection_checkpoint": state.projection.checkpoint(),
    });
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        body["status"] = json!("draining");
        body["reason"] = json!("shutting_down");
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let writer_stopped = state
        .writer
        .as_ref()
        .is_some_and(|ledger| ledger.health().has_changed().is_err());
    if writer_stopped {
        body["status"] = json!("failing");
        body["reason"] = json!("writer_stopped");
        body["appends"] = json!("refused");
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if let Some(stopped) = state
        .writer
        .as_ref()
        .and_then(|ledger| ledger.checkpointer().stopped())
    {
        body["status"] = json!("failing");
        body["reason"] = json!("checkpoints_stopped");
        body["detail"] = json!(stopped);
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if let Some(failure) = writer.as_ref().and_then(|w| w.failing.as_ref()) {
        body["status"] = json!("failing");
        body["reason"] = json!(failure.code);
        body["detail"] = json!(failure.reason);
        body["since"] = json!(failure.since);
        body["appends"] = json!("refused");
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if !caught_up {
        body["status"] = json!("degraded");
        body["reason"] = json!("projection_behind");
        body["detail"] = json!(format!(
            "the projection has not applied entry {head} within {} ms",
            PROJECTION_BOUND.as_millis()
        ));
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    (StatusCode::OK, Json(body))
}
