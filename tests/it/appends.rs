//! The append path: concurrent appenders are group-committed into one
//! unbroken chain; erasure keeps the chain verifiable.

use super::common;

use common::{grant, submission, TempLedger};
use consent_ledger::Store;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_make_one_contiguous_chain() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let mut tasks = Vec::new();
    for task in 0..64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..50 {
                let s = format!("t{task}-s{i}");
                let a = ledger
                    .append(grant(&s, "marketing", &["name"]), None)
                    .await
                    .unwrap()
                    .unwrap();
                seqs.push(a.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (2..2 + 64 * 50).collect::<Vec<u64>>(),
        "every append got its own, contiguous sequence number"
    );
    let report = consent_ledger::verify_store(&**ledger.store(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.entries, 2 + 64 * 50);
}

#[tokio::test]
async fn erasure_deletes_the_secret_and_evidence_and_the_chain_still_verifies() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let g = ledger
        .append(grant("alice@example.com", "marketing", &["name"]), None)
        .await
        .unwrap()
        .unwrap();
    let pseudonym = g.subject.unwrap().to_string();
    let mut conn = t.sql().await;
    let count = |table: &'static str| {
        format!("SELECT count(*) FROM {table} WHERE pseudonym = '{pseudonym}'")
    };
    let subjects: i64 = sqlx::query_scalar(&count("subjects"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let evidence: i64 = sqlx::query_scalar(&count("evidence"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((subjects, evidence), (1, 1));

    let erase = submission(
        json!({"type": "erasure_requested", "subject": "alice@example.com", "channel": "privacy-mailbox"}),
    );
    let e = ledger.append(erase, None).await.unwrap().unwrap();
    assert_eq!(
        e.subject.unwrap().to_string(),
        pseudonym,
        "the log keeps the pseudonym"
    );
    let subjects: i64 = sqlx::query_scalar(&count("subjects"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let evidence: i64 = sqlx::query_scalar(&count("evidence"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((subjects, evidence), (0, 0), "secret and evidence are gone");
    let anywhere: i64 =
        sqlx::query_scalar("SELECT count(*) FROM subjects WHERE subject_id LIKE 'alice%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(anywhere, 0);
    let report = consent_ledger::verify_store(&**ledger.store(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.entries, 4);
    let history: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM entries WHERE subject = '{pseudonym}'"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        history, 2,
        "the subject's history stays, under the pseudonym"
    );
}

#[tokio::test]
async fn a_restarted_ledger_continues_the_same_chain() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    ledger
        .append(grant("a", "marketing", &["name"]), None)
        .await
        .unwrap()
        .unwrap();
    drop(ledger);
    let ledger = t.open().await;
    // The rules' state survived: withdrawing the earlier grant is accepted.
    let w = common::withdraw("a", Some("marketing"));
    let a = ledger.append(w, None).await.unwrap().unwrap();
    assert_eq!(a.seq, 3);
    let store = t.store().await;
    assert_eq!(store.head().await.unwrap().unwrap().seq, 3);
    consent_ledger::verify_store(&store, None)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_commits_what_was_queued_stops_every_task_and_then_refuses() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    // The projector follows the ledger as one of its tasks: the shutdown
    // below must stop it too, or it would wait out its bound.
    let projection = consent_consumers::projector::start(&ledger).await.unwrap();
    let mut queued = Vec::new();
    for i in 0..200 {
        let answer = ledger
            .enqueue(grant(&format!("q{i}"), "marketing", &["name"]), None)
            .await
            .unwrap();
        queued.push(answer);
    }
    ledger
        .shutdown(std::time::Duration::from_secs(10))
        .await
        .expect("the writer, checkpointer and projector all stopped");
    for answer in queued {
        answer
            .await
            .unwrap()
            .expect("queued before the stop: committed");
    }
    let head = ledger.store().head().await.unwrap().unwrap();
    assert_eq!(head.seq, 1 + 200, "every queued request was committed");
    let late = ledger
        .append(grant("late", "marketing", &["name"]), None)
        .await;
    assert!(
        matches!(late, Err(consent_ledger::LedgerError::WriterStopped)),
        "after the stop nothing is taken: {late:?}"
    );
    assert_eq!(ledger.store().head().await.unwrap().unwrap().seq, 1 + 200);
    drop(projection);
    ledger
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .expect("a second shutdown finds nothing left to stop");
}
