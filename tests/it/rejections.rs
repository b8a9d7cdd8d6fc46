//! Bad submissions get a specific error code and append nothing; the chain
//! stays intact. Driven through the library API and the CLI.

use super::common;

use common::{grant, json_lines, publish, reference_policy, submission, withdraw, TempLedger};
use consent_ledger::{AnyStore, IdempotencyKey, Ledger, Store};
use serde_json::json;

async fn head(ledger: &Ledger<AnyStore>) -> u64 {
    ledger.store().head().await.unwrap().unwrap().seq
}

async fn rejected(ledger: &Ledger<AnyStore>, s: consent_domain::Submission) -> &'static str {
    let before = head(ledger).await;
    let code = ledger.append(s, None).await.unwrap().unwrap_err().code();
    assert_eq!(
        head(ledger).await,
        before,
        "a rejected submission ({code}) appended nothing"
    );
    code
}

#[tokio::test]
async fn each_rule_rejects_with_its_code_and_appends_nothing() {
    let t = TempLedger::new();
    let ledger = t.open().await;
    // Nothing is in force before the first policy.
    assert_eq!(
        rejected(&ledger, grant("a", "marketing", &["name"])).await,
        "unknown_policy_version"
    );
    ledger
        .append(publish(&reference_policy()), None)
        .await
        .unwrap()
        .unwrap();
    ledger
        .append(grant("a", "marketing", &["name", "email-address"]), None)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        rejected(&ledger, publish(&reference_policy())).await,
        "duplicate_policy_version"
    );
    assert_eq!(
        rejected(&ledger, grant("a", "astrology", &["name"])).await,
        "unknown_purpose"
    );
    assert_eq!(
        rejected(&ledger, grant("a", "marketing", &["payment-data"])).await,
        "data_category_outside_purpose"
    );
    assert_eq!(
        rejected(&ledger, grant("a", "marketing", &[])).await,
        "no_data_categories"
    );
    assert_eq!(
        rejected(&ledger, grant("a", "online-services", &["name"])).await,
        "purpose_not_consent_based"
    );
    let mut g = serde_json::to_value(grant("a", "marketing", &["name"])).unwrap();
    g["policy_version"] = json!("1999-01-01");
    assert_eq!(
        rejected(&ledger, submission(g)).await,
        "unknown_policy_version"
    );
    assert_eq!(
        rejected(&ledger, withdraw("b", Some("marketing"))).await,
        "nothing_to_withdraw"
    );
    assert_eq!(
        rejected(&ledger, withdraw("a", Some("partner-sharing"))).await,
        "nothing_to_withdraw"
    );
    assert_eq!(
        rejected(&ledger, withdraw("b", None)).await,
        "nothing_to_withdraw"
    );
    let unsubscribe = submission(json!({
        "type": "unsubscribed", "subject": "a", "purpose": "marketing",
        "data_category": "phone-number", "channel": "sms-stop-reply"
    }));
    assert_eq!(rejected(&ledger, unsubscribe).await, "category_not_granted");
    let object = |purpose: &str| {
        submission(json!({
            "type": "objection_recorded", "subject": "a", "purpose": purpose, "channel": "privacy-mailbox"
        }))
    };
    assert_eq!(
        rejected(&ledger, object("marketing")).await,
        "objection_not_applicable"
    );
    ledger
        .append(object("service-improvement"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rejected(&ledger, object("service-improvement")).await,
        "already_objected"
    );
    let close = |s: &str| {
        submission(json!({"type": "account_closed", "subject": s, "channel": "account-settings"}))
    };
    assert_eq!(
        rejected(&ledger, close("never-seen")).await,
        "unknown_subject"
    );

    // A later version not yet in force, then a material one in force.
    let mut future = reference_policy();
    future.version = "2099-01-01".try_into().unwrap();
    future.effective_at = consent_domain::Timestamp::parse("2099-01-01T00:00:00Z").unwrap();
    ledger
        .append(publish(&future), None)
        .await
        .unwrap()
        .unwrap();
    let mut g = serde_json::to_value(grant("a", "marketing", &["name"])).unwrap();
    g["policy_version"] = json!("2099-01-01");
    assert_eq!(
        rejected(&ledger, submission(g)).await,
        "policy_version_not_effective"
    );
    let mut backdated = reference_policy();
    backdated.version = "2024-06-01".try_into().unwrap();
    backdated.effective_at = consent_domain::Timestamp::parse("2024-06-01T00:00:00Z").unwrap();
    assert_eq!(
        rejected(&ledger, publish(&backdated)).await,
        "policy_effective_before_previous"
    );

    ledger.append(close("a"), None).await.unwrap().unwrap();
    assert_eq!(rejected(&ledger, close("a")).await, "account_closed");
    assert_eq!(
        rejected(&ledger, grant("a", "marketing", &["name"])).await,
        "account_closed"
    );
    let erase = |s: &str| {
        submission(json!({"type": "erasure_requested", "subject": s, "channel": "privacy-mailbox"}))
    };
    ledger.append(erase("a"), None).await.unwrap().unwrap();
    // After erasure the id is unlinkable: it would be a new subject.
    assert_eq!(rejected(&ledger, close("a")).await, "unknown_subject");

    let store = t.store().await;
    consent_ledger::verify_store(&store, None)
        .await
        .unwrap()
        .expect("chain intact");
}

#[tokio::test]
async fn continued_use_cannot_accept_a_material_change() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let mut v2 = reference_policy();
    v2.version = "v2".try_into().unwrap();
    v2.effective_at = consent_domain::Timestamp::now();
    v2.purposes
        .iter_mut()
        .find(|p| p.id.as_str() == "marketing")
        .unwrap()
        .recipients
        .push("affiliates".try_into().unwrap());
    ledger.append(publish(&v2), None).await.unwrap().unwrap();
    let accept = |method: &str| {
        submission(json!({
            "type": "policy_accepted", "subject": "a", "policy_version": "v2", "method": method, "channel": "app"
        }))
    };
    assert_eq!(
        rejected(&ledger, accept("continued_use")).await,
        "continued_use_not_sufficient"
    );
    ledger
        .append(accept("explicit"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rejected(&ledger, accept("explicit")).await,
        "already_accepted"
    );
    // The old version cannot be granted under any more.
    assert_eq!(
        rejected(&ledger, grant("a", "marketing", &["name"])).await,
        "policy_version_superseded"
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_conflict() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let key = Some(IdempotencyKey::new("test", "signup-42"));
    let first = ledger
        .append(grant("a", "marketing", &["name"]), key.clone())
        .await
        .unwrap()
        .unwrap();
    let again = ledger
        .append(grant("a", "marketing", &["name"]), key.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!((again.seq, &again.hash), (first.seq, &first.hash));
    let other = ledger
        .append(grant("a", "marketing", &["email-address"]), key.clone())
        .await
        .unwrap();
    assert_eq!(other.unwrap_err().code(), "idempotency_conflict");
    assert_eq!(head(&ledger).await, first.seq);
    // Within one batch too: both queued before either commits.
    let k2 = Some(IdempotencyKey::new("test", "signup-43"));
    let a = ledger
        .enqueue(grant("b", "marketing", &["name"]), k2.clone())
        .await
        .unwrap();
    let b = ledger
        .enqueue(grant("b", "marketing", &["name"]), k2.clone())
        .await
        .unwrap();
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(a.seq, b.seq);
    assert!(b.replayed);
    // And after a restart.
    drop(ledger);
    let ledger = t.open().await;
    let again = ledger
        .append(grant("a", "marketing", &["name"]), key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.seq, again.replayed), (first.seq, true));
}

#[test]
fn the_cli_reports_bad_lines_and_appends_only_good_ones() {
    let t = TempLedger::new();
    let out = t.consent(
        &["policy", "publish", "../../examples/reference-policy.json"],
        None,
    );
    // The relative path is from the temp dir; use the absolute one instead.
    assert!(!out.status.success());
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-policy.json"
    );
    let out = t.consent(&["policy", "publish", policy], None);
    assert!(out.status.success(), "{out:?}");
    let input = [
        r#"{"type":"consent_granted","subject":"a","purpose":"marketing","data_categories":["name"],"policy_version":"2023-11-29","channel":"web"}"#,
        r#"{"type":"consent_granted","subject":"a","purpose":"marketing","data_categories":["name"],"policy_version":"2023-11-29","channel":"web","colour":"blue"}"#,
        r#"not json"#,
        r#"{"type":"time_travel","subject":"a"}"#,
        r#"{"idempotency_key":"k1","submission":{"type":"consent_withdrawn","subject":"a","channel":"email-unsubscribe-link","purpose":"marketing"}}"#,
        r#"{"type":"consent_withdrawn","subject":"a","channel":"email-unsubscribe-link","purpose":"marketing"}"#,
    ]
    .join("\n");
    let out = t.consent(&["append"], Some(&input));
    assert_eq!(out.status.code(), Some(1));
    let results = json_lines(&out);
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["seq"], 2);
    for (i, code) in [
        (1, "invalid_submission"),
        (2, "invalid_submission"),
        (3, "invalid_submission"),
        (5, "nothing_to_withdraw"),
    ] {
        assert_eq!(results[i]["error"]["code"], code, "{}", results[i]);
    }
    assert!(results[1]["error"]["detail"]
        .as_str()
        .unwrap()
        .contains("colour"));
    assert_eq!(results[4]["seq"], 3);
    let verify = t.consent(&["verify"], None);
    assert_eq!(json_lines(&verify)[0]["entries"], 4);
}
