//! Prometheus metrics at `GET /metrics` (text exposition format): appends,
//! decisions, request latencies, projection lag. Unauthenticated, like
//! most scrape endpoints; it carries no personal data and no secret.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RouteLabels, Histogram>,
    pub appends: Family<OutcomeLabels, Counter>,
    pub decisions: Family<OutcomeLabels, Counter>,
    head: Gauge,
    lag: Gauge,
    checkpoint_size: Gauge,
    checkpoint_lag: Gauge,
    checkpoint_signatures: Gauge,
    writer_failing: Gauge,
    writer_failures: Counter,
    writer_recoveries: Counter,
    /// Connections closed on arrival because the cap was reached.
    pub refused_connections: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 50 µs to about 1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        let appends = Family::<OutcomeLabels, Counter>::default();
        let decisions = Family::<OutcomeLabels, Counter>::default();
        let head = Gauge::default();
        let lag = Gauge::default();
        let checkpoint_size = Gauge::default();
        let checkpoint_lag = Gauge::default();
        let checkpoint_signatures = Gauge::default();
        let writer_failing = Gauge::default();
        let writer_failures = Counter::default();
        let writer_recoveries = Counter::default();
        let refused_connections = Counter::default();
        registry.register(
            "consent_http_refused_connections",
            "Connections closed on arrival because the server held its maximum",
            refused_connections.clone(),
        );
        registry.register(
            "consent_writer_failing",
            "1 while the writer refuses appends after a storage failure (see /healthz for why), else 0",
            writer_failing.clone(),
        );
        registry.register(
            "consent_writer_failures",
            "Storage failures that closed the writer",
            writer_failures.clone(),
        );
        registry.register(
            "consent_writer_recoveries",
            "Times the writer proved its state equal to the store and reopened",
            writer_recoveries.clone(),
        );
        registry.register(
            "consent_checkpoint_size",
            "Entries covered by the latest published checkpoint",
            checkpoint_size.clone(),
        );
        registry.register(
            "consent_checkpoint_lag_entries",
            "Committed entries no published checkpoint covers yet",
            checkpoint_lag.clone(),
        );
        registry.register(
            "consent_checkpoint_signatures",
            "Signature lines on the latest checkpoint (the log's keys and witness cosignatures)",
            checkpoint_signatures.clone(),
        );
        registry.register(
            "consent_request_duration_seconds",
            "HTTP request latency by route and status",
            requests.clone(),
        );
        registry.register(
            "consent_appends",
            "Appends by outcome (appended, replayed, rejected, failed)",
            appends.clone(),
        );
        registry.register(
            "consent_decisions",
            "Decisions by outcome (allowed, denied)",
            decisions.clone(),
        );
        registry.register(
            "consent_ledger_head_seq",
            "Sequence number of the last committed entry",
            head.clone(),
        );
        registry.register(
            "consent_projection_lag_entries",
            "Committed entries the decision projection has not applied yet",
            lag.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            appends,
            decisions,
            head,
            lag,
            checkpoint_size,
            checkpoint_lag,
            checkpoint_signatures,
            writer_failing,
            writer_failures,
            writer_recoveries,
            refused_connections,
        }
    }

    pub fn count(family: &Family<OutcomeLabels, Counter>, outcome: &str) {
        family
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let head = *state.committed().borrow();
    let applied = state.projection.checkpoint().map_or(0, |c| c + 1);
    let m = &state.metrics;
    m.head.set(head as i64);
    m.lag.set((head + 1).saturating_sub(applied) as i64);
    if let Some(ledger) = &state.writer {
        let latest = ledger.checkpointer().subscribe().borrow().clone();
        let (size, signatures) =
            latest.map_or((0, 0), |c| (c.size, c.note.matches("\n\u{2014} ").count()));
        m.checkpoint_size.set(size as i64);
        m.checkpoint_lag.set((head + 1).saturating_sub(size) as i64);
        m.checkpoint_signatures.set(signatures as i64);
        let health = ledger.health().borrow().clone();
        m.writer_failing.set(i64::from(health.failing.is_some()));
        // Counters only go up: bring each to the writer's own count.
        m.writer_failures
            .inc_by(health.failures.saturating_sub(m.writer_failures.get()));
        m.writer_recoveries
            .inc_by(health.recoveries.saturating_sub(m.writer_recoveries.get()));
    }
    let mut text = String::new();
    let _ = encode(
        &mut text,
        &m.registry.lock().expect("metrics registry lock"),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
