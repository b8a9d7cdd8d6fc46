//! The Kafka relay: the ledger table is the outbox, and this task is its
//! only reader that talks to the broker. It publishes every committed
//! entry, in sequence order, to the ledger topic, keyed by the subject's
//! pseudonym (so one subject's events land in one partition, in order),
//! with the idempotent producer; once a page of entries is acknowledged by
//! the broker it stores its position (`cursors` table) in the database.
//!
//! After a crash it resumes from the stored position: nothing is skipped,
//! and what was sent but not yet recorded is sent again. Consumers drop
//! those duplicates by sequence number. The database and the broker are
//! never written as one step: the database is written first (by the
//! writer), the broker second (by this relay), and the cursor last.

use std::sync::Arc;
use std::time::Duration;

use consent_ledger::format::EntryLine;
use consent_ledger::{Store, StoreError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

/// The key of entries that concern no subject (policy publications, key
/// rotations, the genesis entry).
pub const LEDGER_KEY: &str = "ledger";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic}: {code}")]
    Topic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("stored entry {seq} cannot be read: {detail}")]
    Corrupt { seq: u64, detail: String },
}

/// Where the ledger goes.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic when the relay creates it.
    pub partitions: i32,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: "consent-ledger".into(),
            partitions: 8,
        }
    }

    pub(crate) fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            // librdkafka logs through `tracing`, not stderr.
            .set("log_level", "4");
        c
    }
}

/// Creates the ledger topic if it does not exist (the test broker, like
/// many production clusters, does not create topics on first use).
pub async fn ensure_topic(config: &KafkaConfig) -> Result<(), RelayError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let topic = NewTopic::new(&config.topic, config.partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(RelayError::Topic { topic, code }),
        }
    }
    Ok(())
}

/// Rows read from the store per round; each round is one broker flush and
/// one cursor write.
const PAGE: u32 = 4096;

/// The relay's cursor name for a topic.
pub fn cursor_name(topic: &str) -> String {
    format!("kafka-relay:{topic}")
}

/// Publishes the log to Kafka until `stop` turns true. `wake` changes when
/// entries are committed (the ledger's own feed, or the shared store's
/// notifications); without news it still looks every second.
pub async fn run<S: Store>(
    store: Arc<S>,
    config: KafkaConfig,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RelayError> {
    ensure_topic(&config).await?;
    let producer: FutureProducer = config
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()?;
    let cursor = cursor_name(&config.topic);
    let mut next = store.cursor(&cursor).await?.unwrap_or(0);
    info!(topic = %config.topic, next, "Kafka relay started");
    loop {
        let page = store.read_lines(next, PAGE).await?;
        if let Some(last) = page.last() {
            let last = last.seq;
            let span = info_span!("relay_page", from = next, to = last, entries = page.len());
            publish(&producer, &config.topic, &page)
                .instrument(span)
                .await?;
            next = last + 1;
            store.save_cursor(&cursor, next).await?;
            debug!(next, "relayed");
            if page.len() == PAGE as usize {
                continue;
            }
        }
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    producer.flush(Duration::from_secs(10))?;
    info!(next, "Kafka relay stopped");
    Ok(())
}

/// Sends a page and waits until the broker has acknowledged all of it.
/// The idempotent producer keeps each partition's order through retries.
async fn publish(
    producer: &FutureProducer,
    topic: &str,
    page: &[consent_ledger::store::StoredLine],
) -> Result<(), RelayError> {
    let mut deliveries = Vec::with_capacity(page.len());
    for row in page {
        let entry = EntryLine::parse(&row.line).map_err(|e| RelayError::Corrupt {
            seq: row.seq,
            detail: e.to_string(),
        })?;
        let key = entry
            .event
            .subject()
            .map_or_else(|| LEDGER_KEY.to_owned(), |p| p.to_string());
        let mut record = FutureRecord::to(topic).key(&key).payload(&row.line);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                // The local queue is full: let deliveries drain, then retry.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_) => {
                warn!("a delivery was cancelled; the page will be sent again");
                return Err(KafkaError::Canceled.into());
            }
        }
    }
    Ok(())
}
