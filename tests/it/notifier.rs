//! Recipient notification end to end: a withdrawal and an erasure reach
//! every recipient the reference policy names, as signed webhooks to a real
//! HTTP receiver that fails at first; each recipient sees each notification
//! succeed exactly once, each confirmed delivery is a ledger entry, an
//! unreachable recipient becomes a dead letter, and a restart re-sends
//! nothing already confirmed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ed25519_dalek::Verifier;
use serde_json::{json, Value};

use super::common::server::spawn;
use super::common::{json_lines, TempLedger};

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// (notification id, recipient) → tries.
    tries: HashMap<(String, String), u32>,
    /// Accepted deliveries, in order: (notification id, recipient, body).
    accepted: Vec<(String, String, Value)>,
}

struct Receiver {
    seen: Mutex<Seen>,
    key: ed25519_dalek::VerifyingKey,
}

/// `group` fails twice before accepting; `infrastructure-providers` always
/// fails; everyone else accepts at once. Every request's signature is checked.
async fn hook(
    State(r): State<Arc<Receiver>>,
    Path(recipient): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let sig = header("consent-signature");
    let parts: HashMap<&str, &str> = sig.split(',').filter_map(|p| p.split_once('=')).collect();
    let bytes: [u8; 64] = hex::decode(parts["ed25519"]).unwrap().try_into().unwrap();
    let signed = format!("{}.{}", parts["t"], body);
    if r.key
        .verify(
            signed.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&bytes),
        )
        .is_err()
    {
        return StatusCode::UNAUTHORIZED;
    }
    let id = header("consent-notification-id");
    let mut seen = r.seen.lock().unwrap();
    let tries = seen
        .tries
        .entry((id.clone(), recipient.clone()))
        .or_default();
    *tries += 1;
    let accept = match recipient.as_str() {
        "group" => *tries > 2,
        "infrastructure-providers" => false,
        _ => true,
    };
    if accept {
        seen.accepted
            .push((id, recipient, serde_json::from_str(&body).unwrap()));
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn receiver(key: ed25519_dalek::VerifyingKey) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver {
        seen: Mutex::default(),
        key,
    });
    let app = axum::Router::new()
        .route("/hooks/{recipient}", axum::routing::post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, base)
}

async fn post(base: &str, key: &str, body: &Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.unwrap()
}

/// Waits until `done` holds for what the receiver saw.
async fn wait_seen(r: &Receiver, what: &str, done: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&r.seen.lock().unwrap()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn accepted_for(seen: &Seen, seq: u64) -> Vec<String> {
    let mut v: Vec<String> = seen
        .accepted
        .iter()
        .filter(|(id, _, _)| id.starts_with(&format!("{seq}:")))
        .map(|(_, r, _)| r.clone())
        .collect();
    v.sort();
    v
}

/// The (entry, recipient) of every `recipient_notified` entry in the log,
/// once `done` holds for them (or after 30 s).
async fn logged_when(
    t: &TempLedger,
    done: impl Fn(&[(u64, String)]) -> bool,
) -> Vec<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let export = t.consent(&["export", "--out", "-"], None);
        let mut logged: Vec<(u64, String)> = json_lines(&export)
            .iter()
            .filter(|l| l["type"] == "recipient_notified")
            .map(|l| {
                (
                    l["event"]["entry"].as_u64().unwrap(),
                    l["event"]["recipient"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        logged.sort();
        if done(&logged) || Instant::now() > deadline {
            return logged;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn withdrawal_and_erasure_reach_every_recipient_exactly_once() {
    let t = TempLedger::with_reference_policy();
    // The webhook key is made on first use; the receiver trusts its public half.
    let webhook = consent_ledger::KeyStore::open(t.keys())
        .unwrap()
        .named("webhook")
        .unwrap();
    let (r, hooks) = receiver(webhook.verifying()).await;
    let recipients = json!({"recipients": {
        "group": {"url": format!("{hooks}/hooks/group")},
        "analytics-providers": {"url": format!("{hooks}/hooks/analytics-providers")},
        "infrastructure-providers": {"url": format!("{hooks}/hooks/infrastructure-providers")},
        "research-partners": {"url": format!("{hooks}/hooks/research-partners")},
    }});
    let file = t.dir.path().join("recipients.json");
    std::fs::write(&file, recipients.to_string()).unwrap();
    let args = [
        "--notify-allow-loopback-http",
        "--recipients",
        file.to_str().unwrap(),
        "--notify-attempts",
        "3",
        "--notify-backoff-ms",
        "10",
    ];
    let (mut serve, base) = spawn(&t, "serve.log", &args).await;
    let out = t.consent(&["api-key", "create", "--scopes", "record"], None);
    let key = json_lines(&out)[0]["api_key"].as_str().unwrap().to_owned();

    let grant = |s: &str, p: &str| {
        json!({"type": "consent_granted", "subject": s, "purpose": p,
        "data_categories": ["email-address"], "policy_version": "2023-11-29", "channel": "web"})
    };
    post(&base, &key, &grant("alice@example.com", "marketing")).await;
    let w = post(
        &base,
        &key,
        &json!({"type": "consent_withdrawn", "subject": "alice@example.com",
        "purpose": "marketing", "channel": "account-settings"}),
    )
    .await;
    let withdrawal = w["seq"].as_u64().unwrap();
    assert_eq!(
        w["notify_recipients"],
        json!(["analytics-providers", "group", "infrastructure-providers"])
    );

    wait_seen(&r, "the withdrawal's deliveries", |s| {
        accepted_for(s, withdrawal).len() == 2
    })
    .await;
    // The dead letter is written after the last try of the failing recipient.
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let d = json_lines(&t.consent(&["dead-letters"], None));
        if !d.is_empty() {
            break d;
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (
            dead[0]["seq"].as_u64(),
            dead[0]["recipient"].as_str(),
            dead[0]["attempts"].as_u64()
        ),
        (Some(withdrawal), Some("infrastructure-providers"), Some(3))
    );
    {
        let seen = r.seen.lock().unwrap();
        assert_eq!(
            accepted_for(&seen, withdrawal),
            ["analytics-providers", "group"]
        );
        assert_eq!(
            seen.tries[&(format!("{withdrawal}:group"), "group".to_owned())],
            3,
            "two failures, then success"
        );
        let body = &seen.accepted.iter().find(|a| a.1 == "group").unwrap().2;
        assert_eq!(body["action"], "stop_processing");
        assert_eq!(body["purposes"], json!(["marketing"]));
        assert_eq!(body["entry"]["hash"], w["hash"]);
        assert_eq!(
            body["subject"], w["subject"],
            "a pseudonym, never the subject's address"
        );
    }

    // Recorded before the restart (the entry follows the 2xx answer).
    logged_when(&t, |l| l.len() == 2).await;

    // A restart re-sends nothing: the erasure after it is notified, and the
    // withdrawal's recipients are still told once each.
    let _ = serve.kill();
    let _ = serve.wait();
    let (mut serve, base) = spawn(&t, "serve-2.log", &args).await;
    post(&base, &key, &grant("bob@example.com", "partner-sharing")).await;
    let e = post(
        &base,
        &key,
        &json!({"type": "erasure_requested", "subject": "bob@example.com",
        "channel": "privacy-request-form"}),
    )
    .await;
    let erasure = e["seq"].as_u64().unwrap();
    let expected: Vec<String> = e["notify_recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .filter(|r| r != "infrastructure-providers")
        .filter(|r| ["group", "analytics-providers", "research-partners"].contains(&r.as_str()))
        .collect();
    assert!(expected.contains(&"research-partners".to_owned()), "{e}");
    wait_seen(&r, "the erasure's deliveries", |s| {
        let mut want = expected.clone();
        want.sort();
        accepted_for(s, erasure) == want
    })
    .await;
    {
        let seen = r.seen.lock().unwrap();
        assert_eq!(
            accepted_for(&seen, withdrawal),
            ["analytics-providers", "group"],
            "nothing re-sent"
        );
        let erase = seen
            .accepted
            .iter()
            .find(|a| a.0.starts_with(&format!("{erasure}:")))
            .unwrap();
        assert_eq!(erase.2["action"], "erase");
    }
    // Every confirmed delivery is in the log, once (the entry follows the
    // recipient's 2xx answer: wait for it), and the log verifies.
    let delivered: Vec<(u64, String)> = {
        let seen = r.seen.lock().unwrap();
        let mut d: Vec<(u64, String)> = seen
            .accepted
            .iter()
            .map(|(id, rcpt, _)| (id.split(':').next().unwrap().parse().unwrap(), rcpt.clone()))
            .collect();
        d.sort();
        d
    };
    let logged = logged_when(&t, |l| l.len() >= delivered.len()).await;
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(logged, delivered, "one entry per confirmed delivery");
    assert!(t.consent(&["verify"], None).status.success());
}

#[tokio::test]
async fn recipient_urls_outside_the_allowed_networks_are_refused() {
    let t = TempLedger::with_reference_policy();
    // Publication: only https, or http to loopback; never file: or metadata.
    let policy_key = json_lines(&t.consent(&["api-key", "create", "--scopes", "policy"], None))[0]
        ["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = consent_ledger::KeyStore::open(t.keys())
        .unwrap()
        .named("webhook")
        .unwrap();
    let (r, hooks) = receiver(webhook.verifying()).await;
    let port = hooks.rsplit(':').next().unwrap().to_owned();
    // Delivery: loopback without the flag (literal, and a name resolving
    // to it over https) and cloud metadata, all refused; nothing is sent.
    let recipients = json!({"recipients": {
        "group": {"url": format!("{hooks}/hooks/group")},
        "analytics-providers": {"url": format!("https://localhost:{port}/hooks/analytics-providers")},
        "infrastructure-providers": {"url": "https://169.254.169.254/latest/meta-data/"},
    }});
    let file = t.dir.path().join("recipients.json");
    std::fs::write(&file, recipients.to_string()).unwrap();
    let args = [
        "--recipients",
        file.to_str().unwrap(),
        "--notify-attempts",
        "2",
        "--notify-backoff-ms",
        "10",
    ];
    let (mut serve, base) = spawn(&t, "serve.log", &args).await;

    let mut policy: Value = serde_json::to_value(super::common::reference_policy()).unwrap();
    policy["version"] = json!("2099-01-01");
    policy["effective_at"] = json!("2099-01-01T00:00:00Z");
    for (url, code) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "invalid_notify_url",
        ),
        ("file:///etc/passwd", "invalid_notify_url"),
        ("https://user:secret@partner.example/", "invalid_notify_url"),
    ] {
        policy["recipients"][0]["notify_url"] = json!(url);
        let answer = reqwest::Client::new()
            .post(format!("{base}/v1/policies"))
            .bearer_auth(&policy_key)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 422, "{url}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
    }

    let key = json_lines(&t.consent(&["api-key", "create", "--scopes", "record"], None))[0]
        ["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &base,
        &key,
        &json!({"type": "consent_granted", "subject": "alice@example.com",
        "purpose": "marketing", "data_categories": ["email-address"],
        "policy_version": "2023-11-29", "channel": "web"}),
    )
    .await;
    post(
        &base,
        &key,
        &json!({"type": "consent_withdrawn", "subject": "alice@example.com",
        "purpose": "marketing", "channel": "account-settings"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let d = json_lines(&t.consent(&["dead-letters"], None));
        if d.len() >= 3 {
            break d;
        }
        assert!(Instant::now() < deadline, "dead letters: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reason = |r: &str| {
        dead.iter()
            .find(|d| d["recipient"] == r)
            .map(|d| d["last_error"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert!(reason("group").contains("loopback"), "{dead:?}");
    assert!(
        reason("analytics-providers").contains("refused address"),
        "{dead:?}"
    );
    assert!(
        reason("infrastructure-providers").contains("link-local"),
        "{dead:?}"
    );
    assert!(
        r.seen.lock().unwrap().accepted.is_empty(),
        "nothing reached the receiver"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
