//! `consent relay`: publishes the log to Kafka from its own process (the
//! scale-out layout: writer, relay and decision nodes apart). On PostgreSQL
//! it wakes on the writers' commit notifications; on SQLite it looks for
//! new entries every 50 ms.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use consent_consumers::{relay, KafkaConfig};
use consent_ledger::Store;
use tokio::sync::watch;

use crate::db::Location;

/// The ledger topic, shared by `relay` and `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicArgs {
    /// The Kafka topic carrying the ledger.
    #[arg(long, env = "CONSENT_TOPIC", default_value = "consent-ledger")]
    topic: String,
    /// Partitions of the topic when it is created (keyed by subject).
    #[arg(long, default_value_t = 8)]
    partitions: i32,
}

impl TopicArgs {
    pub fn config(&self, brokers: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.to_owned(),
            topic: self.topic.clone(),
            partitions: self.partitions,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Kafka brokers, host:port[,host:port…].
    #[arg(long, env = "CONSENT_KAFKA")]
    kafka: String,
    #[command(flatten)]
    topic: TopicArgs,
}

pub async fn run(at: &Location, args: RelayArgs) -> anyhow::Result<ExitCode> {
    let store = Arc::new(at.store().await?);
    let config = args.topic.config(&args.kafka);
    let wake = match store.shared_head() {
        Some(w) => w,
        None => poll_head(store.clone()),
    };
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    supervise(store, config, wake, stopped).await;
    Ok(ExitCode::SUCCESS)
}

/// Runs the relay until `stop`, restarting it (after a pause) when the
/// broker or the database fails: it resumes from its stored position.
pub async fn supervise<S: Store>(
    store: Arc<S>,
    config: KafkaConfig,
    wake: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) {
    loop {
        match relay::run(store.clone(), config.clone(), wake.clone(), stop.clone()).await {
            Ok(()) => return,
            Err(e) => tracing::error!(error = %e, "the Kafka relay failed; restarting in 1 s"),
        }
        if *stop.borrow() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// For a store without commit notifications: the head, looked at every 50 ms.
fn poll_head<S: Store>(store: Arc<S>) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while !tx.is_closed() {
            tick.tick().await;
            if let Ok(Some(head)) = store.head().await {
                tx.send_if_modified(|h| std::mem::replace(h, head.seq) != head.seq);
            }
        }
    });
    rx
}
