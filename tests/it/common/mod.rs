//! Helpers shared by the integration tests: temporary ledgers on real
//! SQLite files or real PostgreSQL databases, the `consent` binary, and
//! realistic submissions.
//!
//! One suite, two backends: `CONSENT_TEST_DB=postgres` runs every ledger
//! test against a fresh PostgreSQL database per test (base URL from
//! `CONSENT_TEST_PG`, default `postgres://postgres@127.0.0.1:5432`);
//! otherwise each test gets its own SQLite file.
#![allow(dead_code)]

pub mod kafka;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use consent_domain::{PolicyVersion, Submission};
use consent_ledger::{AnyStore, KeyStore, Ledger, LedgerConfig};
use serde_json::{json, Value};

pub const REFERENCE_POLICY: &str = include_str!("../../../examples/reference-policy.json");

pub fn reference_policy() -> PolicyVersion {
    serde_json::from_str(REFERENCE_POLICY).expect("the reference policy parses")
}

/// The PostgreSQL server the tests use.
pub fn pg_base() -> String {
    std::env::var("CONSENT_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Whether this run puts the ledger tests on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("CONSENT_TEST_DB").is_ok_and(|b| b == "postgres")
}

/// A fresh, uniquely named PostgreSQL database, dropped with the value.
pub struct TempDatabase {
    pub name: String,
}

impl TempDatabase {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Self {
            name: format!(
                "consent_test_{}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed),
                nanos
            ),
        }
    }
    /// Its URL (the store creates the database on first open).
    pub fn url(&self) -> String {
        format!("{}/{}", pg_base(), self.name)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A temporary directory holding one ledger's keys (`ledger.keys/`) and,
/// on SQLite, its file (`ledger.db`); on PostgreSQL, a temporary database.
pub struct TempLedger {
    pub dir: tempfile::TempDir,
    pub pg: Option<TempDatabase>,
}

impl TempLedger {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
            pg: on_postgres().then(TempDatabase::new),
        }
    }
    /// A ledger on PostgreSQL whatever the run's backend (scale-out tests).
    pub fn postgres() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
            pg: Some(TempDatabase::new()),
        }
    }
    /// [`TempLedger::postgres`] with the reference policy published.
    pub fn postgres_with_reference_policy() -> Self {
        let t = Self::postgres();
        let policy = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/reference-policy.json"
        );
        let out = t.consent(&["policy", "publish", policy], None);
        assert!(out.status.success(), "{out:?}");
        t
    }
    /// A ledger on SQLite whatever the run's backend (for SQLite-only tests).
    pub fn sqlite() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
            pg: None,
        }
    }
    /// A ledger with the reference policy published through the CLI.
    pub fn with_reference_policy() -> Self {
        let t = Self::new();
        let policy = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/reference-policy.json"
        );
        let out = t.consent(&["policy", "publish", policy], None);
        assert!(out.status.success(), "{out:?}");
        t
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }
    pub fn url(&self) -> String {
        match &self.pg {
            Some(db) => db.url(),
            None => format!("sqlite://{}", self.db_path().display()),
        }
    }
    pub async fn store(&self) -> AnyStore {
        AnyStore::open(&self.url()).await.expect("store opens")
    }
    /// A raw connection, as someone with database access would have.
    pub async fn sql(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url())
            .await
            .expect("database connects")
    }
    /// A byte-string literal in this backend's SQL.
    pub fn blob(&self, bytes: &[u8]) -> String {
        if self.pg.is_some() {
            format!("'\\x{}'::bytea", hex::encode(bytes))
        } else {
            format!("X'{}'", hex::encode(bytes))
        }
    }
    /// Runs SQL with the append-only triggers removed, as an attacker
    /// holding the database would.
    pub async fn tamper(&self, statements: &[String]) {
        use sqlx::Connection;
        let mut conn = self.sql().await;
        let drops: &[&str] = if self.pg.is_some() {
            &["ALTER TABLE entries DISABLE TRIGGER USER"]
        } else {
            &[
                "DROP TRIGGER IF EXISTS entries_no_update",
                "DROP TRIGGER IF EXISTS entries_no_delete",
                "DROP TRIGGER IF EXISTS entries_extend_chain",
            ]
        };
        for s in drops {
            sqlx::query(s).execute(&mut conn).await.unwrap();
        }
        for s in statements {
            sqlx::query(s).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.path().join("ledger.keys")
    }
    /// The first signing key file in the key directory (not the
    /// remembered checkpoint or other files beside the keys).
    pub fn key_file(&self) -> PathBuf {
        std::fs::read_dir(self.keys())
            .expect("a key directory")
            .map(|e| e.expect("a directory entry").path())
            .find(|p| p.extension().is_some_and(|x| x == "key"))
            .expect("a key file")
    }
    pub async fn open(&self) -> Ledger<AnyStore> {
        let store = self.store().await;
        let keys = KeyStore::open(self.keys()).expect("key store opens");
        Ledger::open(store, keys, LedgerConfig::default())
            .await
            .expect("ledger opens")
    }
    /// Opens the ledger and publishes the reference policy in it.
    pub async fn open_published(&self) -> Ledger<AnyStore> {
        let ledger = self.open().await;
        ledger
            .append(publish(&reference_policy()), None)
            .await
            .unwrap()
            .unwrap();
        ledger
    }
    /// Runs the `consent` binary against this ledger.
    pub fn consent(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let keys = self.keys();
        let mut all = vec!["--keys", keys.to_str().expect("a UTF-8 temp path")];
        all.extend_from_slice(args);
        consent_in(self.dir.path(), &self.url(), &all, stdin)
    }
}

/// Runs the `consent` binary in `cwd` with `--db url`.
pub fn consent_in(cwd: &Path, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consent"));
    cmd.current_dir(cwd)
        .env("CONSENT_DISK_RESERVE_MIB", "1")
        .arg("--db")
        .arg(url)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("consent runs");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("stdin takes input");
    }
    child.wait_with_output().expect("consent finishes")
}

/// The JSON lines a command printed.
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect()
}

pub fn submission(v: Value) -> Submission {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not a submission: {e}"))
}

pub fn publish(policy: &PolicyVersion) -> Submission {
    submission(json!({"type": "policy_published", "policy": policy}))
}

pub fn grant(subject: &str, purpose: &str, categories: &[&str]) -> Submission {
    submission(json!({
        "type": "consent_granted",
        "subject": subject,
        "purpose": purpose,
        "data_categories": categories,
        "policy_version": "2023-11-29",
        "channel": "web-signup-form",
        "evidence": {"ip": "192.0.2.10", "form": "signup"},
    }))
}

pub fn withdraw(subject: &str, purpose: Option<&str>) -> Submission {
    let mut v =
        json!({"type": "consent_withdrawn", "subject": subject, "channel": "account-settings"});
    if let Some(p) = purpose {
        v["purpose"] = json!(p);
    }
    submission(v)
}

/// A ledger with the reference policy and `subjects` subjects each granting
/// marketing and partner sharing; returns how many entries it holds.
pub async fn populated(t: &TempLedger, subjects: usize) -> u64 {
    let ledger = t.open_published().await;
    let mut pending = Vec::new();
    for i in 0..subjects {
        let s = format!("subject-{i}@example.com");
        pending.push(
            ledger
                .enqueue(grant(&s, "marketing", &["email-address", "name"]), None)
                .await
                .unwrap(),
        );
        pending.push(
            ledger
                .enqueue(grant(&s, "partner-sharing", &["name"]), None)
                .await
                .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
    2 + 2 * subjects as u64
}
