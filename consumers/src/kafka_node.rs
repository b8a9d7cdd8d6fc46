//! The Kafka-fed decision node: builds the consent projection from the
//! ledger topic on a machine that never touches the writer's database for
//! entries.
//!
//! The node keeps a local replica of the log (an SQLite ledger file, which
//! `consent verify` can check like any other) and, in the same transaction
//! as the entries of each batch, the next offset of every partition it
//! read. After a crash it rebuilds the projection from the replica and
//! resumes each partition where the replica says: nothing is lost, and an
//! entry seen twice (the relay resends after its own crash) is dropped by
//! sequence number, so nothing is counted twice.
//!
//! Partitions are keyed by subject, so entries arrive out of global order;
//! the node holds early ones until the gap before them fills and applies
//! strictly in sequence. The broker is not trusted: every entry is verified
//! before it is applied, exactly as `consent verify` does (canonical form,
//! hash, link to the entry before, time order, the key the log introduced,
//! Ed25519 signature; `--pin-key` pins the genesis key), and a node that
//! meets a bad entry stops, naming it, rather than answer from it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use consent_ledger::format::EntryLine;
use consent_ledger::store::{CommitBatch, EntryRow};
use consent_ledger::verify::{ChainVerifier, Input, WINDOW};
use consent_ledger::{SqliteStore, Store, StoreError};
use futures_util::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::projector::LiveProjection;
use crate::relay::KafkaConfig;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {0} does not exist (start the relay first: it creates it)")]
    NoTopic(String),
    #[error("entry {}: {} ({}): the stream or the replica has been tampered with", .0.seq, .0.reason.code(), .0.detail)]
    Tampered(consent_ledger::VerifyFailure),
    #[error("entry {seq} cannot be read: {detail}")]
    Corrupt { seq: u64, detail: String },
    #[error(transparent)]
    Apply(#[from] consent_projections::ApplyError),
}

/// Messages taken from the consumer per replica transaction, at most.
const BATCH: usize = 8192;

/// The replica's cursor name for one partition.
fn cursor_name(topic: &str, partition: i32) -> String {
    format!("kafka:{topic}:{partition}")
}

/// An entry received, not yet applied.
struct Held {
    hash: [u8; 32],
    entry: EntryLine,
    line: String,
}

/// The node's position: what the projection has applied, and what it holds.
struct Follower {
    projection: Arc<LiveProjection>,
    next: u64,
    held: BTreeMap<u64, Held>,
    verifier: ChainVerifier,
}

impl Follower {
    /// Whether `seq` was already received (applied or held).
    fn has(&self, seq: u64) -> bool {
        seq < self.next || self.held.contains_key(&seq)
    }

    /// Verifies, then applies, every held entry that continues the sequence.
    fn apply_ready(&mut self) -> Result<usize, NodeError> {
        let mut run = Vec::new();
        while let Some(held) = self.held.remove(&(self.next + run.len() as u64)) {
            run.push(held);
        }
        if run.is_empty() {
            return Ok(0);
        }
        for window in run.chunks(WINDOW) {
            let inputs: Vec<Input<'_>> = window
                .iter()
                .map(|h| Input {
                    position: h.entry.seq,
                    stored_hash: None,
                    line: &h.line,
                })
                .collect();
            self.verifier.feed(&inputs).map_err(NodeError::Tampered)?;
        }
        let mut model = self.projection.model.write().expect("projection lock");
        for held in &run {
            model.apply(
                held.entry.seq,
                held.entry.recorded_at,
                held.hash,
                &held.entry.event,
            )?;
        }
        drop(model);
        self.next += run.len() as u64;
        self.projection.publish_checkpoint();
        Ok(run.len())
    }
}

fn parse(seq_hint: u64, line: &str) -> Result<Held, NodeError> {
    let entry = EntryLine::parse(line).map_err(|e| NodeError::Corrupt {
        seq: seq_hint,
        detail: e.to_string(),
    })?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(&entry.hash, &mut hash).map_err(|e| NodeError::Corrupt {
        seq: entry.seq,
        detail: format!("hash: {e}"),
    })?;
    Ok(Held {
        hash,
        entry,
        line: line.to_owned(),
    })
}

/// Where a node reads from and keeps its replica.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub kafka: KafkaConfig,
    /// `sqlite://PATH` of the local replica (created if missing).
    pub replica: String,
    /// The genesis public key to require, as `consent verify --key` does.
    pub pinned_key: Option<[u8; 32]>,
    /// Set to stop following (between batches: what was fetched is written
    /// to the replica first); `None`: follow until an error.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Restores the projection from the replica, then follows the topic in a
/// background task (its handle is returned; it ends on an error or once
/// `config.stop` is set).
pub async fn start(
    config: NodeConfig,
) -> Result<(Arc<LiveProjection>, JoinHandle<Result<(), NodeError>>), NodeError> {
    let replica = SqliteStore::open_replica(&config.replica).await?;
    let mut follower = Follower {
        projection: Arc::new(LiveProjection::new()),
        next: 0,
        held: BTreeMap::new(),
        verifier: ChainVerifier::new(config.pinned_key).keeping_tiles(),
    };
    let mut from = 0;
    loop {
        let page = replica.read_lines(from, 8192).await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        for row in &page {
            follower.held.insert(row.seq, parse(row.seq, &row.line)?);
        }
        blocking(|| follower.apply_ready())?;
        from = last + 1;
    }
    // The replica's tiles are stored with its entries; a replica made
    // before the tree existed gets them now.
    let tiles = follower.verifier.take_tile_writes();
    if replica.tree_size().await? < follower.next {
        replica.put_tiles(&tiles).await?;
    }
    info!(
        applied = follower.next,
        held = follower.held.len(),
        "decision node restored from its replica"
    );

    let topic = config.kafka.topic.clone();
    let consumer: StreamConsumer = config
        .kafka
        .client()
        .set("group.id", format!("consent-node-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .set("queued.max.messages.kbytes", "65536")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0)
        .ok_or_else(|| NodeError::NoTopic(topic.clone()))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let offset = match replica.cursor(&cursor_name(&topic, p)).await? {
            Some(next) => Offset::Offset(next as i64),
            None => Offset::Beginning,
        };
        assignment.add_partition_offset(&topic, p, offset)?;
    }
    consumer.assign(&assignment)?;
    info!(%topic, partitions, "decision node following the ledger topic");

    let projection = follower.projection.clone();
    let stop = config.stop;
    let task = tokio::spawn(async move {
        let outcome = follow(consumer, replica, topic, follower, stop).await;
        if let Err(e) = &outcome {
            error!(error = %e, "the decision node stopped following the ledger");
        }
        outcome
    });
    Ok((projection, task))
}

/// Runs CPU-bound work (verifying a batch's signatures and applying it)
/// without holding up the runtime's other tasks: on a multi-threaded
/// runtime the worker hands its queue to another thread meanwhile.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

async fn follow(
    consumer: StreamConsumer,
    replica: SqliteStore,
    topic: String,
    mut follower: Follower,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<(), NodeError> {
    // The replica is written by its own task, so fetching, parsing and
    // projecting go on while SQLite writes. The projection may run ahead of
    // the replica (it is rebuilt from the replica after a crash, and the
    // replica's offsets say where to fetch from then); a bounded queue
    // keeps it at most a few batches ahead.
    let (to_replica, mut batches) = tokio::sync::mpsc::channel::<CommitBatch>(4);
    let writer = tokio::spawn(async move {
        while let Some(batch) = batches.recv().await {
            replica.commit(&batch).await?;
        }
        Ok::<(), NodeError>(())
    });
    let outcome = consume(&consumer, &topic, &mut follower, &to_replica, stop).await;
    drop(to_replica);
    let written = writer.await.expect("the replica writer does not panic");
    outcome.and(written)
}

async fn consume(
    consumer: &StreamConsumer,
    topic: &str,
    follower: &mut Follower,
    to_replica: &tokio::sync::mpsc::Sender<CommitBatch>,
    mut stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<(), NodeError> {
    loop {
        let mut batch = CommitBatch::default();
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        let mut fresh: Vec<(u64, Held)> = Vec::new();
        let mut fresh_seqs: HashSet<u64> = HashSet::new();
        let mut taken = 0;
        let first = match stop.as_mut() {
            Some(stop) => tokio::select! {
                m = consumer.recv() => m,
                () = consent_ledger::tasks::stopped(stop) => return Ok(()),
            },
            None => consumer.recv().await,
        };
        let mut next_message = Some(first);
        while let Some(received) = next_message.take() {
            taken += 1;
            match received {
                Ok(m) => {
                    offsets.insert(m.partition(), m.offset() + 1);
                    let line =
                        std::str::from_utf8(m.payload().unwrap_or_default()).map_err(|e| {
                            NodeError::Corrupt {
                                seq: follower.next,
                                detail: e.to_string(),
                            }
                        })?;
                    let held = parse(follower.next, line)?;
                    let seq = held.entry.seq;
                    if !follower.has(seq) && fresh_seqs.insert(seq) {
                        batch.entries.push(EntryRow {
                            seq,
                            recorded_at: held.entry.recorded_at.to_string(),
                            hash: held.hash,
                            subject: held.entry.event.subject().map(|p| p.to_string()),
                            kind: held.entry.event.kind(),
                            line: held.line.clone(),
                        });
                        fresh.push((seq, held));
                    }
                }
                Err(e) => warn!(error = %e, "reading the ledger topic"),
            }
            if taken < BATCH {
                next_message = consumer.recv().now_or_never();
            }
        }
        if offsets.is_empty() {
            continue;
        }
        batch.cursors = offsets
            .iter()
            .map(|(p, next)| (cursor_name(topic, *p), *next as u64))
            .collect();
        for (seq, held) in fresh {
            follower.held.insert(seq, held);
        }
        blocking(|| follower.apply_ready())?;
        // The tiles of the entries applied so far (all of them in this
        // batch or an earlier one) go in the same transaction.
        batch.tiles = follower.verifier.take_tile_writes();
        // Entries and offsets together: a crash leaves both or neither.
        if to_replica.send(batch).await.is_err() {
            return Ok(()); // the writer failed; its error is returned
        }
    }
}
