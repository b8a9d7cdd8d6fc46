//! What the ledger keeps beside the log, checked as someone holding the
//! database would: idempotency keys only as scoped hashes that expire and
//! go with the subject's erasure; files private whatever the umask; one
//! subject per person however the id is spelled.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use consent_ledger::{IdempotencyKey, KeyStore, Ledger, LedgerConfig};
use serde_json::json;

use crate::common::*;

async fn count(t: &TempLedger, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = t.sql().await;
    let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn idempotency_keys_are_scoped_hashed_and_erased_with_their_subject() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let personal = "carol@example.com-signup";
    let mine = IdempotencyKey::new("api-key a POST /v1/events", personal);
    let first = ledger
        .append(
            grant("carol@example.com", "marketing", &["name"]),
            Some(mine.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    let again = ledger
        .append(
            grant("carol@example.com", "marketing", &["name"]),
            Some(mine.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(again.replayed && again.seq == first.seq);
    // The same key from another client is that client's own key.
    let theirs = IdempotencyKey::new("api-key b POST /v1/events", personal);
    let other = ledger
        .append(
            grant("dave@example.com", "marketing", &["name"]),
            Some(theirs),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!other.replayed && other.seq == first.seq + 1);
    // Neither the key nor anything of the request is stored in clear.
    let clear = count(
        &t,
        &format!(
        "SELECT count(*) FROM request_keys WHERE key_hash LIKE '%carol%' OR key_hash = '{personal}'"
    ),
    )
    .await;
    assert_eq!(clear, 0);
    assert_eq!(count(&t, "SELECT count(*) FROM request_keys").await, 2);

    // Erasure deletes the subject's keys, all but the erasure's own: its
    // retry is still a replay.
    let erase = submission(
        json!({"type": "erasure_requested", "subject": "carol@example.com",
        "channel": "privacy-mailbox"}),
    );
    let erase_key = IdempotencyKey::new("api-key a POST /v1/events", "erase-carol");
    let erased = ledger
        .append(erase.clone(), Some(erase_key.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        count(&t, "SELECT count(*) FROM request_keys").await,
        2,
        "dave's and the erasure's"
    );
    let retried = ledger
        .append(erase, Some(erase_key))
        .await
        .unwrap()
        .unwrap();
    assert!(retried.replayed && retried.seq == erased.seq);
}

#[tokio::test]
async fn idempotency_keys_expire() {
    let t = TempLedger::new();
    // Keys kept for no time at all: forgotten as soon as they are stored.
    let config = LedgerConfig {
        idempotency_ttl: Duration::ZERO,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open(t.store().await, KeyStore::open(t.keys()).unwrap(), config)
        .await
        .unwrap();
    ledger
        .append(publish(&reference_policy()), None)
        .await
        .unwrap()
        .unwrap();
    let key = IdempotencyKey::new("test", "k");
    let first = ledger
        .append(
            grant("erin@example.com", "marketing", &["name"]),
            Some(key.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    // The same request again is a new one (a second grant, appended by the
    // rules), never answered as a replay.
    let second = ledger
        .append(grant("erin@example.com", "marketing", &["name"]), Some(key))
        .await
        .unwrap()
        .unwrap();
    assert!(!second.replayed && second.seq == first.seq + 1);
}

/// Runs the binary under umask 022, as a default shell would.
fn under_umask_022(t: &TempLedger, args: &[&str]) {
    let keys = t.keys();
    let mut cmd = vec![
        env!("CARGO_BIN_EXE_consent").to_owned(),
        "--keys".into(),
        keys.display().to_string(),
        "--db".into(),
        t.url(),
    ];
    cmd.extend(args.iter().map(|s| s.to_string()));
    let quoted: Vec<String> = cmd.iter().map(|a| format!("'{a}'")).collect();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; exec {}", quoted.join(" ")))
        .current_dir(t.dir.path())
        .env("CONSENT_DISK_RESERVE_MIB", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn files_are_private_whatever_the_umask() {
    let t = TempLedger::sqlite();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-policy.json"
    );
    under_umask_022(&t, &["policy", "publish", policy]);
    let mut checked = 0;
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 3,
        "database, its lock and the key directory at least"
    );
    // A ledger made readable by others is made private again at start.
    std::fs::set_permissions(t.db_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    under_umask_022(&t, &["checkpoint"]);
    let mode = std::fs::metadata(t.db_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn one_person_is_one_subject_however_the_id_is_spelled() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let granted = ledger
        .append(
            grant("alice@example.com", "marketing", &["email-address"]),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    // The withdrawal under another spelling reaches the same subject.
    let withdrawn = ledger
        .append(withdraw("Alice@Example.COM", Some("marketing")), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(granted.subject, withdrawn.subject);
    let nfc = ledger
        .append(grant("jos\u{e9}", "marketing", &["name"]), None)
        .await
        .unwrap()
        .unwrap();
    let nfd = ledger
        .append(withdraw("jose\u{301}", Some("marketing")), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nfc.subject, nfd.subject);
    for bad in [
        "alice\u{200b}@example.com",
        "\u{202e}alice",
        "alice ",
        "\u{feff}bob",
        "\u{ff41}lice",
    ] {
        let v = json!({"type": "consent_granted", "subject": bad, "purpose": "marketing",
            "data_categories": ["name"], "policy_version": "2023-11-29", "channel": "web"});
        let e = serde_json::from_value::<consent_domain::Submission>(v).unwrap_err();
        assert!(
            e.to_string().contains("invalid subject identifier"),
            "{bad:?}: {e}"
        );
    }
}
