//! Tampering with the database directly (editing, deleting, swapping,
//! inserting entries) makes `consent verify` fail and name the entry.

use super::common;

use common::{json_lines, populated, TempLedger};
use proptest::prelude::*;

async fn tamper(t: &TempLedger, statements: &[String]) {
    t.tamper(statements).await
}

async fn line(t: &TempLedger, seq: u64) -> String {
    let mut conn = t.sql().await;
    sqlx::query_scalar(&format!("SELECT line FROM entries WHERE seq = {seq}"))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `consent verify` must exit 1 and name `seq` with `reason`.
fn assert_verify_fails(t: &TempLedger, seq: u64, reason: &str) {
    let out = t.consent(&["verify"], None);
    assert_eq!(out.status.code(), Some(1), "verify should fail: {out:?}");
    let report = &json_lines(&out)[0];
    assert_eq!(report["verified"], false);
    assert_eq!(report["seq"], seq, "{report}");
    assert_eq!(report["reason"], reason, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("entry {seq}")),
        "stderr names the entry: {stderr}"
    );
}

async fn fresh() -> (TempLedger, u64) {
    let t = TempLedger::new();
    let n = populated(&t, 20).await;
    let out = t.consent(&["verify"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_lines(&out)[0]["entries"], n);
    (t, n)
}

#[tokio::test]
async fn editing_an_event_is_a_hash_mismatch() {
    let (t, _) = fresh().await;
    let edited = line(&t, 7)
        .await
        .replacen("partner-sharing", "partner-sharinh", 1);
    tamper(
        &t,
        &[format!(
            "UPDATE entries SET line = {} WHERE seq = 7",
            sql_str(&edited)
        )],
    )
    .await;
    assert_verify_fails(&t, 7, "hash_mismatch");
}

#[tokio::test]
async fn editing_whitespace_is_not_canonical() {
    let (t, _) = fresh().await;
    let edited = line(&t, 5).await.replacen(",\"hash\"", ", \"hash\"", 1);
    tamper(
        &t,
        &[format!(
            "UPDATE entries SET line = {} WHERE seq = 5",
            sql_str(&edited)
        )],
    )
    .await;
    assert_verify_fails(&t, 5, "not_canonical");
}

#[tokio::test]
async fn deleting_an_entry_is_a_gap() {
    let (t, _) = fresh().await;
    tamper(&t, &["DELETE FROM entries WHERE seq = 9".into()]).await;
    assert_verify_fails(&t, 9, "gap");
}

#[tokio::test]
async fn deleting_the_genesis_entry_is_a_gap() {
    let (t, _) = fresh().await;
    tamper(&t, &["DELETE FROM entries WHERE seq = 0".into()]).await;
    assert_verify_fails(&t, 0, "gap");
}

#[tokio::test]
async fn swapping_two_entries_is_caught_at_the_first() {
    let (t, _) = fresh().await;
    tamper(
        &t,
        &[
            // Swap the whole rows: lines and their indexed hashes.
            "UPDATE entries SET seq = -1 WHERE seq = 10".into(),
            "UPDATE entries SET seq = 10 WHERE seq = 11".into(),
            "UPDATE entries SET seq = 11 WHERE seq = -1".into(),
        ],
    )
    .await;
    assert_verify_fails(&t, 10, "gap");
}

#[tokio::test]
async fn inserting_a_forged_entry_is_a_bad_signature() {
    let (t, n) = fresh().await;
    // Forge entry 12 so that its hash is right and it links correctly: all
    // an attacker without the key can do. Later entries shift up by one.
    let original = line(&t, 12).await;
    let forged = original.replacen("partner-sharing", "marketing", 1);
    let v: serde_json::Value = serde_json::from_str(&forged).unwrap();
    let body = consent_ledger::format::body_json(
        12,
        consent_domain::Timestamp::parse(v["recorded_at"].as_str().unwrap()).unwrap(),
        v["recorded_by"].as_str(),
        v["prev"].as_str().unwrap(),
        v["type"].as_str().unwrap(),
        &v["event"].to_string(),
        v["key_id"].as_str().unwrap(),
    );
    let hash = consent_ledger::format::entry_hash(body.as_bytes());
    let forged = consent_ledger::format::signed_line(&body, &hash, &[7u8; 64]);
    let mut statements = vec![];
    for seq in (12..n).rev() {
        statements.push(format!(
            "UPDATE entries SET seq = {} WHERE seq = {seq}",
            seq + 1
        ));
    }
    statements.push(format!(
        "INSERT INTO entries (seq, recorded_at, hash, subject, kind, line) VALUES (12, {}, {}, NULL, 'consent_granted', {})",
        sql_str(v["recorded_at"].as_str().unwrap()),
        t.blob(&hash),
        sql_str(&forged)
    ));
    tamper(&t, &statements).await;
    assert_verify_fails(&t, 12, "bad_signature");
}

#[tokio::test]
async fn changing_the_stored_hash_column_is_caught() {
    let (t, _) = fresh().await;
    tamper(
        &t,
        &[format!(
            "UPDATE entries SET hash = {} WHERE seq = 3",
            t.blob(&[0; 32])
        )],
    )
    .await;
    assert_verify_fails(&t, 3, "stored_hash_mismatch");
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes_of_entries() {
    let (t, _) = fresh().await;
    let mut conn = t.sql().await;
    let update = sqlx::query("UPDATE entries SET kind = 'x' WHERE seq = 1")
        .execute(&mut conn)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM entries WHERE seq = 1")
        .execute(&mut conn)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any change of any byte of any stored entry is caught at that entry.
    #[test]
    fn any_edit_of_stored_history_fails_verify(seq in 0u64..42, at in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let (t, n) = fresh().await;
            prop_assume!(seq < n);
            let original = line(&t, seq).await;
            let i = at.index(original.len());
            let mut bytes = original.clone().into_bytes();
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let edited = String::from_utf8(bytes).unwrap();
            tamper(&t, &[format!("UPDATE entries SET line = {} WHERE seq = {seq}", sql_str(&edited))]).await;
            let store = t.store().await;
            let failure = consent_ledger::verify_store(&store, None).await.unwrap().unwrap_err();
            prop_assert_eq!(failure.seq, seq, "{}", failure);
            Ok(())
        })?;
    }
}
