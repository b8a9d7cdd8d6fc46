//! The API's errors: [`Problem`] (shared with the witness, in the
//! `consent-serving` crate), the mapping of ledger failures to problems
//! ([`ledger_problem`]), and the body and query-string extractors that
//! turn bad input into one.

use axum::extract::{FromRequest, FromRequestParts};

use axum::http::StatusCode;
use consent_domain::command::InvalidSubjectId;
pub use consent_serving::Problem;

/// `Json` whose rejections are problems: malformed JSON, unknown fields,
/// wrong types, bodies over the size limit.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "send Content-Type: application/json",
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.body_text(),
                ))
            }
            Err(e) => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    e.body_text(),
                ))
            }
        };
        // Refuse what parsing would silently change (RFC 7493).
        super::i_json::check(&bytes).map_err(|detail| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "not_i_json",
                format!("the body is not I-JSON (RFC 7493): {detail}"),
            )
        })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Body(v)),
            // A subject id that is not in canonical form has its own code.
            Err(e) if e.body_text().contains("invalid subject identifier") => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                InvalidSubjectId::CODE,
                e.body_text(),
            )),
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.body_text(),
            )),
        }
    }
}

/// `application/json` or a `+json` type, as axum's `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A subject id refused by the canonical-form rule (README).
pub fn invalid_subject(e: InvalidSubjectId) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        InvalidSubjectId::CODE,
        e.to_string(),
    )
}

/// `Query` whose rejections are problems (`invalid_query`): unknown
/// parameters, missing ones, values of the wrong type.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Params(v))
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
    }
}

/// `Path` whose rejections are problems (`invalid_path`): a segment that
/// is not valid percent-encoded UTF-8, or not of the expected type.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| PathParam(v))
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}

/// A ledger failure (never a client's fault): its stable code and status;
/// the detail says what happened to the request, the error itself is
/// logged.
pub fn ledger_problem(error: consent_ledger::LedgerError) -> Problem {
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
    Problem::new(status, code, detail)
}
