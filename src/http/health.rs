//! `GET /healthz`: up, and how far the projection has got.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let head = *state.committed().borrow();
    Json(json!({
        "status": "ok",
        "ledger": state.name,
        "role": if state.writer.is_some() { "writer" } else { "decision_node" },
        "head": head,
        "projection_checkpoint": state.projection.checkpoint(),
    }))
}
