//! `consent witness`: the C2SP tlog-witness as a child process over loopback
//! HTTP, its state in a temporary directory, fed checkpoints built here
//! with the ledger's tlog library (a test log key, leaves, roots, proofs)
//! and pushed with `consent_consumers::witness_client`. Covers cosigning
//! and its verification with the key `consent witness vkey` prints, 409
//! for a stale size (also after a restart), and every refusal: 400, 403,
//! 404, 422, a rewritten history, and two racing pushes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consent_consumers::witness_client::{add_checkpoint, WitnessError};
use consent_ledger::tlog::merkle::{root_of, LeafSlice};
use consent_ledger::tlog::{
    consistency_proof, leaf_hash, open_checkpoint, Checkpoint, Hash, Note, NoteSigner,
    SignatureLine, VerifierKey,
};
use ed25519_dalek::SigningKey;

use crate::common::server::{free_port, Proc};

const ORIGIN: &str = "log.example/ledger";
const WITNESS_NAME: &str = "witness.example/w1";

/// A test log: a list of leaves, signed checkpoints of any prefix of it,
/// and consistency proofs between prefixes.
struct TestLog {
    signer: NoteSigner,
    leaves: Vec<Hash>,
}

impl TestLog {
    fn new(origin: &str, seed: u8, history: &str, size: u64) -> Self {
        Self {
            signer: NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32])),
            leaves: (0..size)
                .map(|i| leaf_hash(format!("{history} entry {i}").as_bytes()))
                .collect(),
        }
    }

    fn vkey(&self) -> String {
        self.signer.verifier().to_string()
    }

    fn root(&self, size: u64) -> Hash {
        root_of(&self.leaves[..size as usize])
    }

    /// The signed checkpoint of the first `size` leaves.
    fn checkpoint(&self, size: u64) -> String {
        Checkpoint {
            origin: self.signer.name.clone(),
            size,
            root: self.root(size),
        }
        .sign(std::slice::from_ref(&self.signer))
        .to_string()
    }

    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        let Ok(proof) = consistency_proof(&mut LeafSlice(&self.leaves), old, new);
        proof
    }
}

/// Starts `consent witness serve` on `dir/state`, logging to `dir/<log>`;
/// returns once it accepts connections.
async fn start(dir: &Path, log: &str, logs: &[String]) -> Proc {
    let port = free_port();
    let log = dir.join(log);
    let mut args = vec![
        "witness".to_owned(),
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--state".into(),
        state_dir(dir).display().to_string(),
        "--name".into(),
        WITNESS_NAME.into(),
    ];
    for l in logs {
        args.extend(["--log".to_owned(), l.clone()]);
    }
    let child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(dir)
        .args(&args)
        .env("CONSENT_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut proc = Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            proc.child.try_wait().unwrap().is_none(),
            "the witness exited before listening"
        );
        assert!(Instant::now() < deadline, "the witness did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proc
}

fn state_dir(dir: &Path) -> PathBuf {
    dir.join("state")
}

/// What `consent witness vkey` prints for the witness in `dir`.
fn vkey(dir: &Path) -> VerifierKey {
    let out = Command::new(env!("CARGO_BIN_EXE_consent"))
        .args(["witness", "vkey", "--name", WITNESS_NAME, "--state"])
        .arg(state_dir(dir))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    VerifierKey::parse(&text).unwrap()
}

async fn push(
    w: &Proc,
    old: u64,
    proof: &[Hash],
    note: &str,
) -> Result<Vec<SignatureLine>, WitnessError> {
    add_checkpoint(&reqwest::Client::new(), &w.base, old, proof, note).await
}

/// POSTs a raw body; status, Content-Type and body.
async fn post_raw(w: &Proc, body: String) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/add-checkpoint", w.base))
        .body(body)
        .send()
        .await
        .unwrap();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), ctype, r.text().await.unwrap())
}

/// Checks the cosignatures as a verifier would: added to the checkpoint,
/// every one by `witness` verifies, and the checkpoint opens with the log
/// key and one required witness.
fn assert_cosigned(log: &TestLog, note: &str, lines: &[SignatureLine], witness: &VerifierKey) {
    assert_eq!(lines.len(), 1, "{lines:?}");
    let mut cosigned = Note::parse(note).unwrap();
    for l in lines {
        cosigned.add(l.clone());
    }
    assert_eq!(
        cosigned.verify(std::slice::from_ref(witness)).unwrap(),
        vec![witness]
    );
    let opened = open_checkpoint(
        &cosigned.to_string(),
        &[log.signer.verifier()],
        std::slice::from_ref(witness),
        1,
    )
    .unwrap();
    assert_eq!(opened.witnesses, vec![witness.clone()]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = lines[0]
        .cosigned_at()
        .expect("a cosignature carries a time");
    assert!(at.abs_diff(now) < 300, "cosigned at {at}, now {now}");
}

fn refused(r: Result<Vec<SignatureLine>, WitnessError>) -> u16 {
    match r {
        Err(WitnessError::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn witness_cosigns_consistent_checkpoints_and_remembers_them_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(ORIGIN, 11, "honest", 40);
    let key = vkey(dir.path());
    assert_eq!(key.name, WITNESS_NAME);
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(state_dir(dir.path())), 0o700);
    assert_eq!(mode(state_dir(dir.path()).join("witness.key")), 0o600);

    let mut w = start(dir.path(), "witness-1.log", &[log.vkey()]).await;
    // A second vkey call reads the same key, even while the witness runs.
    assert_eq!(vkey(dir.path()), key);

    let first = log.checkpoint(5);
    let lines = push(&w, 0, &[], &first).await.unwrap();
    assert_cosigned(&log, &first, &lines, &key);

    let second = log.checkpoint(12);
    let lines = push(&w, 5, &log.proof(5, 12), &second).await.unwrap();
    assert_cosigned(&log, &second, &lines, &key);

    // A log that thinks the witness is still at 5.
    let third = log.checkpoint(15);
    assert_eq!(
        push(&w, 5, &log.proof(5, 15), &third).await,
        Err(WitnessError::Conflict { size: 12 })
    );
    let (status, ctype, body) = post_raw(&w, format!("old 0\n\n{third}")).await;
    assert_eq!(
        (status, ctype.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "12\n")
    );

    // SIGKILL: nothing gets a chance to flush; the size was durable before
    // the 200 for it was sent.
    w.kill_9();
    let w = start(dir.path(), "witness-2.log", &[log.vkey()]).await;
    assert_eq!(
        push(&w, 5, &log.proof(5, 15), &third).await,
        Err(WitnessError::Conflict { size: 12 })
    );
    let lines = push(&w, 12, &log.proof(12, 15), &third).await.unwrap();
    assert_cosigned(&log, &third, &lines, &key);
    // The same checkpoint again is cosigned again (nothing to advance).
    let lines = push(&w, 15, &[], &third).await.unwrap();
    assert_cosigned(&log, &third, &lines, &key);
}

#[tokio::test]
async fn witness_refuses_unsigned_unknown_malformed_and_inconsistent_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(ORIGIN, 11, "honest", 40);
    let w = start(dir.path(), "witness.log", &[log.vkey()]).await;
    let key = vkey(dir.path());
    push(&w, 0, &[], &log.checkpoint(8)).await.unwrap();
    let next = log.checkpoint(12);

    // 422: a proof that does not lead from the held root to the new one.
    let mut bad_proof = log.proof(8, 12);
    bad_proof[0][0] ^= 1;
    assert_eq!(refused(push(&w, 8, &bad_proof, &next).await), 422);
    // 422: the right hashes, one too few.
    assert_eq!(
        refused(push(&w, 8, &log.proof(8, 12)[1..], &next).await),
        422
    );

    // 403: the log's origin, signed by a key the witness does not know.
    let impostor = TestLog::new(ORIGIN, 99, "honest", 40);
    assert_eq!(
        refused(push(&w, 8, &log.proof(8, 12), &impostor.checkpoint(12)).await),
        403
    );
    // 403: the known key's signature, altered.
    let mut forged = Note::parse(&next).unwrap();
    forged.signatures[0].signature[0] ^= 1;
    assert_eq!(
        refused(push(&w, 8, &log.proof(8, 12), &forged.to_string()).await),
        403
    );

    // 404: a log this witness does not follow.
    let other = TestLog::new("other.example/log", 12, "other", 4);
    assert_eq!(refused(push(&w, 0, &[], &other.checkpoint(4)).await), 404);

    // 400: old beyond the checkpoint's size, and bodies that are not the
    // layout at all (problem+json).
    assert_eq!(refused(push(&w, 13, &[], &next).await), 400);
    for body in [
        String::new(),
        "old 8\n".to_owned(),
        format!("old 08\n\n{next}"),
        format!("old 8\nnot-a-hash\n\n{next}"),
        format!("old 8\n\n{}", next.replace('\u{2014}', "-")),
    ] {
        let (status, ctype, _) = post_raw(&w, body.clone()).await;
        assert_eq!(
            (status, ctype.as_str()),
            (400, "application/problem+json"),
            "{body:?}"
        );
    }

    // A rewritten history: the same log key signs a tree whose leaf 3
    // differs. Its proof from 8 is well formed but cannot reach the root
    // the witness holds for 8.
    let mut rewritten = TestLog::new(ORIGIN, 11, "honest", 40);
    rewritten.leaves[3] = leaf_hash(b"a quietly edited entry");
    let (status, ctype, body) = post_raw(
        &w,
        format!(
            "old 8\n{}\n{}",
            b64_lines(&rewritten.proof(8, 12)),
            rewritten.checkpoint(12)
        ),
    )
    .await;
    assert_eq!(
        (status, ctype.as_str()),
        (422, "application/problem+json"),
        "{body}"
    );
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "inconsistent_checkpoint");
    // At the held size itself, another root is a 409 (C2SP tlog-witness),
    // which the client reports as a refusal, not a size to retry from.
    assert_eq!(
        push(&w, 8, &[], &rewritten.checkpoint(8)).await,
        Err(WitnessError::Refused {
            status: 409,
            detail: "the witness cosigned a different root at size 8".into()
        })
    );

    // Refused, log-signed checkpoints are kept as evidence of a split
    // view, as received (durable before the refusal was answered).
    let refused: Vec<String> = std::fs::read_dir(state_dir(dir.path()).join("refused"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // (The bad proofs pushed above with honest checkpoints are kept too:
    // the witness cannot tell a bad proof from a split view.)
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(refused
        .iter()
        .any(|r| r.starts_with("old 8\n") && r.ends_with(&rewritten.checkpoint(12))));
    assert!(refused
        .iter()
        .any(|r| r.ends_with(&rewritten.checkpoint(8))));

    // None of that moved the witness: it is still at 8 with the honest
    // root, and the honest log goes on.
    assert_eq!(
        push(&w, 0, &[], &next).await,
        Err(WitnessError::Conflict { size: 8 })
    );
    let lines = push(&w, 8, &log.proof(8, 12), &next).await.unwrap();
    assert_cosigned(&log, &next, &lines, &key);
}

#[tokio::test]
async fn witness_lets_one_of_two_racing_pushes_advance() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(ORIGIN, 11, "honest", 200);
    let w = start(dir.path(), "witness.log", &[log.vkey()]).await;
    push(&w, 0, &[], &log.checkpoint(4)).await.unwrap();
    let mut held = 4;
    for _ in 0..20 {
        let (a, b) = (held + 3, held + 5);
        let (proof_a, note_a) = (log.proof(held, a), log.checkpoint(a));
        let (proof_b, note_b) = (log.proof(held, b), log.checkpoint(b));
        let (ra, rb) = tokio::join!(
            push(&w, held, &proof_a, &note_a),
            push(&w, held, &proof_b, &note_b),
        );
        held = match (ra, rb) {
            (Ok(_), Err(WitnessError::Conflict { size })) if size == a => a,
            (Err(WitnessError::Conflict { size }), Ok(_)) if size == b => b,
            other => panic!("both pushes from {held} were answered {other:?}"),
        };
    }
    assert_eq!(
        push(&w, 0, &[], &log.checkpoint(held)).await,
        Err(WitnessError::Conflict { size: held })
    );
}

/// Proof hashes as base64 lines, written by the library's tlog-proof text
/// (the test has no base64 dependency of its own).
fn b64_lines(proof: &[Hash]) -> String {
    let text = consent_ledger::tlog::TlogProof {
        extra: None,
        index: 0,
        proof: proof.to_vec(),
        checkpoint: String::new(),
    }
    .to_string();
    // After the header and index lines: one hash per line, then a blank one.
    text.lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The ledger pushes its checkpoints to a witness process, the cosignature
/// lands in the published checkpoint and in receipts, and an offline check
/// can require it (k of n).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_collects_cosignatures_and_receipts_can_require_witnesses() {
    let t = crate::common::TempLedger::with_reference_policy();
    let log_vkey = {
        let out = t.consent(&["key", "show", "--vkey"], None);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let w = start(t.dir.path(), "witness.log", std::slice::from_ref(&log_vkey)).await;
    let witness_key = vkey(t.dir.path());
    let target = format!("{witness_key}={}", w.base);
    let srv = crate::common::server::serve(
        &t,
        "serve.log",
        &["--checkpoint-interval-ms", "50", "--witness", &target],
    )
    .await;
    let key = crate::common::json_lines(
        &t.consent(&["api-key", "create", "--scopes", "record,audit"], None),
    )[0]["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, appended) = crate::common::server::post(
        &srv.base,
        &key,
        "/v1/events",
        &serde_json::json!({"type": "consent_granted", "subject": "erin@example.com", "purpose": "marketing",
                "data_categories": ["email-address"], "policy_version": "2023-11-29", "channel": "web-signup-form"}),
    )
    .await;
    assert_eq!(status, 201, "{appended}");
    let seq = appended["seq"].as_u64().unwrap();
    // Wait for a receipt whose checkpoint carries the witness's cosignature.
    let deadline = Instant::now() + Duration::from_secs(20);
    let receipt = loop {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/entries/{seq}/receipt?format=json", srv.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        if text.contains(&format!("\u{2014} {WITNESS_NAME} ")) {
            break text;
        }
        assert!(Instant::now() < deadline, "no cosigned receipt: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The cosignature, checked from the spec with nothing but SHA-256 and
    // Ed25519 (not the project's note code): key id, time, signed message.
    {
        use base64::Engine as _;
        use sha2::Digest as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let r: serde_json::Value = serde_json::from_str(&receipt).unwrap();
        let proof = r["tlog_proof"].as_str().unwrap();
        let note = &proof[proof.find("\n\n").unwrap() + 2..];
        let text = &note[..note.rfind("\n\n").unwrap() + 1];
        let line = note
            .lines()
            .find(|l| l.starts_with(&format!("\u{2014} {WITNESS_NAME} ")))
            .unwrap();
        let raw = b64.decode(line.rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(raw.len(), 4 + 8 + 64);
        let key_b64 = witness_key.to_string();
        let key_raw = b64.decode(key_b64.splitn(3, '+').nth(2).unwrap()).unwrap();
        assert_eq!(key_raw[0], 0x04);
        let mut id = sha2::Sha256::new();
        id.update(WITNESS_NAME.as_bytes());
        id.update([0x0a, 0x04]);
        id.update(&key_raw[1..]);
        assert_eq!(&raw[..4], &id.finalize()[..4]);
        let time = u64::from_be_bytes(raw[4..12].try_into().unwrap());
        let message = format!("cosignature/v1\ntime {time}\n{text}");
        let public =
            ed25519_dalek::VerifyingKey::from_bytes(&key_raw[1..].try_into().unwrap()).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&raw[12..].try_into().unwrap());
        public
            .verify_strict(message.as_bytes(), &sig)
            .expect("a C2SP cosignature/v1");
    }
    // Metrics show the checkpoint and its signatures (log key + witness).
    let metrics = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("consent_checkpoint_signatures 2"),
        "{metrics}"
    );
    assert!(metrics.contains("consent_checkpoint_size "), "{metrics}");
    let path = t.dir.path().join("cosigned-receipt.json");
    std::fs::write(&path, &receipt).unwrap();
    let check = |min: &str, witnesses: &[&str]| {
        let mut args = vec![
            "receipt",
            "verify",
            path.to_str().unwrap(),
            "--vkey",
            &log_vkey,
            "--min-witnesses",
            min,
        ];
        for w in witnesses {
            args.extend(["--witness", w]);
        }
        t.consent(&args, None)
    };
    let wk = witness_key.to_string();
    let out = check("1", &[&wk]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        crate::common::json_lines(&out)[0]["witnesses"][0],
        WITNESS_NAME
    );
    // Two required, one trusted witness cosigned: refused.
    let other = NoteSigner::new("witness.example/w2", SigningKey::from_bytes(&[42; 32]))
        .cosigner()
        .to_string();
    let out = check("2", &[&wk, &other]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The log's own key given as a witness key does not count as a witness.
    let out = check("1", &[&log_vkey]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    drop(srv);
    drop(w);
}
