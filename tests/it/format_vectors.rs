//! Test vectors: a fixed key seed and a handful of entries with their
//! canonical bytes, hashes and signatures, committed in `tests/vectors/` so
//! that another implementation can check itself against them. This test
//! rebuilds them from first principles and fails if the files drift.
//!
//! Regenerate (only on an intended format change): `UPDATE_VECTORS=1 cargo test --release --test it format_vectors`.

use consent_domain::event::{KeyRotated, LedgerInitialized};
use consent_domain::{Event, Submission, Timestamp};
use consent_ledger::export::{verify_export, ExportHeader, ExportKey, EXPORT_FORMAT};
use consent_ledger::format::{body_json, entry_hash, signed_line, GENESIS_PREV};
use consent_ledger::LedgerKey;
use ed25519_dalek::Signer;
use serde_json::{json, Value};

const SEED_1: [u8; 32] = [0x01; 32];
const SEED_2: [u8; 32] = [0x02; 32];

fn pseudonym(n: u8) -> String {
    hex::encode([n; 32])
}

/// The events of the vector log, in order, with the key that signs each.
fn events() -> Vec<(Event, u8)> {
    let k1 = LedgerKey::from_seed(SEED_1);
    let k2 = LedgerKey::from_seed(SEED_2);
    let mut policy: consent_domain::PolicyVersion = serde_json::from_value(json!({
        "controller": {"id": "controller.example", "name": "Example Controller"},
        "version": "v1",
        "effective_at": "2026-01-01T00:00:00.000000Z",
        "data_categories": [
            {"id": "email-address", "description": "Email address"},
            {"id": "name", "description": "Name — with a non-ASCII dash, \"quotes\" and a\ttab"}
        ],
        "recipients": [{"id": "partners", "kind": "partner", "description": "Partners"}],
        "purposes": [{
            "id": "marketing", "description": "Newsletters", "legal_basis": "consent",
            "data_categories": ["email-address", "name"], "recipients": ["partners"],
            "retention": {"description": "Until withdrawn", "max_days": 730}
        }],
        "rights": ["erasure", "withdraw-consent"]
    }))
    .unwrap();
    policy.url = Some("https://controller.example/privacy".into());
    let published = consent_domain::LedgerState::new()
        .decide(
            serde_json::from_value::<Submission>(
                json!({"type": "policy_published", "policy": policy}),
            )
            .unwrap()
            .map::<_, _, std::convert::Infallible>(|_| unreachable!(), |_| unreachable!())
            .unwrap(),
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        )
        .unwrap();
    let subject_event = |v: Value| -> Event {
        let kind = v["type"].as_str().unwrap().to_owned();
        let mut payload = v;
        payload.as_object_mut().unwrap().remove("type");
        Event::from_payload(&kind, &payload.to_string()).unwrap()
    };
    vec![
        (
            Event::LedgerInitialized(LedgerInitialized {
                key_id: k1.id.clone(),
                ledger: "controller.example/ledger".into(),
                public_key: k1.public_hex(),
            }),
            1,
        ),
        (published, 1),
        (
            subject_event(json!({
                "type": "consent_granted", "subject": pseudonym(0xaa), "purpose": "marketing",
                "data_categories": ["email-address", "name"], "policy_version": "v1",
                "channel": "web-signup-form", "evidence": hex::encode([0xee; 32])
            })),
            1,
        ),
        (
            subject_event(json!({
                "type": "policy_accepted", "subject": pseudonym(0xbb), "policy_version": "v1",
                "method": "explicit", "channel": "web-signup-form"
            })),
            1,
        ),
        (
            Event::KeyRotated(KeyRotated {
                key_id: k2.id.clone(),
                public_key: k2.public_hex(),
            }),
            1,
        ),
        (
            subject_event(json!({
                "type": "consent_withdrawn", "subject": pseudonym(0xaa), "purpose": "marketing",
                "channel": "email-unsubscribe-link"
            })),
            2,
        ),
        (
            subject_event(json!({
                "type": "erasure_requested", "subject": pseudonym(0xaa), "channel": "privacy-mailbox"
            })),
            2,
        ),
    ]
}

struct Built {
    keys: Value,
    entries: Value,
    export: String,
}

fn build() -> Built {
    // Entries 0–4 are of version 1 (a log begun before `recorded_by`), the
    // later ones of version 2: one asked for through an API key, one
    // locally.
    build_with(|seq| match seq {
        0..=4 => None,
        5 => Some("api-key:5eed5eed5eed5eed"),
        _ => Some("local"),
    })
}

/// The vector log with `recorded_by(seq)` as each entry's author.
fn build_with(recorded_by: impl Fn(usize) -> Option<&'static str>) -> Built {
    let k1 = LedgerKey::from_seed(SEED_1);
    let k2 = LedgerKey::from_seed(SEED_2);
    let mut prev = GENESIS_PREV.to_owned();
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    for (seq, (event, signer)) in events().into_iter().enumerate() {
        let key = if signer == 1 { &k1 } else { &k2 };
        let recorded_by = recorded_by(seq);
        let at = Timestamp::parse("2026-01-01T00:00:00Z")
            .unwrap()
            .as_micros()
            + seq as i64 * 1_500_000;
        let payload = event.payload_json();
        let body = body_json(
            seq as u64,
            Timestamp::from_micros(at),
            recorded_by,
            &prev,
            event.kind(),
            &payload,
            &key.id,
        );
        let hash = entry_hash(body.as_bytes());
        let sig = key.signing.sign(&hash).to_bytes();
        let line = signed_line(&body, &hash, &sig);
        entries.push(json!({
            "seq": seq,
            "canonical_body": body,
            "hash_input_prefix": "consent-ledger/entry/v1\n",
            "hash": hex::encode(hash),
            "signature": hex::encode(sig),
            "signing_key_id": key.id,
            "line": line,
        }));
        lines.push(line);
        prev = hex::encode(hash);
    }
    let header = ExportHeader {
        format: EXPORT_FORMAT.into(),
        ledger: "controller.example/ledger".into(),
        entries: lines.len() as u64,
        head: Some(prev),
        keys: [&k1, &k2]
            .iter()
            .map(|k| ExportKey {
                key_id: k.id.clone(),
                public_key: k.public_hex(),
            })
            .collect(),
    };
    let mut export = serde_json_canonicalizer::to_string(&header).unwrap();
    export.push('\n');
    for l in &lines {
        export.push_str(l);
        export.push('\n');
    }
    let keys: Vec<Value> = [&k1, &k2]
        .iter()
        .zip([SEED_1, SEED_2])
        .map(|(k, seed)| json!({"seed": hex::encode(seed), "public_key": k.public_hex(), "key_id": k.id}))
        .collect();
    Built {
        keys: json!({ "keys": keys }),
        entries: Value::Array(entries),
        export,
    }
}

fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
fn committed_vectors_match_the_implementation() {
    let built = build();
    let dir = vectors_dir();
    let files = [
        ("keys.json", pretty(&built.keys)),
        ("entries.json", pretty(&built.entries)),
        ("export.jsonl", built.export.clone()),
    ];
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    for (name, text) in &files {
        let committed = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("tests/vectors/{name}: {e}"));
        assert_eq!(
            &committed, text,
            "tests/vectors/{name} drifted from the implementation"
        );
    }
}

#[test]
fn vector_bytes_are_rfc8785_canonical() {
    for entry in build().entries.as_array().unwrap() {
        for field in ["canonical_body", "line"] {
            let text = entry[field].as_str().unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                serde_json_canonicalizer::to_string(&value).unwrap(),
                text,
                "{field} of entry {}",
                entry["seq"]
            );
        }
    }
}

#[test]
fn vector_export_verifies_offline_and_hashes_check_by_hand() {
    let built = build();
    let report = verify_export(
        built.export.as_bytes(),
        Some(LedgerKey::from_seed(SEED_1).verifying().to_bytes()),
    )
    .unwrap()
    .expect("the vector export verifies");
    assert_eq!(report.entries, 7);
    assert_eq!(report.keys.len(), 2);
    // A re-implementation's view: hash = SHA-256(prefix ‖ body), sig over hash.
    use sha2::{Digest, Sha256};
    for entry in built.entries.as_array().unwrap() {
        let mut h = Sha256::new();
        h.update(b"consent-ledger/entry/v1\n");
        h.update(entry["canonical_body"].as_str().unwrap().as_bytes());
        assert_eq!(hex::encode(h.finalize()), entry["hash"].as_str().unwrap());
    }
}

#[test]
fn a_pinned_key_that_is_not_the_genesis_key_fails() {
    let built = build();
    let wrong = LedgerKey::from_seed(SEED_2).verifying().to_bytes();
    let failure = verify_export(built.export.as_bytes(), Some(wrong))
        .unwrap()
        .unwrap_err();
    assert_eq!((failure.seq, failure.reason.code()), (0, "bad_genesis"));
}

#[test]
fn format_versions_never_go_back_and_recorded_by_has_two_forms() {
    let verify = |built: Built| {
        verify_export(built.export.as_bytes(), None)
            .unwrap()
            .map(|r| r.entries)
            .map_err(|f| (f.seq, f.reason.code(), f.detail))
    };
    // Every entry of version 2, or every one of version 1: both verify.
    assert_eq!(verify(build_with(|_| Some("local"))), Ok(7));
    assert_eq!(verify(build_with(|_| None)), Ok(7));
    // A version-1 entry after a version-2 one: refused there.
    let back = verify(build_with(|seq| (seq == 3).then_some("local")));
    assert!(matches!(back, Err((4, "malformed", _))), "{back:?}");
    // An author that is neither form.
    for bad in [
        "api-key:5EED5EED5EED5EED",
        "admin",
        "api-key:ck_5eed5eed5eed5eed_x",
    ] {
        let r = verify(build_with(move |seq| {
            Some(if seq == 6 { bad } else { "local" })
        }));
        assert!(matches!(r, Err((6, "malformed", _))), "{bad}: {r:?}");
    }
}
