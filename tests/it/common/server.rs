//! A `consent serve` child process on a free loopback port, with helpers
//! to call it over real HTTP.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{json_lines, TempLedger};

pub struct Server {
    child: Child,
    pub base: String,
    pub t: TempLedger,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start() -> Server {
    let t = TempLedger::with_reference_policy();
    let (child, base) = spawn(&t, "serve.log", &[]).await;
    Server { child, base, t }
}

/// Starts `consent serve` for `t`'s ledger with `extra` arguments, logging
/// to `log` in its directory; returns once `/healthz` answers.
pub async fn spawn(t: &TempLedger, log: &str, extra: &[&str]) -> (Child, String) {
    spawn_with(t, log, extra, &[]).await
}

/// [`spawn`] with extra environment variables.
pub async fn spawn_with(
    t: &TempLedger,
    log: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = start_serve(t, log, extra, env);
    let base = child.1.clone();
    wait_healthy(&base, &mut child.0).await;
    child
}

/// Starts `consent serve` without waiting for it (it may refuse to start).
pub fn start_serve(
    t: &TempLedger,
    log: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let port = free_port();
    let log = std::fs::File::create(t.dir.path().join(log)).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let keys = t.keys();
    let url = t.url();
    let mut args = vec![
        "--db",
        &url,
        "--keys",
        keys.to_str().unwrap(),
        "serve",
        "--listen",
        &listen,
    ];
    args.extend_from_slice(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(t.dir.path())
        .args(&args)
        .env("CONSENT_LOG", "debug")
        // A small disk reserve per test ledger (tests that need one say so).
        .env("CONSENT_DISK_RESERVE_MIB", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// Waits (up to 30 s) until `base/healthz` answers 200.
pub async fn wait_healthy(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited before answering"
        );
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Server {
    pub fn key(&self, scopes: &str) -> String {
        let out = self
            .t
            .consent(&["api-key", "create", "--scopes", scopes], None);
        json_lines(&out)[0]["api_key"].as_str().unwrap().to_owned()
    }
    pub async fn post(&self, key: Option<&str>, path: &str, body: &Value) -> (u16, Value, String) {
        let mut r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, resp.json().await.unwrap_or(Value::Null), ctype)
    }
    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }
    pub async fn head(&self) -> u64 {
        let v: Value = reqwest::get(format!("{}/healthz", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["head"].as_u64().unwrap()
    }
}

/// A child process of the test (a server, a relay), killed with SIGKILL
/// when dropped; if the test is failing, the tail of its log is printed.
pub struct Proc {
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

/// Sends SIGTERM to a child process.
pub fn sigterm(child: &Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child has a pid");
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
}

impl Proc {
    /// SIGTERM, then waits for the exit (up to 30 s); the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        sigterm(&self.child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    pub fn kill_9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_9();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- {} (newest first)\n{}",
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}

/// `consent serve` for `t`'s ledger as a [`Proc`], logging to `log`.
pub async fn serve(t: &TempLedger, log: &str, extra: &[&str]) -> Proc {
    serve_with(t, log, extra, &[]).await
}

/// [`serve`] with extra environment variables.
pub async fn serve_with(t: &TempLedger, log: &str, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let (child, base) = spawn_with(t, log, extra, env).await;
    Proc {
        child,
        base,
        log: t.dir.path().join(log),
    }
}

/// POSTs JSON with a bearer key; the status and the JSON answer.
pub async fn post(base: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}
