//! The connection loop under the router: what a server exposed to clients
//! it does not control needs before any handler runs.
//!
//! - **A connection cap** ([`Limits::max_connections`]): past it a new
//!   connection is accepted and closed at once, so a flood cannot queue
//!   in the backlog behind the real clients.
//! - **A header timeout** ([`Limits::header_timeout`], hyper's): the whole
//!   request head must arrive within it, counted from the connection's
//!   start or from the end of the previous response, so a slowloris client,
//!   a partial request line and an idle kept-alive connection are all closed.
//! - **A body deadline and minimum rate** ([`guard_body`]): a declared
//!   `Content-Length` over [`super::BODY_LIMIT`] is refused (413) before a
//!   byte is read; a body must then keep up [`Limits::min_body_rate`] after
//!   a short grace and finish within [`Limits::body_timeout`] (408).
//! - **Optional TLS** (rustls), with the handshake under the header timeout.
//!
//! Shutdown is mini-redis's: the signal sets `draining` (responses ask
//! clients to close), the loop keeps serving for [`super::DRAIN`], stops
//! accepting, and waits for every connection to finish its request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::problem::Problem;
use super::{router, AppState, BODY_LIMIT, DRAIN};

/// What the server tolerates from a client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The request head (and a TLS handshake) within this; also how long a
    /// kept-alive connection may sit idle between requests.
    pub header_timeout: Duration,
    /// The whole body within this.
    pub body_timeout: Duration,
    /// Bytes per second a body must average after [`BODY_GRACE`].
    pub min_body_rate: u64,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            max_connections: 1024,
        }
    }
}

/// How long a body may take before the minimum rate applies.
pub const BODY_GRACE: Duration = Duration::from_secs(2);

/// How long a stopping server waits for its connections' last requests.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn acceptor(&self) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading the TLS certificate {}", self.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading the TLS key {}", self.key.display()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("the TLS certificate and key do not match")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// Serves until SIGINT (ctrl-c) or SIGTERM, then drains ([`DRAIN`]) and
/// finishes the requests in flight: every request read is answered
/// (appended, or refused with a problem) before its connection closes.
pub async fn serve(
    state: Arc<AppState>,
    listen: SocketAddr,
    tls: Option<TlsFiles>,
    limits: Limits,
) -> anyhow::Result<()> {
    let acceptor = tls.as_ref().map(TlsFiles::acceptor).transpose()?;
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    tracing::info!(%address, scheme, "serving the consent API");
    {
        // Presentation for whoever started it (logs go to stderr).
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "consent API on {scheme}://{address}");
    }
    let (stop_flush, flush_stopped) = tokio::sync::watch::channel(false);
    let last_used = tokio::spawn(super::auth::flush_last_used(state.clone(), flush_stopped));

    let app = router(state.clone(), limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut stopping = pin!(async {
        consent_serving::shutdown_signal().await;
        state.draining.store(true, Ordering::SeqCst);
        tokio::time::sleep(DRAIN).await;
    });
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving
                    // the connections we have.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state.metrics.refused_connections.inc();
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => serve_connection(tcp, service, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve_connection(tls, service, limits, watcher).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_WAIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {CLOSE_WAIT:?} after the stop; closing them");
    }
    let _ = stop_flush.send(true);
    let _ = last_used.await;
    Ok(())
}

async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<axum::Router>,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = http.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Middleware: refuses a declared length over the limit before reading,
/// then reads the body under the deadline and minimum rate of `limits`.
pub async fn guard_body(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return closing(too_large());
    }
    if axum::body::HttpBody::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read_body(body, limits).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(problem) => closing(problem),
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request bodies are limited to {BODY_LIMIT} bytes"),
    )
}

/// A refusal after which the connection is closed (its body may be unread).
fn closing(problem: Problem) -> Response {
    let mut response = problem.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn read_body(mut body: Body, limits: Limits) -> Result<Bytes, Problem> {
    use futures_util::FutureExt;
    let started = Instant::now();
    let too_slow = || {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body arrived too slowly (it must finish within {} s and average {} bytes/s)",
                limits.body_timeout.as_secs(),
                limits.min_body_rate
            ),
        )
    };
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    loop {
        // A frame already here needs no deadline (the usual small body
        // arrives with its head): no timer is set for it.
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => {
                // The next byte is due when the average would fall below
                // the rate.
                let owed =
                    Duration::from_secs_f64(received as f64 / limits.min_body_rate.max(1) as f64);
                let due = (started + BODY_GRACE + owed).min(started + limits.body_timeout);
                match tokio::time::timeout_at(due, body.frame()).await {
                    Err(_) => return Err(too_slow()),
                    Ok(frame) => frame,
                }
            }
        };
        let frame = match frame {
            None => break,
            Some(Err(_)) => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                ))
            }
            Some(Ok(frame)) => frame,
        };
        if let Ok(data) = frame.into_data() {
            received += data.len();
            if received > BODY_LIMIT {
                return Err(too_large());
            }
            chunks.push(data);
        }
    }
    // One frame (the usual case) is passed on without a copy.
    Ok(match chunks.len() {
        1 => chunks.pop().expect("one chunk"),
        _ => chunks.concat().into(),
    })
}
