//! `consent serve`: the HTTP API. By default a writer with the consent
//! projection kept current in process; with `--from-kafka` a read-only
//! decision node whose projection is built from the ledger topic. Either
//! may also relay the log to Kafka (`--relay-to`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::io::Write;

use anyhow::Context;
use consent_consumers::notifier::{self, Endpoints, Retry};
use consent_consumers::recipient_address::AddressPolicy;
use consent_consumers::witnesses::WitnessTarget;
use consent_consumers::{kafka_node, NodeConfig};
use consent_ledger::Store;

use crate::db::Location;
use crate::http::{create_key, serve, AppState, Limits, Scope, TlsFiles};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "CONSENT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also publish every committed entry to Kafka at these brokers
    /// (host:port,…); same as running `consent relay` beside it.
    #[arg(long, env = "CONSENT_RELAY_TO", value_name = "BROKERS")]
    relay_to: Option<String>,
    /// Run as a read-only decision node: build the projection from the
    /// ledger topic at these brokers instead of appending. --db is still
    /// read for subjects' pseudonyms and API keys.
    #[arg(
        long,
        env = "CONSENT_FROM_KAFKA",
        value_name = "BROKERS",
        conflicts_with = "relay_to"
    )]
    from_kafka: Option<String>,
    /// The decision node's local replica of the log (SQLite), which holds
    /// its Kafka offsets too.
    #[arg(long, env = "CONSENT_REPLICA", default_value = "node-replica.db")]
    replica: PathBuf,
    /// The genesis public key a decision node requires (64 hex digits,
    /// from `consent key show`); every entry is verified either way.
    #[arg(long, requires = "from_kafka")]
    pin_key: Option<String>,
    #[command(flatten)]
    topic: super::relay::TopicArgs,
    /// Notify recipients: a JSON file naming each recipient's webhook,
    /// `{"recipients": {"<id>": {"url": "http://…"}}}`.
    #[arg(long, env = "CONSENT_RECIPIENTS", conflicts_with = "from_kafka")]
    recipients: Option<PathBuf>,
    /// Notify recipients at the `notify_url` their policy gives (implied by
    /// --recipients, whose URLs take precedence).
    #[arg(long, conflicts_with = "from_kafka")]
    notify: bool,
    /// Let the notifier call loopback addresses, over plain http too (a
    /// recipient on this host, tests). Off: recipients must use https to
    /// public addresses.
    #[arg(long, conflicts_with = "from_kafka")]
    notify_allow_loopback_http: bool,
    /// A network (CIDR, e.g. 10.20.0.0/16) recipients may be in although
    /// it is private, link-local or reserved (repeatable).
    #[arg(long, value_name = "CIDR", conflicts_with = "from_kafka")]
    notify_allow_network: Vec<ipnet::IpNet>,
    /// Webhook tries per recipient before a dead letter.
    #[arg(long, default_value_t = 8)]
    notify_attempts: u32,
    /// Wait before the second try, in milliseconds (doubled each time, up to a minute).
    #[arg(long, default_value_t = 500)]
    notify_backoff_ms: u64,
    /// Serve the log's checkpoint and tiles (`/log/…`) to anyone, without
    /// an API key, so any C2SP tlog-tiles client can mirror and verify it.
    #[arg(long, env = "CONSENT_PUBLIC_LOG")]
    public_log: bool,
    /// Least time between two published checkpoints, while entries arrive.
    #[arg(long, env = "CONSENT_CHECKPOINT_INTERVAL_MS", default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// A witness to push each checkpoint to and collect cosignatures from:
    /// `<witness verifier key>=<base URL>` (repeatable).
    #[arg(long, value_name = "VKEY=URL", conflicts_with = "from_kafka")]
    witness: Vec<String>,
    #[command(flatten)]
    http: HttpArgs,
}

/// How the server defends itself, and TLS.
#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "CONSENT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "CONSENT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a client has to send a request's head (and finish a TLS
    /// handshake); also how long a kept-alive connection may sit idle.
    #[arg(long, env = "CONSENT_HEADER_TIMEOUT_S", default_value_t = 10)]
    header_timeout_s: u64,
    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "CONSENT_BODY_TIMEOUT_S", default_value_t = 30)]
    body_timeout_s: u64,
    /// Bytes per second a request body must average after its first two seconds.
    #[arg(long, env = "CONSENT_MIN_BODY_RATE", default_value_t = 1024)]
    min_body_rate: u64,
    /// Connections served at once; more are closed on arrival.
    #[arg(long, env = "CONSENT_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
}

impl HttpArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout_s.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_s.max(1)),
            min_body_rate: self.min_body_rate,
            max_connections: self.max_connections.max(1),
        }
    }
    fn tls(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
        })
    }
}

/// How long a stopping server waits for its background tasks (relay,
/// notifier, witnesses, then the ledger's writer, checkpointer and
/// projector) before it exits without them.
const TASK_STOP: Duration = Duration::from_secs(10);

pub async fn run(at: &Location, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(brokers) = &args.from_kafka {
        return decision_node(at, &args, brokers).await;
    }
    let interval = Duration::from_millis(args.checkpoint_interval_ms.max(1));
    let ledger = at
        .ledger_with(|c| c.checkpoints.interval = Some(interval))
        .await?;
    if !ledger.store().any_api_key().await? {
        // First start: without a key the API is unusable, so make one with
        // every scope and show it once, on the terminal (never in a log).
        let (key, _) = create_key(&**ledger.store(), &Scope::ALL, "initial", None).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "No API key existed; created one with every scope (decide, watch, record, policy, audit, admin)."
        )?;
        writeln!(
            out,
            "It is shown only now; only its hash is stored:\n\n    {key}\n"
        )?;
        writeln!(
            out,
            "Make narrower keys with `consent api-key create --scopes decide`."
        )?;
        out.flush()?;
    }
    let witnesses = args
        .witness
        .iter()
        .map(|w| WitnessTarget::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    let projection = consent_consumers::projector::start(&ledger).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cosigning = (!witnesses.is_empty()).then(|| {
        tokio::spawn(consent_consumers::witnesses::run(
            ledger.clone(),
            witnesses,
            stop.subscribe(),
        ))
    });
    let relay = args.relay_to.as_ref().map(|brokers| {
        let config = args.topic.config(brokers);
        tokio::spawn(super::relay::supervise(
            ledger.store().clone(),
            config,
            ledger.committed(),
            stopped,
        ))
    });
    let endpoints = match &args.recipients {
        Some(path) => Some(Endpoints::load(path)?),
        None => args.notify.then(Endpoints::default),
    }
    .map(|mut e| {
        e.addresses = Arc::new(AddressPolicy {
            allow_loopback_http: args.notify_allow_loopback_http,
            allowed_networks: args.notify_allow_network.clone(),
        });
        e
    });
    let notifier = match endpoints {
        Some(endpoints) => {
            let key = at.key_store()?.named("webhook")?;
            let retry = Retry {
                attempts: args.notify_attempts,
                backoff: Duration::from_millis(args.notify_backoff_ms),
                ..Retry::default()
            };
            let (ledger, projection, stop) = (ledger.clone(), projection.clone(), stop.subscribe());
            // Supervised: after a failure (database, ledger) it restarts
            // from its cursor; nothing confirmed is sent again.
            Some(tokio::spawn(async move {
                loop {
                    let run = notifier::run(
                        ledger.clone(),
                        projection.clone(),
                        endpoints.clone(),
                        key.clone(),
                        retry.clone(),
                        stop.clone(),
                    );
                    match run.await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::error!(error = %e, "the recipient notifier failed; restarting in 1 s")
                        }
                    }
                    if *stop.borrow() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }))
        }
        None => None,
    };
    let store = ledger.store().clone();
    let running = ledger.clone();
    let mut state = AppState::new(ledger, projection);
    state.public_log = args.public_log;
    serve(
        Arc::new(state),
        args.listen,
        args.http.tls(),
        args.http.limits(),
    )
    .await?;
    // Every request was answered. The followers stop, then the ledger's
    // own tasks (the writer commits what it holds), each within a bound.
    let _ = stop.send(true);
    let deadline = tokio::time::Instant::now() + TASK_STOP;
    for task in [relay, notifier, cosigning].into_iter().flatten() {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            tracing::warn!("a background task did not stop within {TASK_STOP:?}; leaving it");
        }
    }
    if let Err(e) = running.shutdown(TASK_STOP).await {
        tracing::warn!(error = %e, "stopping the ledger");
    }
    // Fold the WAL back and close the files.
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn decision_node(at: &Location, args: &ServeArgs, brokers: &str) -> anyhow::Result<ExitCode> {
    let store = at.store().await?;
    let name = ledger_name(&store).await?;
    let replica = format!("sqlite://{}", args.replica.display());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (projection, mut follower) = kafka_node::start(NodeConfig {
        kafka: args.topic.config(brokers),
        replica,
        pinned_key: super::verify::parse_pin(args.pin_key.as_deref())?,
        stop: Some(stopping),
    })
    .await
    .context("starting the Kafka-fed decision node")?;
    let mut state = AppState::read_only(store, name, projection);
    state.public_log = args.public_log;
    let state = Arc::new(state);
    let served = tokio::select! {
        served = serve(state, args.listen, args.http.tls(), args.http.limits()) => served,
        followed = &mut follower => {
            // A node that cannot follow the log must not keep answering.
            followed?.context("following the ledger topic")?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    served?;
    // Stopped by a signal: the follower writes what it fetched to the
    // replica, then ends.
    let _ = stop.send(true);
    match tokio::time::timeout(TASK_STOP, follower).await {
        Ok(followed) => followed?.context("following the ledger topic")?,
        Err(_) => {
            tracing::warn!("the Kafka follower did not stop within {TASK_STOP:?}; leaving it")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ledger's name, from its genesis entry.
async fn ledger_name<S: Store>(store: &S) -> anyhow::Result<String> {
    let genesis = store.read_lines(0, 1).await?;
    let row = genesis
        .first()
        .context("the ledger is empty: start its writer first")?;
    match consent_ledger::format::EntryLine::parse(&row.line)?.event {
        consent_domain::Event::LedgerInitialized(g) => Ok(g.ledger),
        _ => anyhow::bail!("entry 0 is not the genesis entry"),
    }
}
