//! # consent-witness
//!
//! A C2SP tlog-witness (the `consent-witness` binary, also `consent
//! witness`), run by a regulator or a partner beside, not inside, the
//! ledger: it cosigns a log's checkpoint
//! only if it is consistent with the last one it cosigned for that log, so
//! a ledger cannot show two different histories to people who both check
//! the witness's cosignature.
//!
//! - `identity.rs`: the witness's key and name, the logs' keys it trusts.
//! - `state.rs`: the latest cosigned (size, root) per origin, durably.
//! - `request.rs`: parsing the add-checkpoint body.
//! - `add_checkpoint.rs`: the protocol's rules and answers (refusals as
//!   RFC 9457 problems, `consent-serving`).
//! - [`cli`]: the command line (`serve`, `vkey`), for both binaries.
//!
//! This crate owns the witness's HTTP surface and its wiring. It depends on
//! the transparency-log formats (`consent-tlog`) and the key directory
//! (`consent-keys`) only: not on the ledger, its database or Kafka, and it
//! knows nothing of consent itself: all it sees are signed checkpoints and
//! Merkle proofs.

mod add_checkpoint;
pub mod cli;
mod identity;
mod request;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use consent_tlog::{NoteSigner, VerifierKey};
use tracing::Instrument;

pub use identity::IdentityError;
pub use state::StateError;

use state::{Latest, StateDir};

/// Largest request body: 63 proof lines and a checkpoint with up to 100
/// signature lines fit in well under this.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// One log this witness follows.
struct Log {
    /// Its verifier keys (several while it rotates).
    keys: Vec<VerifierKey>,
    /// The latest checkpoint cosigned; the lock serialises this origin's
    /// requests from the check to the persisted advance.
    latest: Mutex<Latest>,
}

/// A running witness: who it is, whom it follows, what it remembers.
pub struct Witness {
    cosigner: NoteSigner,
    logs: HashMap<String, Log>,
    state: StateDir,
}

impl Witness {
    /// Opens the state directory (creating it and the witness key on first
    /// start), locks it against a second process, and loads the latest
    /// cosigned checkpoint of every log in `log_keys` (`--log` values).
    pub fn open(state_dir: &Path, name: &str, log_keys: &[String]) -> Result<Self, OpenError> {
        let trusted = identity::trusted_logs(log_keys)?;
        let cosigner = identity::cosigner(state_dir, name)?;
        let state = StateDir::open(state_dir)?;
        let mut logs = HashMap::with_capacity(trusted.len());
        for (origin, keys) in trusted {
            let latest = Mutex::new(state.load(&origin)?);
            logs.insert(origin, Log { keys, latest });
        }
        Ok(Self {
            cosigner,
            logs,
            state,
        })
    }

    /// How many logs it follows.
    pub fn log_count(&self) -> usize {
        self.logs.len()
    }
}

/// The cosignature verifier key of the witness in `state_dir` named `name`
/// (creating its key if missing), without opening or locking its state:
/// a running witness can be asked.
pub fn verifier_key(state_dir: &Path, name: &str) -> Result<VerifierKey, IdentityError> {
    Ok(identity::cosigner(state_dir, name)?.cosigner())
}

pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint::add_checkpoint))
        .fallback(|| async {
            consent_serving::Problem::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(witness)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight
/// (an advance already persisting completes either way).
pub async fn serve(witness: Arc<Witness>, listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        name = %witness.cosigner.name,
        logs = witness.log_count(),
        "serving the witness"
    );
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout(),
            "witness {} on http://{}",
            witness.cosigner.name,
            listener.local_addr()?
        );
    }
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(consent_serving::shutdown_signal())
        .await
}

/// A span around every request: method and route, then the origin and
/// sizes once the body is parsed, status and latency when answered. No
/// headers and no bodies: nothing secret, no signatures, no keys.
async fn request_span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "witness_request",
        method = %request.method(),
        route = %route,
        origin = tracing::field::Empty,
        old = tracing::field::Empty,
        size = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    async move {
        let response = next.run(request).await;
        tracing::info!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
        response
    }
    .instrument(span)
    .await
}
