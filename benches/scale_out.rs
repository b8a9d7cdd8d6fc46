//! Scale-out benchmarks: the ledger on PostgreSQL, the Kafka relay and a
//! Kafka-fed decision node, all real (PostgreSQL on 127.0.0.1:5432, tansu
//! from `scripts/broker start`, at CONSENT_BENCH_KAFKA, default
//! 127.0.0.1:19092).
//!
//! `cargo bench --bench scale_out` runs them all; name one to run it alone:
//! `cargo bench --bench scale_out -- throughput|visible|catch-up`.
//! Results are in BENCHMARKS.md.

use std::time::{Duration, Instant};

use consent_consumers::{kafka_node, relay, KafkaConfig, NodeConfig};
use consent_domain::Submission;
use consent_ledger::{KeyStore, Ledger, LedgerConfig, PgStore};
use serde_json::json;

const POLICY: &str = include_str!("../examples/reference-policy.json");

fn grant(subject: &str) -> Submission {
    serde_json::from_value(json!({
        "type": "consent_granted",
        "subject": subject,
        "purpose": "marketing",
        "data_categories": ["email-address", "name"],
        "policy_version": "2023-11-29",
        "channel": "web-signup-form",
        "evidence": {"ip": "198.51.100.7", "form": "signup-v3"},
    }))
    .unwrap()
}

fn broker() -> String {
    std::env::var("CONSENT_BENCH_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("consent_bench_{name}_{nanos}")
}

/// A fresh PostgreSQL ledger with the reference policy published.
async fn fresh_ledger(dir: &std::path::Path) -> (Ledger<PgStore>, String) {
    let db = unique("db");
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let store = PgStore::open(&url).await.unwrap();
    let keys = KeyStore::open(dir.join("bench.keys")).unwrap();
    let ledger = Ledger::open(store, keys, LedgerConfig::default())
        .await
        .unwrap();
    let policy = serde_json::from_str(POLICY).unwrap();
    ledger
        .append(
            Submission::PolicyPublished(consent_domain::command::PublishPolicy { policy }),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    (ledger, db)
}

fn drop_database(db: &str) {
    let _ = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
        .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .status();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

/// Durable appends per second on PostgreSQL, 64 closed-loop appenders
/// (each waits for its acknowledgement before the next), subjects known.
/// Leaves the ledger for the catch-up benchmark.
async fn throughput(dir: &std::path::Path) -> (Ledger<PgStore>, String) {
    let (ledger, db) = fresh_ledger(dir).await;
    let pool = 10_000u64;
    let mut pending = Vec::new();
    for i in 0..pool {
        pending.push(
            ledger
                .enqueue(grant(&format!("known-{i}@example.com")), None)
                .await
                .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
    for in_flight in [1usize, 16] {
        let duration = Duration::from_secs(10);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for a in 0..64u64 {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut pending = std::collections::VecDeque::new();
                while started.elapsed() < duration {
                    let s = format!("known-{}@example.com", (a * 7919 + n * 104_729) % pool);
                    pending.push_back(ledger.enqueue(grant(&s), None).await.unwrap());
                    if pending.len() >= in_flight {
                        pending.pop_front().unwrap().await.unwrap().unwrap();
                    }
                    n += 1;
                }
                for p in pending {
                    p.await.unwrap().unwrap();
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "PostgreSQL throughput ({in_flight} in flight per appender): {total} durable appends by 64 concurrent appenders in {secs:.1} s = {:.0} appends/s",
            total as f64 / secs
        );
    }
    (ledger, db)
}

/// From an acknowledged append on the writer (PostgreSQL) to the entry
/// applied by a decision node fed from Kafka, at 1,000 appends/s.
async fn visible(dir: &std::path::Path) {
    let (ledger, db) = fresh_ledger(dir).await;
    let kafka = KafkaConfig {
        topic: unique("visible"),
        ..KafkaConfig::new(broker())
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay_task = tokio::spawn(relay::run(
        ledger.store().clone(),
        kafka.clone(),
        ledger.committed(),
        stopped,
    ));
    // The relay creates the topic; the node needs it.
    let first = ledger
        .append(grant("warm-up@example.com"), None)
        .await
        .unwrap()
        .unwrap();
    let replica = format!("sqlite://{}", dir.join("visible-replica.db").display());
    let (projection, _node) = loop {
        match kafka_node::start(NodeConfig {
            kafka: kafka.clone(),
            replica: replica.clone(),
            pinned_key: None,
            stop: None,
        })
        .await
        {
            Ok(n) => break n,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert!(
        projection
            .wait_for(first.seq, Duration::from_secs(30))
            .await
    );

    let rate = 1_000u64;
    let total = 10_000u64;
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut probes = Vec::new();
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let ledger = ledger.clone();
        let projection = projection.clone();
        probes.push(tokio::spawn(async move {
            let a = ledger
                .append(grant(&format!("v-{i}@example.com")), None)
                .await
                .unwrap()
                .unwrap();
            let acked = Instant::now();
            assert!(projection.wait_for(a.seq, Duration::from_secs(30)).await);
            acked.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for p in probes {
        lat.push(p.await.unwrap());
    }
    lat.sort();
    println!(
        "append-to-visible on a Kafka-fed node ({rate} appends/s for {} s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        total / rate,
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
    let _ = stop.send(true);
    let _ = relay_task.await;
    drop(ledger);
    drop_database(&db);
}

/// A new decision node catching up on the whole topic (the throughput
/// benchmark's ledger, relayed first).
async fn catch_up(dir: &std::path::Path, ledger: Ledger<PgStore>, db: &str) {
    let head = *ledger.committed().borrow();
    let kafka = KafkaConfig {
        topic: unique("catchup"),
        ..KafkaConfig::new(broker())
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let cursor = relay::cursor_name(&kafka.topic);
    let store = ledger.store().clone();
    let relay_task = tokio::spawn(relay::run(
        store.clone(),
        kafka.clone(),
        ledger.committed(),
        stopped,
    ));
    loop {
        use consent_ledger::Store;
        if store
            .cursor(&cursor)
            .await
            .unwrap()
            .is_some_and(|n| n > head)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relayed = started.elapsed().as_secs_f64();
    println!(
        "relay: {} entries published to Kafka (idempotent producer, acks=all) in {relayed:.1} s = {:.0} entries/s",
        head + 1,
        (head + 1) as f64 / relayed
    );
    let _ = stop.send(true);
    let _ = relay_task.await;

    let replica = format!("sqlite://{}", dir.join("catchup-replica.db").display());
    let started = Instant::now();
    let (projection, _node) = kafka_node::start(NodeConfig {
        kafka,
        replica,
        pinned_key: None,
        stop: None,
    })
    .await
    .unwrap();
    assert!(projection.wait_for(head, Duration::from_secs(600)).await);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "catch-up: a new Kafka-fed node applied {} entries (read, parsed, verified with signatures, written to its replica with offsets, projected) in {secs:.1} s = {:.0} entries/s",
        head + 1,
        (head + 1) as f64 / secs
    );
    drop(ledger);
    drop_database(db);
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        if wants("throughput") || wants("catch-up") {
            let (ledger, db) = throughput(dir.path()).await;
            if wants("catch-up") {
                catch_up(dir.path(), ledger, &db).await;
            } else {
                drop(ledger);
                drop_database(&db);
            }
        }
        if wants("visible") {
            visible(dir.path()).await;
        }
    });
}
