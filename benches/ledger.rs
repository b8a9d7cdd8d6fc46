//! Ledger benchmarks (a bench binary, not criterion: each figure is one
//! long, realistic run on a real SQLite file, not a micro-loop).
//!
//! `cargo bench --bench ledger` runs them all; name one to run it alone:
//! `cargo bench --bench ledger -- throughput|latency|verify|signing`.
//! Results and the machine they were measured on are in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use consent_domain::Submission;
use consent_ledger::{KeyStore, Ledger, LedgerConfig, SqliteStore};
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

async fn fresh_ledger(dir: &std::path::Path) -> Ledger<SqliteStore> {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
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
    ledger
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

/// Durable appends per second with 64 concurrent appenders, each waiting
/// for its acknowledgement before sending the next. `known`: subjects
/// recorded before (the common case); otherwise a new subject every time
/// (a new secret row too: the worst case).
async fn throughput(known: bool, in_flight: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = fresh_ledger(dir.path()).await;
    let pool = 10_000u64;
    if known {
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
    }
    let appenders = 64;
    let duration = Duration::from_secs(10);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..appenders {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut pending = std::collections::VecDeque::new();
            while started.elapsed() < duration {
                let s = if known {
                    format!("known-{}@example.com", (a * 7919 + n * 104_729) % pool)
                } else {
                    format!("appender-{a}-subject-{n}@example.com")
                };
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
    let what = if known {
        "subjects already known"
    } else {
        "a new subject each time"
    };
    println!(
        "throughput ({what}, {in_flight} in flight per appender): {total} durable appends (grant + evidence, each hashed and signed) by {appenders} concurrent appenders in {secs:.1} s = {:.0} appends/s",
        total as f64 / secs
    );
}

/// Latency of single appends offered at a fixed rate (open loop).
async fn latency() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = fresh_ledger(dir.path()).await;
    for rate in [1_000u64, 10_000] {
        let count = rate * 10;
        let interval = Duration::from_nanos(1_000_000_000 / rate);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(count as usize)));
        let mut tasks = Vec::with_capacity(count as usize);
        let started = Instant::now();
        for i in 0..count {
            ticker.tick().await;
            let ledger = ledger.clone();
            let latencies = latencies.clone();
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let s = format!("latency-{rate}-{i}@example.com");
                ledger.append(grant(&s), None).await.unwrap().unwrap();
                latencies.lock().unwrap().push(t.elapsed());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let achieved = count as f64 / started.elapsed().as_secs_f64();
        let mut l = latencies.lock().unwrap().clone();
        l.sort_unstable();
        println!(
            "latency at {rate} appends/s offered ({achieved:.0}/s achieved, {count} appends): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&l, 0.50).as_secs_f64() * 1e3,
            percentile(&l, 0.99).as_secs_f64() * 1e3,
            l.last().unwrap().as_secs_f64() * 1e3,
        );
    }
}

/// `verify` speed: the stored chain and an export file of 200,000 entries.
async fn verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = fresh_ledger(dir.path()).await;
    let n = 200_000;
    let mut pending = Vec::with_capacity(4096);
    for i in 0..n {
        pending.push(
            ledger
                .enqueue(grant(&format!("verify-{i}@example.com")), None)
                .await
                .unwrap(),
        );
        if pending.len() == 4096 {
            for p in pending.drain(..) {
                p.await.unwrap().unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        p.await.unwrap().unwrap();
    }
    let store = ledger.store().clone();
    let started = Instant::now();
    let report = consent_ledger::verify_store(&*store, None)
        .await
        .unwrap()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verify (database): {} entries in {secs:.2} s = {:.0} entries/s",
        report.entries,
        report.entries as f64 / secs
    );
    let path = dir.path().join("export.jsonl");
    consent_ledger::export::export(
        &*store,
        std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
    let report = consent_ledger::export::verify_export(file, None)
        .unwrap()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verify (export file): {} entries in {secs:.2} s = {:.0} entries/s",
        report.entries,
        report.entries as f64 / secs
    );
}

/// The primitives' own speed on this machine, for context.
fn signing() {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[7; 32]);
    let n = 20_000;
    let msgs: Vec<[u8; 32]> = (0..n)
        .map(|i: u32| consent_ledger::format::entry_hash(&i.to_le_bytes()))
        .collect();
    let t = Instant::now();
    let sigs: Vec<_> = msgs.iter().map(|m| key.sign(m)).collect();
    println!(
        "ed25519 sign (one core): {:.0}/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
    let vk = vec![key.verifying_key(); 1024];
    let t = Instant::now();
    for (m, s) in msgs.chunks(1024).zip(sigs.chunks(1024)) {
        let m: Vec<&[u8]> = m.iter().map(|x| &x[..]).collect();
        ed25519_dalek::verify_batch(&m, s, &vk[..m.len()]).unwrap();
    }
    println!(
        "ed25519 batch verify (one core, batches of 1024): {:.0}/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if run("signing") {
        signing();
    }
    if run("throughput") {
        for in_flight in [1, 16] {
            rt.block_on(throughput(true, in_flight));
            rt.block_on(throughput(false, in_flight));
        }
    }
    if run("latency") {
        rt.block_on(latency());
    }
    if run("verify") {
        rt.block_on(verify());
    }
}
