//! Fault injection: every acknowledged (seq, hash) survives, nothing
//! uncommitted is ever answered as appended, and `/healthz` tells the truth,
//! under a full disk, dropped database connections with same-key retries,
//! a rolled-back store (a lost WAL, a restored backup), damaged pages,
//! SIGTERM and kill -9 under load. RELIABILITY.md lists what each test
//! shows and the figures of the last run.

use super::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{serve, serve_with, start_serve, Proc};
use common::{json_lines, TempLedger};
use consent_ledger::Store;
use serde_json::{json, Value};

/// What the server acknowledged: seq → (hash, idempotency key).
type Acked = Arc<Mutex<BTreeMap<u64, String>>>;

fn grant_body(subject: &str) -> Value {
    json!({
        "type": "consent_granted",
        "subject": subject,
        "purpose": "marketing",
        "data_categories": ["email-address"],
        "policy_version": "2023-11-29",
        "channel": "web-signup-form",
    })
}

/// One append over HTTP: the status, the answer and whether the server
/// asked to close the connection; `Err` when no response came.
async fn append(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: &Value,
    idempotency: Option<&str>,
) -> Result<(u16, Value, bool), reqwest::Error> {
    let mut r = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idempotency {
        r = r.header("Idempotency-Key", k);
    }
    let resp = r.send().await?;
    let status = resp.status().as_u16();
    let closing = resp
        .headers()
        .get("connection")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body, closing))
}

fn record(acked: &Acked, answer: &Value) {
    let seq = answer["seq"]
        .as_u64()
        .expect("an acknowledgement has a seq");
    let hash = answer["hash"].as_str().expect("and a hash").to_owned();
    let mut acked = acked.lock().unwrap();
    if let Some(earlier) = acked.insert(seq, hash.clone()) {
        assert_eq!(earlier, hash, "entry {seq} acknowledged with two hashes");
    }
}

async fn get(base: &str, key: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn health(base: &str) -> (u16, Value) {
    match reqwest::get(format!("{base}/healthz")).await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

/// Waits until `/healthz` says `status` (deadline `limit`).
async fn wait_health(base: &str, status: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, v) = health(base).await;
        if v["status"] == status {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never said {status:?} (last: {v})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged (seq, hash) is stored, exactly; `verify` passes.
async fn assert_all_stored(t: &TempLedger, acked: &Acked) -> u64 {
    let verify = t.consent(&["verify"], None);
    assert!(
        verify.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let entries = json_lines(&verify)[0]["entries"].as_u64().unwrap();
    let store = t.store().await;
    let acked = acked.lock().unwrap().clone();
    let mut lost = Vec::new();
    for (&seq, hash) in &acked {
        let row = store.read_lines(seq, 1).await.unwrap();
        match row.first() {
            Some(r) if r.seq == seq && hex::encode(&r.hash) == *hash => {}
            _ => lost.push(seq),
        }
    }
    store.close().await;
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries are not stored as acknowledged: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(20)]
    );
    eprintln!(
        "faults: {} acknowledged, 0 lost, {entries} entries verified",
        acked.len()
    );
    entries
}

fn api_key(t: &TempLedger, scopes: &str) -> String {
    let out = t.consent(&["api-key", "create", "--scopes", scopes], None);
    assert!(out.status.success(), "{out:?}");
    json_lines(&out)[0]["api_key"].as_str().unwrap().to_owned()
}

/// A tmpfs mounted over a directory for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where mounting is refused (not root, no mount namespace):
    /// the caller skips, saying so.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem holding `dir` with one file until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disk_full_refuses_appends_keeps_deciding_and_resumes_with_nothing_lost() {
    let t = TempLedger::sqlite();
    let Some(_tmpfs) = Tmpfs::mount(t.dir.path(), "40m") else {
        eprintln!("SKIPPED: mounting a tmpfs was refused (needs root); see RELIABILITY.md");
        return;
    };
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-policy.json"
    );
    assert!(t
        .consent(&["policy", "publish", policy], None)
        .status
        .success());
    let key = api_key(&t, "record,decide");
    // The server's log is kept off the full disk (its own disk full is
    // another story).
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let mut server = serve_with(
        &t,
        log.to_str().unwrap(),
        &["--checkpoint-interval-ms", "100"],
        &[("CONSENT_DISK_RESERVE_MIB", "4")],
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    for i in 0..100 {
        let (status, v, _) = append(
            &client,
            &base,
            &key,
            &grant_body(&format!("before-{i}")),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{v}");
        record(&acked, &v);
    }

    let filler = fill(t.dir.path());
    // Appends go on until the disk refuses them: 507 storage_full, never a
    // 201 for something not written.
    let refused: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let n = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, base, key, acked, refused, n) = (
            client.clone(),
            base.clone(),
            key.clone(),
            acked.clone(),
            refused.clone(),
            n.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while refused.lock().unwrap().len() < 50 && Instant::now() < deadline {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let body = grant_body(&format!("during-{i}"));
                let idem = format!("during-{i}");
                let (status, v, _) = append(&client, &base, &key, &body, Some(&idem))
                    .await
                    .unwrap();
                match status {
                    201 => record(&acked, &v),
                    507 => {
                        assert_eq!(v["code"], "storage_full", "{v}");
                        refused.lock().unwrap().push((idem, body));
                    }
                    _ => panic!("a full disk answered {status}: {v}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let refused = refused.lock().unwrap().clone();
    assert!(!refused.is_empty(), "the disk never filled up");
    let (status, h) = health(&base).await;
    assert_eq!(
        (status, h["status"].as_str(), h["reason"].as_str()),
        (503, Some("failing"), Some("storage_full")),
        "{h}"
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("consent_writer_failing 1"), "{metrics}");
    // Decisions go on from memory.
    let (status, d) = common::server::post(
        &base,
        &key,
        "/v1/decisions",
        &json!({"subject": "before-7", "purpose": "marketing", "data_category": "email-address"}),
    )
    .await;
    assert_eq!((status, d["allowed"].as_bool()), (200, Some(true)), "{d}");

    // Space back: the writer reopens by itself.
    std::fs::remove_file(filler).unwrap();
    wait_health(&base, "ok", Duration::from_secs(30)).await;
    // A refused request retried with its key was never appended: 201 now.
    for (idem, body) in refused.iter().take(20) {
        let (status, v, _) = append(&client, &base, &key, body, Some(idem))
            .await
            .unwrap();
        assert_eq!(status, 201, "a refused append was appended after all: {v}");
        record(&acked, &v);
    }
    for i in 0..50 {
        let (status, v, _) = append(
            &client,
            &base,
            &key,
            &grant_body(&format!("after-{i}")),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{v}");
        record(&acked, &v);
    }
    assert!(server.terminate().success());
    let entries = assert_all_stored(&t, &acked).await;
    // Genesis, the policy, and exactly the acknowledged appends.
    assert_eq!(entries, 2 + acked.lock().unwrap().len() as u64);
    eprintln!("faults: disk full: {} refused with 507", refused.len());
}

/// One append answer of the storm: the key it was sent with, and what came.
type Answers = Arc<Mutex<HashMap<String, Vec<(u16, Value)>>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_postgres_connections_lose_nothing_and_retries_get_their_own_entry() {
    let t = TempLedger::postgres_with_reference_policy();
    let key = api_key(&t, "record,decide,audit");
    let mut server = serve(&t, "serve.log", &[]).await;
    let base = server.base.clone();
    let db = t.pg.as_ref().unwrap().name.clone();
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", common::pg_base()))
        .await
        .unwrap();
    let storm = Arc::new(AtomicBool::new(true));
    let killed = Arc::new(AtomicU64::new(0));
    let terminator = {
        let (storm, killed) = (storm.clone(), killed.clone());
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&db)
                .fetch_one(&admin)
                .await
                .unwrap();
                killed.fetch_add(n as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            storm.store(false, Ordering::SeqCst);
        })
    };
    let answers: Answers = Arc::default();
    let n = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, key, answers, n, storm) = (
            base.clone(),
            key.clone(),
            answers.clone(),
            n.clone(),
            storm.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while storm.load(Ordering::SeqCst) {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let idem = format!("k{i}");
                let body = grant_body(&format!("s{i}"));
                // A client retrying at once, with the same key: both land
                // in one batch, as a retry after a timeout does.
                let (a, b) = tokio::join!(
                    append(&client, &base, &key, &body, Some(&idem)),
                    append(&client, &base, &key, &body, Some(&idem))
                );
                let got: Vec<(u16, Value)> = [a, b]
                    .into_iter()
                    .map(|r| r.map(|(s, v, _)| (s, v)).unwrap_or((0, Value::Null)))
                    .collect();
                answers.lock().unwrap().insert(idem, got);
            }
        }));
    }
    terminator.await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    wait_health(&base, "ok", Duration::from_secs(30)).await;

    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let answers = answers.lock().unwrap().clone();
    let (mut failed, mut replays) = (0, 0);
    let mut check_subject = Vec::new();
    for (idem, got) in &answers {
        let i = &idem[1..];
        let mut found: Option<(u64, String)> = None;
        for (status, v) in got {
            match status {
                200 | 201 => {
                    let this = (
                        v["seq"].as_u64().unwrap(),
                        v["hash"].as_str().unwrap().to_owned(),
                    );
                    if let Some(f) = &found {
                        assert_eq!(*f, this, "one key, two entries: {got:?}");
                    }
                    found = Some(this);
                    record(&acked, v);
                    if *status == 200 {
                        replays += 1;
                        check_subject.push((i.to_owned(), v["seq"].as_u64().unwrap()));
                    }
                }
                503 => {
                    assert_eq!(v["status"], 503, "a problem+json answer: {v}");
                    failed += 1;
                }
                other => panic!("answered {other}: {v}"),
            }
        }
        if found.is_none() {
            // Never acknowledged: a retry now gets the one entry for this key.
            let body = grant_body(&format!("s{i}"));
            let (status, v, _) = append(&client, &base, &key, &body, Some(idem))
                .await
                .unwrap();
            assert!(status == 201 || status == 200, "{status}: {v}");
            record(&acked, &v);
            if status == 200 {
                check_subject.push((i.to_owned(), v["seq"].as_u64().unwrap()));
            }
        }
    }
    // A replay names the subject's own entry, not another's.
    for (i, seq) in check_subject.iter().take(300) {
        let (status, h) = get(&base, &key, &format!("/v1/subjects/s{i}/history")).await;
        assert_eq!(status, 200, "{h}");
        let seqs: Vec<u64> = h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seqs.contains(seq),
            "replayed entry {seq} is not subject s{i}'s ({seqs:?})"
        );
    }
    // Decisions without a token are right once healthy.
    for (idem, _) in answers.iter().take(50) {
        let (status, d) = common::server::post(
            &base,
            &key,
            "/v1/decisions",
            &json!({"subject": format!("s{}", &idem[1..]), "purpose": "marketing", "data_category": "email-address"}),
        )
        .await;
        assert_eq!((status, d["allowed"].as_bool()), (200, Some(true)), "{d}");
    }
    server.kill_9();
    assert_all_stored(&t, &acked).await;
    // And it starts again on what it left.
    let _again = serve(&t, "serve-again.log", &[]).await;
    eprintln!(
        "faults: postgres storm: {} backends terminated, {} keys, {failed} refused with 503, {replays} replays",
        killed.load(Ordering::Relaxed),
        answers.len()
    );
}

/// Appends from `clients` closed-loop clients until `stop` is set;
/// connection errors are counted in `errors` (after SIGTERM a client stops
/// once told `Connection: close` or refused a connection).
fn load(
    base: &str,
    key: &str,
    clients: usize,
    prefix: &str,
    acked: &Acked,
    stop: &Arc<AtomicBool>,
    cut_off: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (base, key, acked, stop, cut_off) = (
                base.to_owned(),
                key.to_owned(),
                acked.clone(),
                stop.clone(),
                cut_off.clone(),
            );
            let prefix = format!("{prefix}-{c}");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let body = grant_body(&format!("{prefix}-{i}"));
                    match append(&client, &base, &key, &body, None).await {
                        Ok((201, v, closing)) => {
                            record(&acked, &v);
                            if closing {
                                return;
                            }
                        }
                        Ok((503, _, true)) => return,
                        Ok((status, v, _)) => panic!("answered {status}: {v}"),
                        Err(e) if e.is_connect() => return,
                        Err(_) => {
                            // Sent, and no answer came back.
                            cut_off.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_answers_every_request_and_leaves_no_wal() {
    let t = TempLedger::with_reference_policy();
    let key = api_key(&t, "record,decide");
    let mut server = serve(&t, "serve.log", &[]).await;
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let cut_off = Arc::new(AtomicU64::new(0));
    let tasks = load(&server.base, &key, 16, "term", &acked, &stop, &cut_off);
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 500 {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = tokio::task::block_in_place(|| server.terminate());
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert!(status.success(), "exit: {status}");
    assert_eq!(
        cut_off.load(Ordering::Relaxed),
        0,
        "requests cut off without an answer"
    );
    if t.pg.is_none() {
        let wal = t.db_path().with_extension("db-wal");
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert_eq!(size, 0, "the WAL is left with {size} bytes");
    }
    assert_all_stored(&t, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let t = TempLedger::with_reference_policy();
    let key = api_key(&t, "record,decide");
    let acked: Acked = Arc::default();
    for cycle in 0..3 {
        let mut server = serve(&t, &format!("serve-{cycle}.log"), &[]).await;
        let stop = Arc::new(AtomicBool::new(false));
        let cut_off = Arc::new(AtomicU64::new(0));
        let before = acked.lock().unwrap().len();
        let tasks = load(
            &server.base,
            &key,
            8,
            &format!("kill{cycle}"),
            &acked,
            &stop,
            &cut_off,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < before + 300 {
            assert!(Instant::now() < deadline, "no load");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill_9();
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
    }
    let server = serve(&t, "serve-last.log", &[]).await;
    let h = wait_health(&server.base, "ok", Duration::from_secs(10)).await;
    let last = acked.lock().unwrap().keys().last().copied().unwrap();
    assert!(h["head"].as_u64().unwrap() >= last, "{h}");
    drop(server);
    assert_all_stored(&t, &acked).await;
}

/// The remembered checkpoint's size, from `<keys>/signed-checkpoint`.
fn remembered(t: &TempLedger) -> Option<(u64, String)> {
    let note = std::fs::read_to_string(t.keys().join("signed-checkpoint")).ok()?;
    Some((note.lines().nth(1)?.parse().ok()?, note))
}

async fn append_n(base: &str, key: &str, prefix: &str, n: usize, acked: &Acked) {
    let client = reqwest::Client::new();
    for i in 0..n {
        let (status, v, _) = append(
            &client,
            base,
            key,
            &grant_body(&format!("{prefix}-{i}")),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{v}");
        record(acked, &v);
    }
}

/// Waits until the key directory remembers a checkpoint of at least `size`.
async fn wait_remembered(t: &TempLedger, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while remembered(t).is_none_or(|(s, _)| s < size) {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of {size} remembered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_is_refused_as_rolled_back() {
    if common::on_postgres() {
        // The same protection on PostgreSQL is shown by its WAL-less twin
        // below; a file backup is SQLite's case.
        return;
    }
    let t = TempLedger::with_reference_policy();
    let key = api_key(&t, "record");
    let acked: Acked = Arc::default();
    let mut server = serve(&t, "serve.log", &["--checkpoint-interval-ms", "50"]).await;
    append_n(&server.base, &key, "a", 30, &acked).await;
    assert!(server.terminate().success());
    let backup = t.dir.path().join("backup.db");
    std::fs::copy(t.db_path(), &backup).unwrap();

    let mut server = serve(&t, "serve2.log", &["--checkpoint-interval-ms", "50"]).await;
    append_n(&server.base, &key, "b", 30, &acked).await;
    let head = acked.lock().unwrap().keys().last().copied().unwrap();
    wait_remembered(&t, head + 1).await;
    assert!(server.terminate().success());

    // The database goes back to the backup; the keys remember more.
    std::fs::copy(&backup, t.db_path()).unwrap();
    for side in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(t.db_path().with_extension(side));
    }
    let (mut child, _) = start_serve(&t, "refused.log", &[], &[]);
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(t.dir.path().join("refused.log")).unwrap();
    assert!(log.contains("store_rolled_back"), "{log}");
    let verify = t.consent(&["verify"], None);
    assert!(!verify.status.success());
    let v = &json_lines(&verify)[0];
    assert_eq!(v["reason"], "store_rolled_back", "{v}");

    // The operator accepts the loss: a signed entry says what was lost,
    // and the ledger goes on from the backup.
    let (signed, note) = remembered(&t).unwrap();
    let out = t.consent(
        &[
            "recover",
            "accept-loss",
            "--reason",
            "restored the backup after a disk failure",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let r = &json_lines(&out)[0];
    assert_eq!(
        (r["accepted"].as_bool(), r["checkpoint"].as_u64()),
        (Some(true), Some(signed)),
        "{r}"
    );
    let kept = r["kept"].as_u64().unwrap();
    assert!(t
        .keys()
        .join(format!("signed-checkpoint.lost-{signed}"))
        .exists());
    let server = serve(&t, "serve3.log", &["--checkpoint-interval-ms", "50"]).await;
    append_n(&server.base, &key, "c", 5, &Arc::default()).await;
    wait_remembered(&t, kept + 6).await;
    drop(server);
    let verify = t.consent(&["verify"], None);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let export = t.consent(&["export", "--out", "-"], None);
    let text = String::from_utf8_lossy(&export.stdout);
    let loss: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["type"] == "loss_accepted")
        .expect("the loss is on record");
    assert_eq!(loss["seq"].as_u64(), Some(kept));
    assert_eq!(loss["event"]["kept"].as_u64(), Some(kept));
    assert_eq!(loss["event"]["checkpoint"].as_str(), Some(note.as_str()));
    // Asked again, there is nothing left to accept.
    let again = t.consent(&["recover", "accept-loss", "--reason", "again"], None);
    assert_eq!(json_lines(&again)[0]["accepted"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wal_truncated_while_stopped_never_forks_a_signed_checkpoint() {
    if common::on_postgres() {
        return;
    }
    let t = TempLedger::with_reference_policy();
    let key = api_key(&t, "record");
    let acked: Acked = Arc::default();
    let mut server = serve(&t, "serve.log", &["--checkpoint-interval-ms", "50"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let cut_off = Arc::new(AtomicU64::new(0));
    let tasks = load(&server.base, &key, 8, "wal", &acked, &stop, &cut_off);
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 2000 || remembered(&t).is_none() {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_9();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let (signed, note) = remembered(&t).unwrap();
    let wal = t.db_path().with_extension("db-wal");
    let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .map(|f| f.set_len(0))
        .ok();

    let verify = t.consent(&["verify"], None);
    let v = &json_lines(&verify)[0];
    let (mut child, base) = start_serve(&t, "after.log", &["--checkpoint-interval-ms", "50"], &[]);
    if v["verified"] == true {
        // The WAL held nothing signed: the log still extends the remembered
        // checkpoint, and what is signed next extends it too.
        if let Err(log) = started(&t, &mut child, &base, "after.log").await {
            panic!("serve refused a log that verifies: {log}");
        }
        let server = Proc {
            child,
            base: base.clone(),
            log: t.dir.path().join("after.log"),
        };
        append_n(&base, &key, "after", 20, &Arc::default()).await;
        let head = wait_health(&base, "ok", Duration::from_secs(5)).await["head"]
            .as_u64()
            .unwrap();
        wait_remembered(&t, head + 1).await;
        drop(server);
        let old = t.dir.path().join("old-checkpoint");
        std::fs::write(&old, &note).unwrap();
        let since = t.consent(&["verify", "--since", old.to_str().unwrap()], None);
        assert!(
            since.status.success(),
            "{}",
            String::from_utf8_lossy(&since.stdout)
        );
        eprintln!("faults: WAL of {wal_bytes} bytes truncated; nothing signed was in it (checkpoint {signed})");
    } else {
        // Usually `store_rolled_back`; a kill -9 in the middle of a WAL
        // checkpoint can also leave pages half written back, which is
        // damage, named as such. Either way nothing starts on it.
        assert!(
            v["seq"].is_u64() || v["reason"] == "store_rolled_back",
            "{v}"
        );
        let status = child.wait().unwrap();
        assert!(!status.success(), "serve started on a rolled-back store");
        let log = std::fs::read_to_string(t.dir.path().join("after.log")).unwrap();
        assert!(
            log.contains("store_rolled_back") || log.contains("entry "),
            "{log}"
        );
        eprintln!(
            "faults: WAL of {wal_bytes} bytes truncated; lost part of checkpoint {signed}: refused ({})",
            v["reason"]
        );
    }
}

/// Waits until a server started with `start_serve` answers `/healthz`;
/// its log if it exits first.
async fn started(
    t: &TempLedger,
    child: &mut std::process::Child,
    base: &str,
    log: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if health(base).await.0 != 0 {
            return Ok(());
        }
        if child.try_wait().unwrap().is_some() {
            let text = std::fs::read_to_string(t.dir.path().join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            return Err(tail.join("\n"));
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Overwrites `len` bytes of the file at `offset` with `byte`.
fn damage(path: &Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

/// Where entry `seq`'s hash (hex) sits in the database file.
fn offset_of(file: &[u8], hash: &str) -> u64 {
    file.windows(hash.len())
        .position(|w| w == hash.as_bytes())
        .expect("the entry's hash is in the file") as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_pages_are_located_and_everything_before_them_exports() {
    if common::on_postgres() {
        return;
    }
    for (what, page_header) in [("bytes in an entry", false), ("a page header", true)] {
        let t = TempLedger::with_reference_policy();
        let key = api_key(&t, "record");
        let acked: Acked = Arc::default();
        let mut server = serve(&t, "serve.log", &[]).await;
        append_n(&server.base, &key, "d", 400, &acked).await;
        assert!(server.terminate().success());
        let target = 300u64;
        let hash = acked.lock().unwrap()[&target].clone();
        let file = std::fs::read(t.db_path()).unwrap();
        let at = offset_of(&file, &hash);
        if page_header {
            let page = at / 4096 * 4096;
            damage(&t.db_path(), page, &[0xff; 12]);
        } else {
            damage(&t.db_path(), at + 10, &[0xc3, 0x28, 0xff, 0xfe]);
        }
        let verify = t.consent(&["verify"], None);
        assert!(!verify.status.success(), "{what}: verify passed");
        let v = &json_lines(&verify)[0];
        let seq = v["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no entry named: {v}"));
        assert!(
            seq <= target + 1 && seq + 40 > target,
            "{what}: named entry {seq}: {v}"
        );
        // export writes every entry before the first it cannot trust.
        let export = t.consent(&["export", "--out", "-"], None);
        let lines = String::from_utf8_lossy(&export.stdout).lines().count() as u64;
        if v["reason"] == "unreadable" {
            // The header and entries 0..seq, then a failure naming seq.
            assert_eq!(
                lines,
                seq + 1,
                "{what}: export wrote {lines} lines; damage at {seq}"
            );
            assert!(!export.status.success());
            let stderr = String::from_utf8_lossy(&export.stderr);
            assert!(stderr.contains(&format!("entry {seq}")), "{what}: {stderr}");
        } else {
            // Readable but untrustworthy: exported, and caught offline.
            assert!(
                lines > seq,
                "{what}: export wrote {lines} lines; damage at {seq}"
            );
        }
        // serve refuses, naming the entry.
        let (mut child, _) = start_serve(&t, "refused.log", &[], &[]);
        let status = child.wait().unwrap();
        assert!(!status.success(), "{what}: serve started on a damaged log");
        let log = std::fs::read_to_string(t.dir.path().join("refused.log")).unwrap();
        assert!(log.contains(&format!("entry {seq}")), "{what}: {log}");
        eprintln!("faults: {what} damaged at entry {target}: verify names entry {seq} ({}), export wrote {lines} lines", v["reason"]);
    }
}

#[tokio::test]
async fn the_store_refuses_gaps_and_forks_whatever_asks() {
    use consent_ledger::store::{CommitBatch, EntryRow};
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let store = ledger.store().clone();
    let head = store.head().await.unwrap().unwrap();
    let row = |seq: u64, prev: &str| EntryRow {
        seq,
        recorded_at: "2026-01-01T00:00:00.000000Z".into(),
        hash: [9; 32],
        subject: None,
        kind: "consent_granted",
        line: json!({"prev": prev, "seq": seq}).to_string(),
    };
    let good_prev = hex::encode(head.hash);
    for (seq, prev, what) in [
        (head.seq + 2, good_prev.as_str(), "a gap"),
        (head.seq + 1, "00", "a fork (wrong prev)"),
    ] {
        let batch = CommitBatch {
            entries: vec![row(seq, prev)],
            ..CommitBatch::default()
        };
        match store.commit(&batch).await {
            Err(consent_ledger::StoreError::ChainBroken(_)) => {}
            other => panic!("{what} was not refused by the store: {other:?}"),
        }
    }
    assert_eq!(store.head().await.unwrap().unwrap(), head);
}
