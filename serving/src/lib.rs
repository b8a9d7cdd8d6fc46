//! # consent-serving
//!
//! What the project's HTTP servers, the consent API (`consent serve`) and
//! the witness (`consent-witness`), share: RFC 9457 problem details, whose
//! stable `code` also names the `type` URI (clients branch on it, never on
//! `detail`), and graceful shutdown on SIGINT or SIGTERM. It must not know
//! the ledger: each server maps its own errors to problems.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// A failure of ours, not the client's; the detail is logged, not sent.
    /// It claims nothing about what the request changed: a read has
    /// nothing to change, and a write's own failures are mapped by its
    /// server with what it knows (the consent API's `ledger_problem`).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the request could not be completed because of a failure on the server's side (logged there); retry later",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("urn:consent-ledger:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Resolves on SIGINT (ctrl-c) or SIGTERM: servers stop accepting and
/// finish the requests in flight.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
