//! Transparency-log benchmarks (a bench binary: long, realistic runs on real
//! SQLite files).
//!
//! `cargo bench --bench transparency` runs them all; name one to run it
//! alone: `-- tree-cost | checkpoint-latency | receipts | storage`.
//! Results and the machine are in BENCHMARKS.md.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consent_domain::Submission;
use consent_ledger::checkpointer::log_verifier_key;
use consent_ledger::receipt::{tlog_proof, verify_receipt};
use consent_ledger::tree::TreeReader;
use consent_ledger::{KeyStore, Ledger, LedgerConfig, SqliteStore, Store};
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

async fn fresh(dir: &std::path::Path, config: LedgerConfig) -> Ledger<SqliteStore> {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let keys = KeyStore::open(dir.join("bench.keys")).unwrap();
    let ledger = Ledger::open(store, keys, config).await.unwrap();
    let policy = serde_json::from_str(POLICY).unwrap();
    ledger
        .append(
            Submission::PolicyPublished(consent_domain::command::PublishPolicy { policy }),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    ledger
}

/// Appends `n` grants of `subjects` known subjects, 16 in flight per task.
async fn fill(ledger: &Ledger<SqliteStore>, n: u64) {
    let mut pending = VecDeque::new();
    for i in 0..n {
        pending.push_back(
            ledger
                .enqueue(grant(&format!("known-{}@example.com", i % 10_000)), None)
                .await
                .unwrap(),
        );
        if pending.len() > 4096 {
            pending.pop_front().unwrap().await.unwrap().unwrap();
        }
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
}

/// Closed-loop durable appends per second, 64 appenders with 16 in flight
/// each, known subjects, for 10 s.
async fn closed_loop(tree: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let config = LedgerConfig {
        merkle_tree: tree,
        ..LedgerConfig::default()
    };
    let ledger = fresh(dir.path(), config).await;
    fill(&ledger, 10_000).await;
    let duration = Duration::from_secs(10);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..64u64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut pending = VecDeque::new();
            while started.elapsed() < duration {
                let s = format!("known-{}@example.com", (a * 7919 + n * 104_729) % 10_000);
                pending.push_back(ledger.enqueue(grant(&s), None).await.unwrap());
                if pending.len() >= 16 {
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
    total as f64 / started.elapsed().as_secs_f64()
}

/// Throughput with the tree against the same run without it, alternated
/// so drift on a shared machine hits both.
async fn tree_cost() {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for _ in 0..3 {
        off.push(closed_loop(false).await);
        on.push(closed_loop(true).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "tree-cost: appends/s without the tree {:?}, with it {:?}: with/without = {:.1} %",
        off.iter().map(|x| x.round()).collect::<Vec<_>>(),
        on.iter().map(|x| x.round()).collect::<Vec<_>>(),
        100.0 * mean(&on) / mean(&off)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

/// Time from an append's acknowledgement to the publication of the first
/// checkpoint covering it, appends offered at `rate`/s for 20 s with the
/// default checkpoint interval (1 s).
async fn checkpoint_latency(rate: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = fresh(dir.path(), LedgerConfig::default()).await;
    fill(&ledger, 10_000).await;
    // Every publication: (size, when).
    let published: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut updates = ledger.checkpointer().subscribe();
    let log = published.clone();
    let watcher = tokio::spawn(async move {
        while updates.changed().await.is_ok() {
            let size = updates.borrow_and_update().as_ref().map_or(0, |c| c.size);
            log.lock().unwrap().push((size, Instant::now()));
        }
    });
    let acks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let duration = Duration::from_secs(20);
    let started = Instant::now();
    let tasks = 8u64;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (ledger, acks) = (ledger.clone(), acks.clone());
        handles.push(tokio::spawn(async move {
            let interval = Duration::from_secs_f64(tasks as f64 / rate as f64);
            let mut next = started + interval.mul_f64(task as f64 / tasks as f64);
            let mut waiting = Vec::new();
            let mut n = 0u64;
            while next < started + duration {
                tokio::time::sleep_until(next.into()).await;
                let answer = ledger
                    .enqueue(
                        grant(&format!("known-{}@example.com", (task * 7919 + n) % 10_000)),
                        None,
                    )
                    .await
                    .unwrap();
                let acks = acks.clone();
                waiting.push(tokio::spawn(async move {
                    let a = answer.await.unwrap().unwrap();
                    acks.lock().unwrap().push((a.seq, Instant::now()));
                }));
                next += interval;
                n += 1;
            }
            for w in waiting {
                w.await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Wait for the checkpoint covering the last append.
    let head = *ledger.committed().borrow();
    let deadline = Instant::now() + Duration::from_secs(10);
    while published.lock().unwrap().last().map_or(0, |p| p.0) <= head && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watcher.abort();
    let published = published.lock().unwrap().clone();
    let acks = acks.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = acks
        .iter()
        .map(|&(seq, acked)| {
            let (_, at) = published
                .iter()
                .find(|(size, _)| *size > seq)
                .expect("a checkpoint covers every append");
            at.saturating_duration_since(acked)
        })
        .collect();
    latencies.sort();
    let secs = duration.as_secs_f64();
    println!(
        "checkpoint-latency: {} appends offered at {rate}/s for {secs:.0} s ({:.0}/s acknowledged), {} checkpoints; acknowledged append → checkpoint covering it: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        acks.len(),
        acks.len() as f64 / secs,
        published.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Receipts (tlog-proof of a random entry: tile reads and proof) generated
/// per second on one core, then verified offline per second.
fn receipts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, checkpoint, lines, vkey) = rt.block_on(async {
        let ledger = fresh(dir.path(), LedgerConfig::default()).await;
        fill(&ledger, 200_000).await;
        let cp = ledger.checkpointer().publish().await.unwrap().unwrap();
        let store = ledger.store().clone();
        let lines: Vec<String> = store
            .read_lines(0, 300_000)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        let keys = consent_ledger::replay::replay(&*store).await.unwrap().keys;
        let vkey = log_verifier_key(ledger.name(), &keys[0].1).unwrap();
        (store, cp, lines, vkey)
    });
    // One core: a current-thread runtime, nothing else running.
    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reader = TreeReader::default();
    let n = 100_000u64;
    let size = checkpoint.size;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % size
    };
    let seqs: Vec<u64> = (0..n).map(|_| next()).collect();
    let mut proofs = Vec::with_capacity(n as usize);
    let started = Instant::now();
    one.block_on(async {
        for &seq in &seqs {
            proofs.push(
                tlog_proof(&*store, &reader, seq, &checkpoint)
                    .await
                    .unwrap()
                    .to_string(),
            );
        }
    });
    let made = started.elapsed().as_secs_f64();
    // JSON receipts: the entry's line read from the store, parsed, and the
    // ISO/IEC TS 27560-style receipt built around the tlog-proof (the
    // policy lookup, in memory on a server, left out).
    let json_n = 20_000usize;
    let started = Instant::now();
    one.block_on(async {
        for &seq in seqs.iter().take(json_n) {
            let proof = tlog_proof(&*store, &reader, seq, &checkpoint)
                .await
                .unwrap();
            let line = store.lines_at(&[seq]).await.unwrap().pop().unwrap().line;
            let entry = consent_ledger::format::EntryLine::parse(&line).unwrap();
            let receipt = consent_ledger::receipt::consent_receipt(
                "bench/ledger",
                &line,
                &entry,
                None,
                &proof,
            );
            assert!(receipt.seq == seq);
        }
    });
    let json_made = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (proof, &seq) in proofs.iter().zip(&seqs).take(20_000) {
        verify_receipt(
            proof,
            Some(&lines[seq as usize]),
            std::slice::from_ref(&vkey),
            &[],
            0,
        )
        .unwrap();
    }
    let verified = started.elapsed().as_secs_f64();
    println!(
        "receipts: {n} tlog-proof receipts for random entries of a {size}-entry log on one core in {made:.2} s = {:.0} receipts/s; JSON receipts (entry read from SQLite) {:.0}/s; offline verification (checkpoint signature, leaf, inclusion proof) {:.0}/s",
        n as f64 / made,
        json_n as f64 / json_made,
        20_000.0 / verified
    );
}

/// Bytes the tree adds per entry: the same 200,000 appends with and
/// without it, database pages counted after a WAL checkpoint.
fn storage() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = 200_000u64;
    let size_of = |tree: bool| {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let config = LedgerConfig {
                merkle_tree: tree,
                ..LedgerConfig::default()
            };
            let ledger = fresh(dir.path(), config).await;
            fill(&ledger, n).await;
            if tree {
                ledger.checkpointer().publish().await.unwrap();
            }
            let entries = ledger.committed().borrow().to_owned() + 1;
            drop(ledger);
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await
                .unwrap();
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&pool)
                .await
                .unwrap();
            let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&pool)
                .await
                .unwrap();
            let logical: Option<i64> = if tree {
                sqlx::query_scalar("SELECT sum(length(hashes)) FROM tiles")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            } else {
                None
            };
            (entries, pages * page, logical)
        })
    };
    let (entries, without, _) = size_of(false);
    let (_, with, logical) = size_of(true);
    println!(
        "storage: {entries} entries; database {without} bytes without the tree, {with} with it: {:.1} bytes of tree per entry on disk ({:.1} bytes of hashes per entry in the tiles)",
        (with - without) as f64 / entries as f64,
        logical.unwrap_or(0) as f64 / entries as f64
    );
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    if run("storage") {
        storage();
    }
    if run("receipts") {
        receipts();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if run("checkpoint-latency") {
        rt.block_on(checkpoint_latency(10_000));
    }
    if run("tree-cost") {
        rt.block_on(tree_cost());
    }
}
