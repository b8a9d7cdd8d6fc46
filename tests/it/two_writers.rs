//! Two `consent serve` processes on one database. On PostgreSQL (the
//! scale-out setup) appends through both at once never fork the chain:
//! they take turns through an advisory lock and follow each other through
//! LISTEN/NOTIFY, and each serves decisions on what the other appended. An
//! SQLite file has one writer: a second one is refused, clearly.

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::common::server::{post, serve};
use super::common::{json_lines, on_postgres, TempLedger};

fn grant(subject: &str) -> Value {
    json!({"type": "consent_granted", "subject": subject, "purpose": "marketing",
           "data_categories": ["email-address"], "policy_version": "2023-11-29",
           "channel": "web-signup-form"})
}

#[tokio::test]
async fn a_second_writer_on_one_sqlite_file_is_refused() {
    let t = TempLedger::sqlite();
    let _first = serve(&t, "serve-a.log", &[]).await;
    let out = t.consent(
        &[
            "policy",
            "publish",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/reference-policy.json"
            ),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("being appended to by another process"),
        "{stderr}"
    );
    // Reading is not writing: verify works beside the running writer.
    assert!(t.consent(&["verify"], None).status.success());
}

#[tokio::test]
async fn two_servers_appending_at_once_keep_one_unbroken_chain() {
    if !on_postgres() {
        return; // PostgreSQL only; the SQLite case is the test above.
    }
    let t = TempLedger::with_reference_policy();
    let a = serve(&t, "serve-a.log", &[]).await;
    let b = serve(&t, "serve-b.log", &[]).await;
    let out = t.consent(
        &["api-key", "create", "--scopes", "record,decide,audit"],
        None,
    );
    let key = json_lines(&out)[0]["api_key"].as_str().unwrap().to_owned();

    // 8 concurrent clients per server, 25 grants each: 400 appends racing.
    let clients = (0..16).map(|c| {
        let base = if c % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let key = key.clone();
        async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let (status, body) = post(
                    &base,
                    &key,
                    "/v1/events",
                    &grant(&format!("s{c}-{i}@example.com")),
                )
                .await;
                assert_eq!(status, 201, "{body}");
                acked.push((
                    body["seq"].as_u64().unwrap(),
                    body["hash"].as_str().unwrap().to_owned(),
                ));
            }
            acked
        }
    });
    let mut acked: Vec<(u64, String)> = join_all(clients).await.into_iter().flatten().collect();
    acked.sort();
    let seqs: Vec<u64> = acked.iter().map(|a| a.0).collect();
    assert_eq!(
        seqs,
        (2..402).collect::<Vec<u64>>(),
        "every append got its own position"
    );

    let verify = t.consent(&["verify"], None);
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(json_lines(&verify)[0]["entries"], 402);

    // Each acknowledged hash is the stored one: nothing was overwritten.
    use consent_ledger::Store;
    let store = t.store().await;
    for (seq, hash) in acked.iter().step_by(37) {
        let row = store.read_lines(*seq, 1).await.unwrap().remove(0);
        assert_eq!(hex::encode(&row.hash), *hash);
    }

    // What one server appended, the other decides on (its token waits for it).
    let (status, g) = post(&a.base, &key, "/v1/events", &grant("late@example.com")).await;
    assert_eq!(status, 201, "{g}");
    let ask = json!({"subject": "late@example.com", "purpose": "marketing",
                     "data_category": "email-address", "token": g["token"]});
    let (status, d) = post(&b.base, &key, "/v1/decisions", &ask).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["allowed"], true, "{d}");

    // Erased through A, B forgets the link it had cached: the subject id
    // no longer leads to the pseudonym or its history.
    let erase = json!({"type": "erasure_requested", "subject": "late@example.com",
                       "channel": "privacy-request-form"});
    let (status, e) = post(&a.base, &key, "/v1/events", &erase).await;
    assert_eq!(status, 201, "{e}");
    let mut ask = ask;
    ask["token"] = e["token"].clone();
    let (status, d) = post(&b.base, &key, "/v1/decisions", &ask).await;
    assert_eq!((status, d["allowed"].as_bool()), (200, Some(false)), "{d}");
    let r = reqwest::Client::new()
        .get(format!("{}/v1/subjects/late@example.com/history", b.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "the erased subject is unknown on B"
    );
}
