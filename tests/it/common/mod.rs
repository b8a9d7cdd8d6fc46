//! Helpers shared by the integration tests: temporary ledgers on real
//! SQLite files, the `consent` binary, and realistic submissions.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use consent_domain::{PolicyVersion, Submission};
use consent_ledger::{KeyStore, Ledger, LedgerConfig, SqliteStore};
use serde_json::{json, Value};

pub const REFERENCE_POLICY: &str = include_str!("../../../examples/reference-policy.json");

pub fn reference_policy() -> PolicyVersion {
    serde_json::from_str(REFERENCE_POLICY).expect("the reference policy parses")
}

/// A temporary directory holding one ledger (`ledger.db`, `ledger.keys/`).
pub struct TempLedger {
    pub dir: tempfile::TempDir,
}

impl TempLedger {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
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
        format!("sqlite://{}", self.db_path().display())
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.path().join("ledger.keys")
    }
    pub async fn open(&self) -> Ledger<SqliteStore> {
        let store = SqliteStore::open(&self.url()).await.expect("store opens");
        let keys = KeyStore::open(self.keys()).expect("key store opens");
        Ledger::open(store, keys, LedgerConfig::default())
            .await
            .expect("ledger opens")
    }
    /// Opens the ledger and publishes the reference policy in it.
    pub async fn open_published(&self) -> Ledger<SqliteStore> {
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
        consent_in(self.dir.path(), &self.url(), args, stdin)
    }
}

/// Runs the `consent` binary in `cwd` with `--db url`.
pub fn consent_in(cwd: &Path, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consent"));
    cmd.current_dir(cwd)
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
