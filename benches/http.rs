//! HTTP and projection-visibility benchmarks:
//! - decision latency over real loopback HTTP, p50/p99, at a fixed offered
//!   rate (open loop: requests are sent on schedule whether or not earlier
//!   ones have been answered), client and server on the same 2 cores;
//! - append-to-visible latency: from an append's acknowledgement to the
//!   in-process projection having applied it.
//!
//! `cargo bench --bench http` (results in BENCHMARKS.md). Starts
//! `consent serve` (release build) on a free loopback port itself.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

fn consent(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("consent runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

async fn decisions_over_http(rate: u64, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-policy.json"
    );
    consent(dir.path(), &["policy", "publish", policy]);
    let lines: String = (0..10_000)
        .map(|i| format!("{{\"type\":\"consent_granted\",\"subject\":\"s{i}\",\"purpose\":\"marketing\",\"data_categories\":[\"email-address\"],\"policy_version\":\"2023-11-29\",\"channel\":\"web\"}}\n"))
        .collect();
    let mut append = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(dir.path())
        .arg("append")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    append
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    assert!(append.wait().unwrap().success());
    let key: serde_json::Value = serde_json::from_str(&consent(
        dir.path(),
        &["api-key", "create", "--scopes", "decide"],
    ))
    .unwrap();
    let key = key["api_key"].as_str().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let (client, url, key, latencies, errors) = (
            client.clone(),
            format!("{base}/v1/decisions"),
            key.clone(),
            latencies.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let body = json!({"subject": format!("s{}", i % 10_000), "purpose": "marketing", "data_category": "email-address"});
            let t = Instant::now();
            match client.post(url).bearer_auth(key).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    latencies.lock().unwrap().push(t.elapsed());
                }
                _ => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let achieved = total as f64 / started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    println!(
        "HTTP decisions at {rate}/s offered ({achieved:.0}/s achieved, {} answered, {} errors): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().unwrap().as_secs_f64() * 1e3
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// From an append's acknowledgement to the in-process projection having
/// applied it, appends offered at `rate` per second.
async fn append_to_visible(rate: u64, seconds: u64) {
    use consent_ledger::{KeyStore, Ledger, LedgerConfig, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let ledger = Ledger::open(
        store,
        KeyStore::open(dir.path().join("b.keys")).unwrap(),
        LedgerConfig::default(),
    )
    .await
    .unwrap();
    let policy = serde_json::from_str(include_str!("../examples/reference-policy.json")).unwrap();
    let publish =
        consent_domain::Submission::PolicyPublished(consent_domain::command::PublishPolicy {
            policy,
        });
    ledger.append(publish, None).await.unwrap().unwrap();
    let projection = consent_consumers::projector::start(&ledger).await.unwrap();
    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let mut tasks = Vec::new();
    for i in 0..total {
        ticker.tick().await;
        let (ledger, projection, latencies) =
            (ledger.clone(), projection.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let grant = serde_json::from_value(json!({"type": "consent_granted", "subject": format!("v{i}"),
                "purpose": "marketing", "data_categories": ["name"], "policy_version": "2023-11-29", "channel": "web"})).unwrap();
            let a = ledger.append(grant, None).await.unwrap().unwrap();
            let acked = Instant::now();
            assert!(projection.wait_for(a.seq, Duration::from_secs(5)).await);
            latencies.lock().unwrap().push(acked.elapsed());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    println!(
        "append-to-visible in the projection at {rate} appends/s ({} appends): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        l.len(),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(append_to_visible(1_000, 10));
    for rate in [1_000, 5_000, 10_000] {
        rt.block_on(decisions_over_http(rate, 5));
    }
}
