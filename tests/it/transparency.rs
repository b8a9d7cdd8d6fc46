//! The log as a transparency log, checked with tools we did not write:
//! signed checkpoints (signed_note, a port of Go's sumdb/note), tiles and
//! proofs (tlog_tiles, a port of Go's sumdb/tlog) read over real HTTP;
//! receipts verified offline by the CLI; a history rewritten and re-signed
//! with the ledger's own key caught by `verify --since`; erasure leaving
//! every proof valid.

use std::time::{Duration, Instant};

use base64::Engine as _;
use consent_ledger::format::{body_json, entry_hash, signed_line, EntryLine};
use consent_ledger::tlog::{leaf_hash, TreeBuilder};
use consent_ledger::{KeyStore, Store};
use serde_json::{json, Value};
use tlog_tiles::{HashReader as _, TileReader};

use crate::common::server::{post, serve};
use crate::common::{json_lines, populated, TempLedger};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn get_text(url: &str, key: Option<&str>) -> (u16, String, reqwest::header::HeaderMap) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap(), headers)
}

/// Polls the public checkpoint until it covers `size` entries.
async fn checkpoint_covering(base: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text, _) = get_text(&format!("{base}/log/checkpoint"), None).await;
        if status == 200 {
            let n: u64 = text.lines().nth(1).unwrap().parse().unwrap();
            if n >= size {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "no checkpoint covering {size}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tlog-tiles client's tile reader over our HTTP endpoint (the path is
/// the client's own spelling, less the Go-only height segment).
struct HttpTiles {
    base: String,
    rt: tokio::runtime::Handle,
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(
        &self,
        tiles: &[tlog_tiles::Tile],
    ) -> Result<Vec<Vec<u8>>, tlog_tiles::tlog::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let path = t.path();
                let path = path.strip_prefix("tile/8/").unwrap();
                let url = format!("{}/log/tile/{path}", self.base);
                self.rt.block_on(async {
                    let r = reqwest::get(&url).await.unwrap();
                    assert_eq!(r.status().as_u16(), 200, "{url}");
                    r.bytes().await.unwrap().to_vec()
                })
            })
            .collect())
    }
    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

/// A proof from our HTTP API, as tlog_tiles hashes.
fn proof_over_http(
    rt: &tokio::runtime::Handle,
    url: &str,
    key: &str,
) -> Vec<tlog_tiles::tlog::Hash> {
    let answer: Value = rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{url}");
        r.json().await.unwrap()
    });
    answer["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            tlog_tiles::tlog::Hash(B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        })
        .collect()
}

fn vkey(t: &TempLedger) -> String {
    let out = t.consent(&["key", "show", "--vkey"], None);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn verify_receipt_cli(t: &TempLedger, receipt: &str, extra: &[&str], vkey: &str) -> (bool, Value) {
    let path = t.dir.path().join(format!("receipt-{}.txt", rand_name()));
    std::fs::write(&path, receipt).unwrap();
    let mut args = vec!["receipt", "verify", path.to_str().unwrap(), "--vkey", vkey];
    args.extend_from_slice(extra);
    let out = t.consent(&args, None);
    (out.status.success(), json_lines(&out)[0].clone())
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_tiles_proofs_and_receipts_verify_with_tools_we_did_not_write() {
    let t = TempLedger::new();
    let entries = populated(&t, 200).await; // 402 entries: one full tile and a partial one
    let srv = serve(
        &t,
        "serve.log",
        &["--checkpoint-interval-ms", "50", "--public-log"],
    )
    .await;
    let base = srv.base.clone();
    let audit = json_lines(&t.consent(
        &["api-key", "create", "--scopes", "audit,record,decide"],
        None,
    ))[0]["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let vkey = vkey(&t);

    // The checkpoint verifies with signed_note, and parses with tlog_tiles.
    let cp_text = checkpoint_covering(&base, entries).await;
    let note = signed_note::Note::from_bytes(cp_text.as_bytes()).unwrap();
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let known = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    note.verify(&known)
        .expect("our checkpoint verifies with signed_note");
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    let size = cp.size();
    assert!(size >= entries);

    // A tlog-tiles client reads and authenticates our tiles against the
    // checkpoint, proves records with them, and the entry bundles hold the
    // leaves.
    let tiles = HttpTiles {
        base: base.clone(),
        rt: tokio::runtime::Handle::current(),
    };
    let root = *cp.hash();
    let resp = reqwest::get(format!("{base}/log/tile/entries/000"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let bundle = resp.bytes().await.unwrap().to_vec();
    let mut lines = Vec::new();
    let mut at = 0;
    while at < bundle.len() {
        let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
        lines.push(bundle[at + 2..at + 2 + len].to_vec());
        at += 2 + len;
    }
    assert_eq!(lines.len(), 256);
    let base2 = base.clone();
    let audit2 = audit.clone();
    tokio::task::spawn_blocking(move || {
        let reader = tlog_tiles::TileHashReader::new(size, root, &tiles);
        for i in [0u64, 1, 5, 200, 255] {
            let proof = tlog_tiles::tlog::prove_record(size, i, &reader).unwrap();
            let leaf = tlog_tiles::tlog::record_hash(&lines[i as usize]);
            tlog_tiles::tlog::check_record(&proof, size, root, i, leaf).unwrap();
            // Our own inclusion proof over HTTP is the same and checks too.
            let ours = proof_over_http(
                &tiles.rt,
                &format!("{base2}/v1/proofs/inclusion?seq={i}&size={size}"),
                &audit2,
            );
            assert_eq!(ours, proof);
            tlog_tiles::tlog::check_record(&ours, size, root, i, leaf).unwrap();
        }
        // Consistency proofs of ours check with tlog_tiles.
        for old in [1u64, 7, 256, size - 1] {
            let old_root = tlog_tiles::tlog::tree_hash(old, &reader).unwrap();
            let proof = proof_over_http(
                &tiles.rt,
                &format!("{base2}/v1/proofs/consistency?old={old}&new={size}"),
                &audit2,
            );
            tlog_tiles::tlog::check_tree(&proof, size, root, old, old_root).unwrap();
        }
        let _ = reader.read_hashes(&[0]).unwrap();
    })
    .await
    .unwrap();

    // Without --public-log the log needs the audit scope: proofs do.
    let (status, _, _) = get_text(&format!("{base}/v1/proofs/inclusion?seq=0"), None).await;
    assert_eq!(status, 401);

    // A new event's append links to its receipt; the receipt verifies
    // offline, in both forms; a receipt edited afterwards does not.
    let (status, appended) = post(
        &base,
        &audit,
        "/v1/events",
        &json!({"type": "consent_granted", "subject": "dana@example.com", "purpose": "marketing",
                "data_categories": ["email-address"], "policy_version": "2023-11-29", "channel": "web-signup-form"}),
    )
    .await;
    assert_eq!(status, 201, "{appended}");
    let link = appended["receipt"].as_str().unwrap().to_owned();
    let (status, proof_text, _) = get_text(&format!("{base}{link}"), Some(&audit)).await;
    assert_eq!(status, 200, "{proof_text}");
    assert!(proof_text.starts_with("c2sp.org/tlog-proof@v1\nindex "));
    let seq = appended["seq"].as_u64().unwrap();
    let line = t
        .store()
        .await
        .lines_at(&[seq])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .line;
    let entry_path = t.dir.path().join("entry.jsonl");
    std::fs::write(&entry_path, &line).unwrap();
    let (ok, out) = verify_receipt_cli(
        &t,
        &proof_text,
        &["--entry", entry_path.to_str().unwrap()],
        &vkey,
    );
    assert!(ok, "{out}");
    let (status, json_receipt, _) =
        get_text(&format!("{base}{link}?format=json"), Some(&audit)).await;
    assert_eq!(status, 200);
    let receipt: Value = serde_json::from_str(&json_receipt).unwrap();
    // The published format (consent-tlog, schemas/consent-receipt.schema.json)
    // reads it whole and writes it back byte for byte.
    let typed: consent_ledger::tlog::ConsentReceipt = serde_json::from_str(&json_receipt).unwrap();
    assert_eq!(serde_json::to_string(&typed).unwrap(), json_receipt);
    // Members in the order of a JSON object built from a map, as before
    // the format was typed.
    assert_eq!(receipt.to_string(), json_receipt);
    assert_eq!(typed.schema, "consent-ledger/receipt/v1");
    assert_eq!(receipt["pii_principal_id"], appended["subject"]);
    assert_eq!(receipt["privacy_notice"]["version"], "2023-11-29");
    assert_eq!(receipt["purposes"][0]["lawful_basis"], "dpv:Consent");
    assert!(
        !json_receipt.contains("dana@example.com"),
        "no personal data in a receipt"
    );
    let (ok, out) = verify_receipt_cli(&t, &json_receipt, &[], &vkey);
    assert!(ok, "{out}");
    assert_eq!(out["seq"], seq);
    let mut forged = receipt.clone();
    forged["pii_principal_id"] = json!("0".repeat(64));
    let (ok, _) = verify_receipt_cli(&t, &forged.to_string(), &[], &vkey);
    assert!(!ok, "an edited receipt must not verify");
    let (ok, _) = verify_receipt_cli(
        &t,
        &json_receipt.replace("\\\"web-signup-form\\\"", "\\\"phone\\\""),
        &[],
        &vkey,
    );
    assert!(!ok, "an edited entry must not verify");
    for (field, value) in [
        ("collection_method", json!("phone")),
        ("policy_version", json!("2099-01-01")),
    ] {
        let mut edited = receipt.clone();
        edited[field] = value;
        let (ok, out) = verify_receipt_cli(&t, &edited.to_string(), &[], &vkey);
        assert!(!ok, "a receipt with {field} edited must not verify: {out}");
    }
    let mut edited = receipt.clone();
    edited["purposes"][0]["pii_types"] = json!(["email-address", "phone-number"]);
    let (ok, _) = verify_receipt_cli(&t, &edited.to_string(), &[], &vkey);
    assert!(
        !ok,
        "a receipt claiming more data categories must not verify"
    );
    // The JSON receipt carries the entry: the audit scope; the tlog-proof
    // (hashes only) is open to a recording service.
    let record_only = json_lines(&t.consent(&["api-key", "create", "--scopes", "record"], None))[0]
        ["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get_text(&format!("{base}{link}"), Some(&record_only))
            .await
            .0,
        200
    );
    assert_eq!(
        get_text(&format!("{base}{link}?format=json"), Some(&record_only))
            .await
            .0,
        403
    );

    // A decision with a receipt: signed, with a checkpoint covering its
    // evidence; verifies offline, and not once edited.
    let (status, decision) = post(
        &base,
        &audit,
        "/v1/decisions",
        &json!({"subject": "dana@example.com", "purpose": "marketing", "data_category": "email-address",
                "token": seq.to_string(), "receipt": true}),
    )
    .await;
    assert_eq!(status, 200, "{decision}");
    assert_eq!(decision["allowed"], true);
    let signed = decision["receipt"].to_string();
    let typed: consent_ledger::tlog::DecisionReceipt = serde_json::from_str(&signed).unwrap();
    assert_eq!(
        serde_json::to_string(&typed).unwrap(),
        signed,
        "the typed format, byte for byte"
    );
    let (ok, out) = verify_receipt_cli(&t, &signed, &[], &vkey);
    assert!(ok, "{out}");
    assert_eq!(out["decision"]["allowed"], true);
    let (ok, _) = verify_receipt_cli(
        &t,
        &signed.replace("\"allowed\":true", "\"allowed\":false"),
        &[],
        &vkey,
    );
    assert!(!ok, "an edited decision receipt must not verify");

    // Erasure changes no leaf: the checkpoint saved before it is extended,
    // and the receipt issued before it still verifies.
    let cp_path = t.dir.path().join("before-erasure.checkpoint");
    std::fs::write(&cp_path, checkpoint_covering(&base, seq + 1).await).unwrap();
    let (status, _) = post(
        &base,
        &audit,
        "/v1/events",
        &json!({"type": "erasure_requested", "subject": "dana@example.com", "channel": "privacy-mailbox"}),
    )
    .await;
    assert_eq!(status, 201);
    let after = checkpoint_covering(&base, seq + 2).await;
    drop(srv);
    let out = t.consent(
        &[
            "verify",
            "--since",
            cp_path.to_str().unwrap(),
            "--vkey",
            &vkey,
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(json_lines(&out)[0]["extends"]["size"].as_u64().unwrap() > seq);
    let (ok, out) = verify_receipt_cli(&t, &json_receipt, &[], &vkey);
    assert!(
        ok,
        "a receipt stays valid after the subject's erasure: {out}"
    );
    assert!(after.lines().nth(1).unwrap().parse::<u64>().unwrap() >= seq + 2);
}

/// Rewrites the log from entry `from` on, re-signing every entry with the
/// ledger's own key (what an insider holding the key could do), and
/// rebuilds the tiles to match: the chain alone cannot tell.
async fn rewrite_history(t: &TempLedger, from: u64) {
    let store = t.store().await;
    let rows = store.read_lines(0, 100_000).await.unwrap();
    let keys = KeyStore::open(t.keys()).unwrap();
    let mut prev = EntryLine::parse(&rows[from as usize - 1].line)
        .unwrap()
        .hash;
    let mut rewritten = Vec::new();
    for row in &rows[from as usize..] {
        let mut v: Value = serde_json::from_str(&row.line).unwrap();
        if row.seq == from {
            v["event"]["channel"] = json!("forged-after-the-fact");
        }
        let payload = serde_json_canonicalizer::to_string(&v["event"]).unwrap();
        let entry = EntryLine::parse(&row.line).unwrap();
        let body = body_json(
            row.seq,
            entry.recorded_at,
            entry.recorded_by.as_deref(),
            &prev,
            v["type"].as_str().unwrap(),
            &payload,
            &entry.key_id,
        );
        let hash = entry_hash(body.as_bytes());
        let key = keys.load(&entry.key_id).unwrap();
        let sig = ed25519_dalek::Signer::sign(&key.signing, &hash).to_bytes();
        prev = hex::encode(hash);
        rewritten.push((row.seq, hash, signed_line(&body, &hash, &sig)));
    }
    let mut tree = TreeBuilder::default();
    for row in &rows[..from as usize] {
        tree.push(leaf_hash(row.line.as_bytes()));
    }
    for (_, _, line) in &rewritten {
        tree.push(leaf_hash(line.as_bytes()));
    }
    let mut statements = vec![format!("DELETE FROM entries WHERE seq >= {from}")];
    let tiles_off = if crate::common::on_postgres() {
        "ALTER TABLE tiles DISABLE TRIGGER USER"
    } else {
        "DROP TRIGGER tiles_no_delete"
    };
    statements.push(tiles_off.into());
    statements.push("DELETE FROM tiles".into());
    t.tamper(&statements).await;
    let mut conn = t.sql().await;
    for (seq, hash, line) in &rewritten {
        let kind = EntryLine::parse(line).unwrap().event.kind();
        sqlx::query("INSERT INTO entries (seq, recorded_at, hash, subject, kind, line) VALUES ($1, $2, $3, NULL, $4, $5)")
            .bind(*seq as i64)
            .bind(EntryLine::parse(line).unwrap().recorded_at.to_string())
            .bind(&hash[..])
            .bind(kind)
            .bind(line.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    store.put_tiles(&tree.take_writes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_rewritten_and_resigned_with_the_ledger_key_fails_verify_since() {
    let t = TempLedger::new();
    populated(&t, 20).await;
    let out = t.consent(&["checkpoint"], None);
    assert!(out.status.success(), "{out:?}");
    let cp = t.dir.path().join("visit-1.checkpoint");
    std::fs::write(&cp, &out.stdout).unwrap();
    let vkey = vkey(&t);
    let since = ["verify", "--since", cp.to_str().unwrap(), "--vkey", &vkey];
    // A log name that cannot name a note key is refused at creation.
    let other = TempLedger::new();
    let out = other.consent(
        &["--ledger-name", "Acme consent ledger", "key", "show"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a valid log name"),
        "{out:?}"
    );
    assert!(t.consent(&since, None).status.success());

    rewrite_history(&t, 10).await;
    // The chain is whole again: signatures, links, stored hashes, tiles.
    // An auditor without the ledger's key directory sees nothing wrong in
    // an export of it...
    let export = t.dir.path().join("rewritten.jsonl");
    let out = t.consent(&["export", "--out", export.to_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    let out = t.consent(&["verify", "--file", export.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "the re-signed chain verifies on its own: {out:?}"
    );
    // ...while the ledger's own key directory remembers what it signed.
    let out = t.consent(&["verify"], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        json_lines(&out)[0]["reason"],
        "store_rolled_back",
        "{out:?}"
    );
    // Against the checkpoint saved on the first visit it does not.
    let out = t.consent(&since, None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = &json_lines(&out)[0];
    assert_eq!(report["reason"], "not_extending_checkpoint", "{report}");
    assert!(
        report["detail"].as_str().unwrap().contains("rewritten"),
        "{report}"
    );
}

/// After a key rotation the new key signs checkpoints at once and the
/// retired key co-signs during the overlap: a verifier pinned to either
/// key accepts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_checkpoints_carry_both_signatures() {
    let t = TempLedger::new();
    populated(&t, 3).await;
    let old = vkey(&t);
    assert!(t.consent(&["key", "rotate"], None).status.success());
    let new = vkey(&t);
    assert_ne!(old, new);
    let out = t.consent(&["checkpoint"], None);
    assert!(out.status.success(), "{out:?}");
    let note = String::from_utf8(out.stdout).unwrap();
    assert_eq!(note.matches('\u{2014}').count(), 2, "{note}");
    let cp = t.dir.path().join("rotated.checkpoint");
    std::fs::write(&cp, &note).unwrap();
    for key in [&old, &new] {
        let out = t.consent(
            &["verify", "--since", cp.to_str().unwrap(), "--vkey", key],
            None,
        );
        assert!(out.status.success(), "pinned to {key}: {out:?}");
        let receipt = t.consent(&["receipt", "4", "--format", "json"], None);
        assert!(receipt.status.success(), "{receipt:?}");
        let (ok, out) =
            verify_receipt_cli(&t, &String::from_utf8(receipt.stdout).unwrap(), &[], key);
        assert!(ok, "{out}");
    }
    // A checkpoint signed only by an unrelated key is not trusted.
    let stranger = consent_ledger::tlog::NoteSigner::new(
        old.split('+').next().unwrap(),
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
    )
    .verifier()
    .to_string();
    let out = t.consent(
        &[
            "verify",
            "--since",
            cp.to_str().unwrap(),
            "--vkey",
            &stranger,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_lines(&out)[0]["reason"], "checkpoint_not_trusted");
}

/// Stored tiles that disagree with the entries are caught by `verify`; a
/// log without tiles (written before the tree existed) gets them when the
/// ledger opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_altered_tiles_are_caught_and_missing_ones_rebuilt() {
    let t = TempLedger::new();
    populated(&t, 150).await; // 302 entries: a full level-0 tile and a partial one
    assert!(t.consent(&["verify"], None).status.success());
    let off = if crate::common::on_postgres() {
        "ALTER TABLE tiles DISABLE TRIGGER USER"
    } else {
        "DROP TRIGGER tiles_only_grow"
    };
    // One leaf hash of the first tile overwritten.
    let blob = t.blob(&[7u8; 32]);
    let patch = if crate::common::on_postgres() {
        format!("UPDATE tiles SET hashes = overlay(hashes placing {blob} from 33 for 32) WHERE level = 0 AND idx = 0")
    } else {
        format!("UPDATE tiles SET hashes = CAST(substr(hashes, 1, 32) || {blob} || substr(hashes, 65) AS BLOB) WHERE level = 0 AND idx = 0")
    };
    t.tamper(&[off.to_owned(), patch]).await;
    let out = t.consent(&["verify"], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_lines(&out)[0]["reason"], "tiles_mismatch");

    let off = if crate::common::on_postgres() {
        "SELECT 1"
    } else {
        "DROP TRIGGER tiles_no_delete"
    };
    t.tamper(&[off.to_owned(), "DELETE FROM tiles".to_owned()])
        .await;
    assert_eq!(t.store().await.tree_size().await.unwrap(), 0);
    // Opening the ledger builds them again; the log verifies.
    let out = t.consent(&["checkpoint"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(t.store().await.tree_size().await.unwrap(), 302);
    let out = t.consent(&["verify"], None);
    assert!(out.status.success(), "{out:?}");
}

/// Bad input to the transparency surfaces gets a specific problem (or CLI
/// error) and changes nothing; an entry too large for a leaf is refused
/// with nothing appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proof_tile_and_receipt_requests_get_specific_errors_and_change_nothing() {
    let t = TempLedger::new();
    populated(&t, 5).await; // 12 entries
    let srv = serve(&t, "serve.log", &["--checkpoint-interval-ms", "50"]).await;
    let base = srv.base.clone();
    let key = json_lines(&t.consent(
        &["api-key", "create", "--scopes", "audit,record,policy"],
        None,
    ))[0]["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    checkpoint_covering_with(&base, &key, 12).await;
    let head_before = t.store().await.head().await.unwrap().unwrap().seq;

    for (path, status, code) in [
        (
            "/v1/proofs/inclusion?seq=5&size=3",
            422,
            "invalid_tree_size",
        ),
        (
            "/v1/proofs/inclusion?seq=1&size=999",
            422,
            "invalid_tree_size",
        ),
        ("/v1/proofs/inclusion?seq=x", 400, "invalid_query"),
        ("/v1/proofs/inclusion?seq=1&bogus=2", 400, "invalid_query"),
        (
            "/v1/proofs/consistency?old=9&new=3",
            422,
            "invalid_tree_size",
        ),
        (
            "/v1/proofs/consistency?old=1&new=999999",
            422,
            "invalid_tree_size",
        ),
        ("/v1/entries/abc/receipt", 400, "invalid_path"),
        ("/v1/entries/99999/receipt", 404, "not_found"),
        ("/v1/entries/1/receipt?format=xml", 400, "invalid_format"),
        ("/log/tile/0/1234067", 404, "not_found"),
        ("/log/tile/0/x000/001", 404, "not_found"),
        ("/log/tile/0/000.p/0", 404, "not_found"),
        ("/log/tile/0/000.p/200", 404, "not_found"),
        (
            "/log/tile/entries/x072/x057/x594/x037/x927/x936",
            404,
            "not_found",
        ),
        ("/log/tile/entries/001", 404, "not_found"),
    ] {
        let (got, body, headers) = get_text(&format!("{base}{path}"), Some(&key)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}"
        );
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], code, "{path}: {body}");
    }

    // An entry that would exceed 65,535 bytes (a leaf and a tile-bundle
    // record) is refused, with nothing appended.
    let mut policy: Value =
        serde_json::from_str(include_str!("../../examples/reference-policy.json")).unwrap();
    policy["version"] = json!("2099-01-01");
    policy["effective_at"] = json!("2099-01-01T00:00:00.000000Z");
    policy["purposes"][0]["description"] = json!("x".repeat(70_000));
    let (status, problem) = post(&base, &key, "/v1/policies", &policy).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["code"], "entry_too_large");
    assert_eq!(
        t.store().await.head().await.unwrap().unwrap().seq,
        head_before
    );
    drop(srv);
    assert!(t.consent(&["verify"], None).status.success());

    // The CLI: a file that is not a checkpoint, a receipt that is not one,
    // a proof beyond the tree.
    let junk = t.dir.path().join("junk.txt");
    std::fs::write(&junk, "not a checkpoint\n").unwrap();
    let out = t.consent(&["verify", "--since", junk.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a signed checkpoint"),
        "{out:?}"
    );
    let vkey = vkey(&t);
    let (ok, out) = verify_receipt_cli(&t, "not a receipt\n", &[], &vkey);
    assert!(!ok);
    assert!(
        out["detail"].as_str().unwrap().contains("malformed"),
        "{out}"
    );
    let out = t.consent(&["proof", "inclusion", "99", "--size", "12"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not in a tree of 12"),
        "{out:?}"
    );
    assert!(t.consent(&["verify"], None).status.success());
}

/// Polls `/log/checkpoint` with a key until it covers `size` entries.
async fn checkpoint_covering_with(base: &str, key: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text, _) = get_text(&format!("{base}/log/checkpoint"), Some(key)).await;
        if status == 200 && text.lines().nth(1).unwrap().parse::<u64>().unwrap() >= size {
            return text;
        }
        assert!(Instant::now() < deadline, "no checkpoint covering {size}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
