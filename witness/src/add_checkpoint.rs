//! `POST /add-checkpoint` (C2SP tlog-witness): check a log's new checkpoint
//! against what this witness cosigned before, remember it, cosign it.
//!
//! In the spec's order: 400 malformed body; 404 unknown origin; 403 when no
//! trusted key signed it or a trusted key's signature fails; 400 when
//! `old` exceeds the checkpoint's size; 409 (`text/x.tlog.size`, body
//! `<latest size>\n`) when `old` is not the latest cosigned size, or when
//! it is the checkpoint's size but the root differs; 422 when the
//! consistency proof from the latest (size, root) fails; otherwise the new
//! (size, root) is persisted, then 200 with the cosignature line.
//!
//! It owns the protocol's rules and status codes; it must not know how the
//! state is laid out on disk (`state.rs`) or how keys are stored
//! (`identity.rs`).

use std::sync::{Arc, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use consent_tlog::{verify_consistency, NoteError, ProofError, SignatureLine};
use tracing::{info, warn};

use super::request::{self, AddCheckpoint, Malformed};
use super::state::{Latest, StateError};
use super::Witness;
use consent_tlog::proof_text::hash_line;

use consent_serving::Problem;

/// The media type of a 409 answer: the witness's latest size in decimal.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why the witness will not cosign.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("the body is larger than a checkpoint and its proof can be")]
    TooLarge,
    #[error("this witness does not follow the log {0:?}")]
    UnknownOrigin(String),
    /// No signature by a trusted key.
    #[error("no signature by a key this witness trusts for the log")]
    Unsigned,
    /// A trusted key's signature fails.
    #[error("the signature by the log's key {key_id} does not verify")]
    BadSignature { key_id: String },
    #[error("old size {old} is beyond the checkpoint's size {new}")]
    OldBeyondNew { old: u64, new: u64 },
    /// `old` is not the latest cosigned size.
    #[error("the latest checkpoint this witness cosigned has size {size}")]
    Conflict { size: u64 },
    /// Same size as the latest cosigned, another root.
    #[error("this witness cosigned a different root at size {size}")]
    RootMismatch { size: u64 },
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(#[from] ProofError),
    #[error("the checkpoint could not be persisted: {0}")]
    Storage(#[from] StateError),
    /// The blocking task holding the advance did not finish (a panic, or
    /// the runtime shutting down).
    #[error("the request was interrupted: {0}")]
    Interrupted(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            // Both 409s carry the size: a client resynchronises from it, and
            // one that sent that very size learns the roots differ.
            Refusal::Conflict { size } | Refusal::RootMismatch { size } => {
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                    format!("{size}\n"),
                )
                    .into_response();
            }
            Refusal::Storage(_) | Refusal::Interrupted(_) => {
                // Ours, not the client's: the detail (paths) goes to the
                // log, not over the wire.
                tracing::error!(error = %self, "add-checkpoint failed");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the witness could not persist the checkpoint; nothing was cosigned",
                )
                .into_response();
            }
            Refusal::Malformed(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Refusal::UnknownOrigin(_) => (StatusCode::NOT_FOUND, "unknown_origin"),
            Refusal::Unsigned => (StatusCode::FORBIDDEN, "untrusted_checkpoint"),
            Refusal::BadSignature { .. } => (StatusCode::FORBIDDEN, "bad_signature"),
            Refusal::OldBeyondNew { .. } => (StatusCode::BAD_REQUEST, "old_size_beyond_checkpoint"),
            Refusal::Inconsistent(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "inconsistent_checkpoint")
            }
        };
        Problem::new(status, code, self.to_string()).into_response()
    }
}

pub async fn add_checkpoint(
    State(witness): State<Arc<Witness>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge
        } else {
            Refusal::Malformed(Malformed(e.body_text()))
        }
    })?;
    let req = request::parse(&body)?;
    let span = tracing::Span::current();
    span.record("origin", req.checkpoint.origin.as_str());
    span.record("old", req.old);
    span.record("size", req.checkpoint.size);
    authenticate(&witness, &req)?;
    if req.old > req.checkpoint.size {
        return Err(Refusal::OldBeyondNew {
            old: req.old,
            new: req.checkpoint.size,
        });
    }
    // The check-persist-advance section runs on a blocking thread it owns:
    // were it in this future, a client hanging up mid-fsync would drop the
    // origin's lock while the write is still in flight.
    let w = witness.clone();
    let line = tokio::task::spawn_blocking(move || advance(&w, &req))
        .await
        .map_err(|e| Refusal::Interrupted(e.to_string()))??;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        line.to_string(),
    )
        .into_response())
}

/// 404 unless the origin is one of the `--log`s; 403 unless a trusted key
/// signed and every trusted key's signature verifies (others are ignored).
fn authenticate(witness: &Witness, req: &AddCheckpoint) -> Result<(), Refusal> {
    let origin = &req.checkpoint.origin;
    let log = witness
        .logs
        .get(origin)
        .ok_or_else(|| Refusal::UnknownOrigin(origin.clone()))?;
    match req.note.verify(&log.keys) {
        Ok(verified) if !verified.is_empty() => Ok(()),
        Ok(_) => Err(Refusal::Unsigned),
        Err(NoteError::BadSignature { key_id, .. }) => Err(Refusal::BadSignature { key_id }),
        Err(_) => Err(Refusal::Unsigned),
    }
}

/// Under the origin's lock: compare with the latest cosigned checkpoint,
/// persist the new one, and only then cosign. Holding the lock across the
/// fsync is what stops two pushes from the same old size both advancing.
fn advance(witness: &Witness, req: &AddCheckpoint) -> Result<SignatureLine, Refusal> {
    let cp = &req.checkpoint;
    let log = &witness.logs[&cp.origin];
    // A panic under the lock happened before `latest` was assigned (it is
    // assigned after the save succeeded), so the value is still the truth.
    let mut latest = log.latest.lock().unwrap_or_else(PoisonError::into_inner);
    if req.old != latest.size {
        return Err(Refusal::Conflict { size: latest.size });
    }
    let new = Latest {
        size: cp.size,
        root: cp.root,
    };
    let verdict = if new.size == latest.size && new.root != latest.root {
        Err(Refusal::RootMismatch { size: latest.size })
    } else {
        verify_consistency(latest.size, new.size, &latest.root, &new.root, &req.proof)
            .map_err(Refusal::from)
    };
    if let Err(refusal) = verdict {
        // Signed by the log yet not consistent with what it showed this
        // witness before: possibly a split view. Kept as evidence (only the
        // log's key can make such a file: the signature was checked).
        let mut request = format!("old {}\n", req.old);
        for h in &req.proof {
            request.push_str(&hash_line(h));
            request.push('\n');
        }
        request.push('\n');
        request.push_str(&req.note_text);
        let kept = witness.state.keep_refused(&cp.origin, cp.size, &request)?;
        warn!(
            origin = %cp.origin,
            cosigned_size = latest.size,
            size = new.size,
            reason = %refusal,
            evidence = %kept.display(),
            "refused a log-signed checkpoint inconsistent with the one cosigned"
        );
        return Err(refusal);
    }
    if new != *latest {
        witness.state.save(&cp.origin, &req.note_text)?;
        *latest = new;
    }
    drop(latest);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    info!(origin = %cp.origin, size = cp.size, "cosigned");
    Ok(witness.cosigner.cosign(&req.note.text, now))
}
