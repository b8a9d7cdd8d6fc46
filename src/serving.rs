//! What the binary's two HTTP servers, the consent API (`http/`) and the
//! witness (`witness/`), share: RFC 9457 problem details, whose stable
//! `code` also names the `type` URI (clients branch on it, never on
//! `detail`), and graceful shutdown on SIGINT or SIGTERM.

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
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the ledger could not complete the request; nothing was appended",
        )
    }
}

impl Problem {
    /// A ledger failure (never a client's fault): its stable code and
    /// status; the detail says what happened to the request, the error
    /// itself is logged.
    pub fn ledger(error: consent_ledger::LedgerError) -> Self {
        use consent_ledger::LedgerError as E;
        let code = error.code();
        let (status, detail) = match &error {
            E::StorageFull(_) | E::Store(consent_ledger::StoreError::Full(_)) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "the ledger's storage is full; nothing was appended; appends resume by themselves once space is back",
            ),
            E::StoreRolledBack { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store does not extend the log this ledger signed; nothing was appended",
            ),
            E::Corrupt { .. } | E::Store(consent_ledger::StoreError::Corrupt { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the stored log is damaged; nothing was appended",
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the ledger could not complete the request; it was not acknowledged; retry with the same Idempotency-Key (safe whether or not it was appended)",
            ),
        };
        tracing::error!(code, error = %error, "request failed");
        Self::new(status, code, detail)
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
