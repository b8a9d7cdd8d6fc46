//! Erasure as someone holding the files would check it: after the erasure
//! returns, the raw bytes of every file of the ledger's database (SQLite:
//! the database, -wal and -shm; PostgreSQL: every relation file of the
//! ledger's database, after a CHECKPOINT wrote the buffers out) hold
//! neither the subject id, nor the evidence's IP address, nor the subject's
//! secret. Before the erasure the id and the secret are found there (so
//! the search can fail), and the chain still verifies after.

use std::path::PathBuf;

use serde_json::json;

use consent_ledger::{AnyStore, Ledger};

use crate::common::*;

const SUBJECT: &str = "erin.erased@example.com";
const IP: &str = "203.0.113.77";

/// Every file the database keeps, read now.
async fn database_files(t: &TempLedger) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = Vec::new();
    if let Some(db) = &t.pg {
        use sqlx::Connection;
        let mut conn = t.sql().await;
        // Dirty buffers reach the files: what is not there yet would make
        // an empty search meaningless.
        sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
        let data: String =
            sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let oid: String = sqlx::query_scalar(&format!(
            "SELECT oid::text FROM pg_database WHERE datname = '{}'",
            db.name
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let dir = PathBuf::from(data).join("base").join(oid);
        for e in std::fs::read_dir(&dir).expect("the database's directory is readable") {
            paths.push(e.unwrap().path());
        }
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = t.db_path().into_os_string();
            p.push(suffix);
            paths.push(PathBuf::from(p));
        }
    }
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

fn holding(files: &[(PathBuf, Vec<u8>)], needle: &[u8]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p.clone())
        .collect()
}

/// 300 neighbours, then the subject: a grant with evidence, a withdrawal.
/// Returns the subject's secret as stored.
async fn record_the_subject(t: &TempLedger, ledger: &Ledger<AnyStore>) -> Vec<u8> {
    // Other subjects share pages and partitions with the one erased.
    for i in 0..300 {
        ledger
            .append(
                grant(
                    &format!("neighbour-{i}@example.com"),
                    "marketing",
                    &["email-address"],
                ),
                None,
            )
            .await
            .unwrap()
            .unwrap();
    }
    let mut g = grant(SUBJECT, "marketing", &["email-address"]);
    if let consent_domain::Submission::ConsentGranted(c) = &mut g {
        c.evidence = Some(consent_domain::Evidence(
            json!({"ip": IP, "form": "signup"})
                .as_object()
                .unwrap()
                .clone(),
        ));
    }
    ledger.append(g, None).await.unwrap().unwrap();
    ledger
        .append(withdraw(SUBJECT, Some("marketing")), None)
        .await
        .unwrap()
        .unwrap();
    use sqlx::Connection;
    let mut conn = t.sql().await;
    let secret = sqlx::query_scalar(&format!(
        "SELECT secret FROM subjects WHERE subject_id = '{SUBJECT}'"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    secret
}

fn erasure() -> consent_domain::Submission {
    submission(json!({"type": "erasure_requested", "subject": SUBJECT,
        "channel": "privacy-mailbox"}))
}

/// What of the subject the files still hold: (what, files).
fn traces(files: &[(PathBuf, Vec<u8>)], secret: &[u8]) -> Vec<(&'static str, Vec<PathBuf>)> {
    [
        ("subject id", SUBJECT.as_bytes()),
        ("evidence IP", IP.as_bytes()),
        ("secret", secret),
    ]
    .into_iter()
    .map(|(what, needle)| (what, holding(files, needle)))
    .filter(|(_, found)| !found.is_empty())
    .collect()
}

#[tokio::test]
async fn an_erased_subject_leaves_no_bytes_in_the_database_files() {
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let secret = record_the_subject(&t, &ledger).await;

    let before = database_files(&t).await;
    assert!(
        !holding(&before, SUBJECT.as_bytes()).is_empty(),
        "the id is stored before the erasure"
    );
    assert!(
        !holding(&before, &secret).is_empty(),
        "the secret is stored before the erasure"
    );
    assert!(
        holding(&before, IP.as_bytes()).is_empty(),
        "evidence is never stored in clear"
    );

    ledger.append(erasure(), None).await.unwrap().unwrap();

    let after = database_files(&t).await;
    let left = traces(&after, &secret);
    assert!(
        left.is_empty(),
        "the erased subject is still in the files: {left:?}"
    );
    let report = consent_ledger::verify_store(&**ledger.store(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.entries, 2 + 300 + 3);
    // The neighbours are untouched.
    use sqlx::Connection;
    let mut conn = t.sql().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM subjects")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(left, 300);
}

/// A reader whose snapshot still sees the subject's row when the erasure
/// commits (an autoanalyze, a long report) keeps it alive for the
/// database: a rewrite then would copy it into the new files. The scrub
/// waits for that snapshot, gives up after a while, and is retried on its
/// own once the reader is gone, with no further append to prompt it.
#[tokio::test]
async fn a_snapshot_open_across_the_erasure_only_delays_the_scrub() {
    use sqlx::Connection;
    let t = TempLedger::new();
    let ledger = t.open_published().await;
    let secret = record_the_subject(&t, &ledger).await;

    let mut reader = t.sql().await;
    let begin = if t.pg.is_some() {
        "BEGIN ISOLATION LEVEL REPEATABLE READ"
    } else {
        "BEGIN"
    };
    sqlx::query(begin).execute(&mut reader).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM subjects")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(seen, 301);

    // The erasure is committed and answered though its scrub must wait.
    ledger.append(erasure(), None).await.unwrap().unwrap();
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    reader.close().await.unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = traces(&database_files(&t).await, &secret);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "30 s after the reader ended the erased subject is still in the files: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
