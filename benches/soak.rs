//! Soak: `consent serve` on SQLite under a steady mixed load for a long
//! time, sampling the WAL's size, the server's resident memory and the
//! latencies every interval, to show the WAL stays bounded and memory flat
//! after warm-up (RELIABILITY.md).
//!
//! `cargo bench --bench soak` (10 minutes: 300 appends/s and 1,000
//! decisions/s over a fixed set of 10,000 subjects, open loop). Shorter:
//! `cargo bench --bench soak -- SECONDS`.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const APPENDS_PER_SECOND: u64 = 300;
const DECISIONS_PER_SECOND: u64 = 1_000;
const SUBJECTS: u64 = 10_000;
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

fn consent(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("consent runs");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Resident memory of a process, in MiB (Linux /proc).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn file_mib(path: &std::path::Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1 << 20) as f64)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

/// Sends `rate` requests a second on schedule until `until`, each built by
/// `body(i)`; latencies of successes go to `lat`, failures are counted.
#[allow(clippy::too_many_arguments)]
async fn open_loop(
    client: reqwest::Client,
    url: String,
    key: String,
    rate: u64,
    until: Instant,
    body: fn(u64) -> serde_json::Value,
    lat: Arc<Mutex<Vec<Duration>>>,
    errors: Arc<AtomicU64>,
) {
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next = 0u64;
    while Instant::now() < until {
        ticker.tick().await;
        let i = next;
        next += 1;
        let (client, url, key, lat, errors) = (
            client.clone(),
            url.clone(),
            key.clone(),
            lat.clone(),
            errors.clone(),
        );
        let b = body(i);
        tokio::spawn(async move {
            let t = Instant::now();
            match client.post(url).bearer_auth(key).json(&b).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    lat.lock().unwrap().push(t.elapsed());
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

fn grant(i: u64) -> serde_json::Value {
    // Alternating grants and withdrawals over the fixed subjects.
    let s = format!("s{}", i % SUBJECTS);
    if (i / SUBJECTS).is_multiple_of(2) {
        json!({"type": "consent_granted", "subject": s, "purpose": "affiliate-sharing",
               "data_categories": ["email-address"], "policy_version": "2023-11-29",
               "channel": "web"})
    } else {
        json!({"type": "consent_withdrawn", "subject": s, "purpose": "affiliate-sharing",
               "channel": "web"})
    }
}

fn decision(i: u64) -> serde_json::Value {
    json!({"subject": format!("s{}", (i * 7919) % SUBJECTS), "purpose": "marketing",
           "data_category": "email-address"})
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-policy.json"
    );
    consent(dir.path(), &["policy", "publish", policy], None);
    let lines: String = (0..SUBJECTS)
        .map(|i| format!("{{\"type\":\"consent_granted\",\"subject\":\"s{i}\",\"purpose\":\"marketing\",\"data_categories\":[\"email-address\"],\"policy_version\":\"2023-11-29\",\"channel\":\"web\"}}\n"))
        .collect();
    consent(dir.path(), &["append"], Some(&lines));
    let key: serde_json::Value = serde_json::from_str(&consent(
        dir.path(),
        &["api-key", "create", "--scopes", "decide,record"],
        None,
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = dir.path().join("consent.db");
    let wal = dir.path().join("consent.db-wal");
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let (append_lat, decide_lat) = (Arc::default(), Arc::default());
    let (append_err, decide_err) = (Arc::default(), Arc::default());
    let appends = tokio::spawn(open_loop(
        client.clone(),
        format!("{base}/v1/events"),
        key.clone(),
        APPENDS_PER_SECOND,
        until,
        grant,
        Arc::clone(&append_lat),
        Arc::clone(&append_err),
    ));
    let decisions = tokio::spawn(open_loop(
        client.clone(),
        format!("{base}/v1/decisions"),
        key.clone(),
        DECISIONS_PER_SECOND,
        until,
        decision,
        Arc::clone(&decide_lat),
        Arc::clone(&decide_err),
    ));
    println!(
        "soak: {seconds} s, {APPENDS_PER_SECOND} appends/s + {DECISIONS_PER_SECOND} decisions/s over {SUBJECTS} subjects (open loop)"
    );
    println!("| t (s) | WAL (MiB) | max WAL so far | database (MiB) | server RSS (MiB) | append p50 / p99 (ms) | decision p50 / p99 (ms) | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut max_wal: f64 = 0.0;
    let mut next = started + SAMPLE_EVERY;
    loop {
        // The WAL's size is watched closely (its peak matters), the rest
        // reported every interval.
        while Instant::now() < next.min(until) {
            max_wal = max_wal.max(file_mib(&wal));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let take = |l: &Arc<Mutex<Vec<Duration>>>| {
            let mut v = std::mem::take(&mut *l.lock().unwrap());
            v.sort();
            (percentile(&v, 0.5), percentile(&v, 0.99))
        };
        let (a50, a99) = take(&append_lat);
        let (d50, d99) = take(&decide_lat);
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {a50:.2} / {a99:.2} | {d50:.2} / {d99:.2} | {} |",
            started.elapsed().as_secs(),
            file_mib(&wal),
            max_wal,
            file_mib(&db),
            rss_mib(server.id()),
            append_err.load(Ordering::Relaxed) + decide_err.load(Ordering::Relaxed),
        );
        if Instant::now() >= until {
            break;
        }
        next += SAMPLE_EVERY;
    }
    let _ = appends.await;
    let _ = decisions.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = rustix::process::Pid::from_raw(server.id() as i32).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let status = server.wait().unwrap();
    println!(
        "after SIGTERM: exit {status}, WAL {:.1} MiB (exists: {}), database {:.1} MiB",
        file_mib(&wal),
        wal.exists(),
        file_mib(&db)
    );
}
