//! API keys as users expect them: created, listed and revoked from the CLI
//! and over HTTP (`admin` scope), expiring, with a last-use time; a
//! revocation made in one process is refused by every server on the
//! ledger within a second.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::common::server::{serve, Proc};
use super::common::{json_lines, on_postgres, TempLedger};

fn create(t: &TempLedger, scopes: &str, extra: &[&str]) -> Value {
    let mut args = vec!["api-key", "create", "--scopes", scopes];
    args.extend_from_slice(extra);
    let out = t.consent(&args, None);
    assert!(out.status.success(), "{out:?}");
    json_lines(&out).remove(0)
}

async fn call(
    method: reqwest::Method,
    base: &str,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn decide(base: &str, key: &str) -> (u16, Value) {
    let body = json!({"subject": "alice@example.com", "purpose": "marketing",
                      "data_category": "email-address"});
    call(
        reqwest::Method::POST,
        base,
        key,
        "/v1/decisions",
        Some(body),
    )
    .await
}

/// Polls `server` with `key` until it refuses it; how long that took.
async fn time_to_refusal(server: &Proc, key: &str, since: Instant) -> (Duration, Value) {
    loop {
        let (status, body) = decide(&server.base, key).await;
        if status == 401 {
            return (since.elapsed(), body);
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the key still works after 5 s"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn keys_are_listed_named_and_expire_and_last_use_is_recorded() {
    let t = TempLedger::with_reference_policy();
    let admin = create(&t, "admin", &["--name", "ops team"]);
    let admin_key = admin["api_key"].as_str().unwrap().to_owned();
    assert_eq!(admin["status"], "active");
    assert_eq!(admin["scopes"], json!(["admin"]));
    let server = serve(&t, "serve.log", &[]).await;

    // Over HTTP: a decide key that expires in two seconds.
    let soon = consent_domain::Timestamp::from_micros(
        consent_domain::Timestamp::now().as_micros() + 2_000_000,
    );
    let (status, made) = call(
        reqwest::Method::POST,
        &server.base,
        &admin_key,
        "/v1/api-keys",
        Some(json!({"scopes": ["decide"], "name": "checkout", "expires_at": soon.to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let short = made["api_key"].as_str().unwrap().to_owned();
    assert_eq!(decide(&server.base, &short).await.0, 200);

    // Bad input: a clear code, nothing created.
    for bad in [
        json!({"scopes": ["root"]}),
        json!({"scopes": []}),
        json!({"scopes": ["decide"], "expires_at": "0d"}),
        json!({"scopes": ["decide"], "expires_at": "90 d"}),
        json!({"scopes": ["decide"], "name": "a\nb"}),
    ] {
        let (status, body) = call(
            reqwest::Method::POST,
            &server.base,
            &admin_key,
            "/v1/api-keys",
            Some(bad),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_api_key")),
            "{body}"
        );
    }
    // A well-formed expiry already past is refused as such.
    let (status, body) = call(
        reqwest::Method::POST,
        &server.base,
        &admin_key,
        "/v1/api-keys",
        Some(json!({"scopes": ["decide"], "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("expiry_in_past")),
        "{body}"
    );
    // Only admin keys manage keys.
    let (status, body) = call(
        reqwest::Method::GET,
        &server.base,
        &short,
        "/v1/api-keys",
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );

    let (status, list) = call(
        reqwest::Method::GET,
        &server.base,
        &admin_key,
        "/v1/api-keys",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{list}");
    assert!(keys
        .iter()
        .all(|k| k.get("api_key").is_none() && k.get("secret_hash").is_none()));
    assert!(
        !list.to_string().contains(&short[20..]),
        "a listing shows no secret"
    );

    // Expiry: refused with its own code once the instant passes.
    let (_, body) = time_to_refusal(&server, &short, Instant::now()).await;
    assert_eq!(body["code"], "api_key_expired", "{body}");

    // Last use is written at the latest when the server stops.
    let mut server = server;
    assert!(server.terminate().success());
    let listed = json_lines(&t.consent(&["api-key", "list"], None));
    let checkout = listed.iter().find(|k| k["name"] == "checkout").unwrap();
    assert_eq!(checkout["status"], "expired");
    assert!(checkout["last_used_at"].is_string(), "{checkout}");
    let ops = listed.iter().find(|k| k["name"] == "ops team").unwrap();
    assert!(ops["last_used_at"].is_string(), "{ops}");
}

#[tokio::test]
async fn a_revocation_reaches_every_serving_process_within_a_second() {
    let t = TempLedger::with_reference_policy();
    let admin = create(&t, "admin", &[])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = create(&t, "decide", &["--name", "first"]);
    let second = create(&t, "decide", &["--name", "second"]);
    let a = serve(&t, "serve-a.log", &[]).await;
    // PostgreSQL: a second server on the same ledger.
    let b = if on_postgres() {
        Some(serve(&t, "serve-b.log", &[]).await)
    } else {
        None
    };
    let servers: Vec<&Proc> = std::iter::once(&a).chain(b.as_ref()).collect();
    for key in [&first, &second] {
        for s in &servers {
            // Used, so each process holds it in its cache.
            assert_eq!(
                decide(&s.base, key["api_key"].as_str().unwrap()).await.0,
                200
            );
        }
    }

    // Revoked by another process (the CLI): every server refuses it.
    let revoked_at = Instant::now();
    let out = t.consent(&["api-key", "revoke", first["id"].as_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_lines(&out)[0]["status"], "revoked");
    for s in &servers {
        let (took, body) = time_to_refusal(s, first["api_key"].as_str().unwrap(), revoked_at).await;
        assert_eq!(body["code"], "api_key_revoked");
        assert!(took < Duration::from_secs(1), "refused after {took:?}");
    }

    // Revoked over HTTP on one server: the other refuses it too.
    let revoked_at = Instant::now();
    let path = format!("/v1/api-keys/{}", second["id"].as_str().unwrap());
    let (status, body) = call(reqwest::Method::DELETE, &a.base, &admin, &path, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("revoked")),
        "{body}"
    );
    for s in &servers {
        let (took, _) = time_to_refusal(s, second["api_key"].as_str().unwrap(), revoked_at).await;
        assert!(took < Duration::from_secs(1), "refused after {took:?}");
    }
    let (status, body) = call(
        reqwest::Method::DELETE,
        &a.base,
        &admin,
        "/v1/api-keys/0000000000000000",
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_api_key"))
    );
}
