//! The HTTP API (`consent serve`): axum on the embedded SQLite default.
//!
//! One file per resource: `events.rs` (recording), `policies.rs`,
//! `decisions.rs`, `watch.rs` (Server-Sent Events), `health.rs`; `auth.rs`
//! checks scoped API keys, `access_log.rs` writes a line per request,
//! `problem.rs` turns every error into RFC 9457 problem+json. Handlers
//! hold no rules: they translate HTTP to the ledger and the projection and
//! back.

mod access_log;
mod api_keys;
mod auth;
mod decisions;
mod events;
mod health;
mod i_json;
mod log;
mod metrics;
mod openapi;
mod policies;
mod problem;
mod receipts;
mod server;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use consent_domain::Pseudonym;
use consent_ledger::{AnyStore, Ledger};
use request_span::{KeySlot, RequestSpan};

pub use api_keys::{check_name, key_view, parse_expiry, parse_scopes};
pub use auth::{create_key, Scope};
pub use openapi::document_text as openapi_document;
pub use server::{serve, Limits, TlsFiles};

use consent_consumers::LiveProjection;

/// The storage engine the server runs on.
pub type Backend = AnyStore;

pub struct AppState {
    /// The system of record: pseudonyms, API keys, history, the watch stream.
    pub store: Arc<Backend>,
    /// The appender; `None` on a read-only decision node fed by Kafka.
    pub writer: Option<Ledger<Backend>>,
    /// The ledger's name (its origin).
    pub name: String,
    pub projection: Arc<LiveProjection>,
    pub metrics: metrics::Metrics,
    /// API keys read in the last [`auth::KEY_CACHE_TTL`].
    pub api_keys: auth::KeyCache,
    /// Subject id → pseudonym, filled on first use, emptied for an erased
    /// subject (and wholesale past [`PSEUDONYM_CACHE`] entries).
    pub pseudonyms: RwLock<HashMap<String, Pseudonym>>,
    /// Proofs from stored tiles, with a cache of full tiles.
    pub tree: consent_ledger::tree::TreeReader,
    /// Whether `/log/…` (checkpoint and tiles) is readable without a key.
    pub public_log: bool,
    /// Set on SIGTERM/SIGINT: every response asks its client to close the
    /// connection, `/healthz` says `draining`, and after [`DRAIN`] the
    /// server stops.
    pub draining: std::sync::atomic::AtomicBool,
}

/// Most subject ids whose pseudonyms are kept in memory.
pub const PSEUDONYM_CACHE: usize = 1 << 20;

impl AppState {
    /// A writer node: appends through `ledger`.
    pub fn new(ledger: Ledger<Backend>, projection: Arc<LiveProjection>) -> Self {
        Self {
            store: ledger.store().clone(),
            name: ledger.name().to_owned(),
            writer: Some(ledger),
            projection,
            metrics: metrics::Metrics::new(),
            api_keys: Default::default(),
            pseudonyms: RwLock::default(),
            tree: Default::default(),
            public_log: false,
            draining: Default::default(),
        }
    }

    /// A read-only decision node: decisions from `projection` (fed from
    /// Kafka), subjects and keys from `store`; it refuses to append.
    pub fn read_only(store: Backend, name: String, projection: Arc<LiveProjection>) -> Self {
        Self {
            store: Arc::new(store),
            name,
            writer: None,
            projection,
            metrics: metrics::Metrics::new(),
            api_keys: Default::default(),
            pseudonyms: RwLock::default(),
            tree: Default::default(),
            public_log: false,
            draining: Default::default(),
        }
    }
}

impl AppState {
    /// The ledger handle to append through, or `read_only_node`.
    pub fn writer(&self) -> Result<&Ledger<Backend>, problem::Problem> {
        self.writer.as_ref().ok_or_else(|| {
            problem::Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "read_only_node",
                "this decision node follows the ledger from Kafka and does not append; send events to a writer",
            )
        })
    }

    /// The last committed sequence number, as it changes: this process's
    /// own commits, or those of every process sharing the database.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        match (
            &self.writer,
            consent_ledger::Store::shared_head(&*self.store),
        ) {
            (Some(ledger), _) => ledger.committed(),
            (None, Some(shared)) => shared,
            (None, None) => {
                let applied = self.projection.checkpoint().unwrap_or(0);
                tokio::sync::watch::channel(applied).1
            }
        }
    }
}

/// Request bodies above this are refused with `body_too_large`.
pub const BODY_LIMIT: usize = 1 << 20;

pub fn router(state: Arc<AppState>, limits: server::Limits) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/events", post(events::record))
        .route("/v1/policies", post(policies::publish).get(policies::list))
        .route("/v1/policies/{version}", get(policies::get))
        .route(
            "/v1/policies/{version}/reacceptance",
            get(policies::reacceptance),
        )
        .route("/v1/decisions", post(decisions::decide))
        .route("/v1/decisions/batch", post(decisions::batch))
        .route("/v1/subjects/{subject}/history", get(events::history))
        .route("/v1/watch", get(watch::watch))
        .route("/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/v1/entries/{seq}/receipt", get(receipts::receipt))
        .route("/v1/proofs/inclusion", get(receipts::inclusion))
        .route("/v1/proofs/consistency", get(receipts::consistency))
        .route("/log/checkpoint", get(log::checkpoint))
        .route("/log/tile/{*path}", get(log::tile))
        .fallback(|| async {
            problem::Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such resource",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            server::guard_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            RequestSpan::layer,
        ))
        .with_state(state)
}

/// How long a stopping server keeps reading requests after the signal,
/// answering each with `Connection: close`: a request a client sent on a
/// kept-alive connection just before the signal is read and answered, not
/// cut off with the connection.
pub const DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The access log ([`access_log`]) and request metrics around every
/// request: method, route template, status, latency, the API key's id,
/// never a header, a query string or a path with its values, so no secret
/// and no subject id reaches either.
mod request_span {
    use std::sync::{Arc, OnceLock};

    use axum::extract::{MatchedPath, Request, State};
    use axum::middleware::Next;
    use axum::response::Response;

    use super::access_log::AccessLine;
    use super::metrics::RouteLabels;
    use super::AppState;

    pub struct RequestSpan;

    /// Set by the key check once a key is accepted: its id, for the log.
    #[derive(Clone, Default)]
    pub struct KeySlot(pub Arc<OnceLock<String>>);

    impl RequestSpan {
        pub async fn layer(
            State(state): State<Arc<AppState>>,
            mut request: Request,
            next: Next,
        ) -> Response {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", |p| p.as_str())
                .to_owned();
            let method = request.method().clone();
            let slot = KeySlot::default();
            request.extensions_mut().insert(slot.clone());
            let started = std::time::Instant::now();
            let mut response = next.run(request).await;
            if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            AccessLine {
                method: method.as_str(),
                route: &route,
                status,
                micros: elapsed.as_micros() as u64,
                key: slot.0.get().map(String::as_str),
            }
            .write();
            state
                .metrics
                .requests
                .get_or_create(&RouteLabels { route, status })
                .observe(elapsed.as_secs_f64());
            response
        }
    }
}
