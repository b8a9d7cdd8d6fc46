//! The HTTP API over real loopback HTTP: `consent serve` as a child
//! process, API keys made with `consent api-key create`, requests by reqwest.

use super::common;

use std::time::{Duration, Instant};

use common::server::start;
use serde_json::{json, Value};

fn grant(subject: &str, purpose: &str, cats: &[&str]) -> Value {
    json!({"type": "consent_granted", "subject": subject, "purpose": purpose, "data_categories": cats,
           "policy_version": "2023-11-29", "channel": "web-signup-form", "evidence": {"ip": "192.0.2.7"}})
}

fn check(subject: &str, purpose: &str, category: &str) -> Value {
    json!({"subject": subject, "purpose": purpose, "data_category": category})
}

#[tokio::test]
async fn keys_and_scopes_are_enforced_and_bad_bodies_append_nothing() {
    let s = start().await;
    let decide = s.key("decide");
    let record = s.key("record");
    let head = s.head().await;
    let (status, body, ctype) = s
        .post(None, "/v1/events", &grant("a", "marketing", &["name"]))
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(ctype, "application/problem+json");
    let (status, body, _) = s
        .post(
            Some("ck_0000_1111"),
            "/v1/events",
            &grant("a", "marketing", &["name"]),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body, _) = s
        .post(
            Some(&decide),
            "/v1/events",
            &grant("a", "marketing", &["name"]),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (status, body, _) = s
        .post(
            Some(&record),
            "/v1/decisions",
            &check("a", "marketing", "name"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    // Malformed bodies: problem+json with a stable code, nothing appended.
    let mut bad = grant("a", "marketing", &["name"]);
    bad["colour"] = json!("blue");
    let (status, body, ctype) = s.post(Some(&record), "/v1/events", &bad).await;
    assert_eq!(
        (status, body["code"].as_str(), ctype.as_str()),
        (400, Some("invalid_body"), "application/problem+json")
    );
    assert!(body["detail"].as_str().unwrap().contains("colour"));
    assert_eq!(body["type"], "urn:consent-ledger:problem:invalid_body");
    let (status, body, _) = s
        .post(
            Some(&record),
            "/v1/events",
            &grant("a", "astrology", &["name"]),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("unknown_purpose"))
    );
    // Declared, not sent: the server answers 413 from the headers and
    // closes, so a client still writing a 2 MiB body may see a broken pipe
    // before it reads the answer.
    let (status, body) = declared_only(&s.base, &record, "/v1/events", 2 << 20).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert_eq!(s.head().await, head, "nothing was appended");
    // No key secret in any log line.
    let log = std::fs::read_to_string(s.t.dir.path().join("serve.log")).unwrap();
    for key in [&decide, &record] {
        let secret = key.rsplit('_').next().unwrap();
        assert!(!log.contains(secret), "a key secret reached the log");
    }
    assert!(
        log.contains("consent::access"),
        "requests are in the access log"
    );
}

#[tokio::test]
async fn record_decide_with_token_withdraw_and_as_of() {
    let s = start().await;
    let key = s.key("decide,record");
    let (status, g, _) = s
        .post(
            Some(&key),
            "/v1/events",
            &grant("alice@example.com", "marketing", &["email-address"]),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let mut ask = check("alice@example.com", "marketing", "email-address");
    ask["token"] = g["token"].clone();
    let (status, d, _) = s.post(Some(&key), "/v1/decisions", &ask).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (d["allowed"].as_bool(), d["reason"].as_str()),
        (Some(true), Some("consent_given"))
    );
    assert_eq!(d["evidence"][1]["seq"], g["seq"]);
    assert_eq!(d["evidence"][1]["hash"], g["hash"]);
    assert_eq!(d["legal_basis"], "consent");
    assert_eq!(d["policy_version"], "2023-11-29");

    let withdraw = json!({"type": "consent_withdrawn", "subject": "alice@example.com", "purpose": "marketing", "channel": "email-unsubscribe-link"});
    let (status, w, _) = s.post(Some(&key), "/v1/events", &withdraw).await;
    assert_eq!(status, 201);
    ask["token"] = w["token"].clone();
    let (_, d, _) = s.post(Some(&key), "/v1/decisions", &ask).await;
    assert_eq!(
        (d["allowed"].as_bool(), d["reason"].as_str()),
        (Some(false), Some("consent_withdrawn"))
    );
    ask["at"] = g["recorded_at"].clone();
    let (_, d, _) = s.post(Some(&key), "/v1/decisions", &ask).await;
    assert_eq!(
        d["reason"], "consent_given",
        "processing before the withdrawal stays lawful"
    );

    // A legal obligation needs no consent; a batch answers hundreds at once.
    let checks: Vec<Value> = (0..300)
        .map(|i| {
            if i % 2 == 0 {
                check("alice@example.com", "legal-disclosure", "name")
            } else {
                check(&format!("u{i}"), "marketing", "name")
            }
        })
        .collect();
    let (status, b, _) = s
        .post(
            Some(&key),
            "/v1/decisions/batch",
            &json!({"checks": checks}),
        )
        .await;
    assert_eq!(status, 200);
    let decisions = b["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 300);
    assert_eq!(decisions[0]["reason"], "legal_obligation");
    assert_eq!(decisions[1]["reason"], "no_consent");

    // Idempotency: a retry returns the original entry; another body conflicts.
    let client = reqwest::Client::new();
    let send = |body: Value| {
        client
            .post(format!("{}/v1/events", s.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "k-1")
            .json(&body)
            .send()
    };
    let first = send(grant("bob", "marketing", &["name"])).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(grant("bob", "marketing", &["name"])).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["seq"], first["seq"]);
    let other = send(grant("bob", "marketing", &["email-address"]))
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
}

#[tokio::test]
async fn policy_update_reacceptance_and_watch_stream() {
    let s = start().await;
    let key = s.key("decide,record,policy,audit");
    for subject in ["carol", "dave"] {
        let (status, _, _) = s
            .post(
                Some(&key),
                "/v1/events",
                &grant(subject, "affiliate-sharing", &["name"]),
            )
            .await;
        assert_eq!(status, 201);
    }
    // The watch stream, from the start: it must show dave's grant.
    let watch = reqwest::Client::new()
        .get(format!("{}/v1/watch?from=0", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    let mut stream = watch.bytes_stream();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    use futures_util::StreamExt;
    while !seen.contains("id: 3") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("watch events in time");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    assert!(seen.contains("event: consent_granted"));
    assert!(!seen.contains("carol"), "no subject ids in the stream");

    let mut v2: Value = serde_json::from_str(common::REFERENCE_POLICY).unwrap();
    v2["version"] = json!("2024-06-01");
    v2["effective_at"] = json!(consent_domain::Timestamp::now().to_string());
    v2["declared_material_changes"] = json!([{"purpose": "affiliate-sharing", "description": "affiliates use data for analytics"}]);
    let (status, p, _) = s.post(Some(&key), "/v1/policies", &v2).await;
    assert_eq!(status, 201, "{p}");
    let mut ask = check("carol", "affiliate-sharing", "name");
    ask["token"] = p["token"].clone();
    let (_, d, _) = s.post(Some(&key), "/v1/decisions", &ask).await;
    assert_eq!(d["reason"], "reconsent_required");
    let (status, list) = s
        .get(&key, "/v1/policies/2024-06-01/reacceptance?limit=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    assert_eq!(list["subjects"].as_array().unwrap().len(), 1);
    let next = list["next"].as_str().unwrap().to_owned();
    let (_, page2) = s
        .get(
            &key,
            &format!("/v1/policies/2024-06-01/reacceptance?limit=1&after={next}"),
        )
        .await;
    assert_eq!(page2["subjects"].as_array().unwrap().len(), 1);
    assert!(page2["next"].is_null());

    let accept = json!({"type": "policy_accepted", "subject": "carol", "policy_version": "2024-06-01", "method": "explicit", "channel": "email-reconsent-campaign"});
    let (status, a, _) = s.post(Some(&key), "/v1/events", &accept).await;
    assert_eq!(status, 201);
    ask["token"] = a["token"].clone();
    let (_, d, _) = s.post(Some(&key), "/v1/decisions", &ask).await;
    assert_eq!(d["reason"], "consent_renewed");
    let (_, list) = s.get(&key, "/v1/policies/2024-06-01/reacceptance").await;
    assert_eq!(list["count"], 1);

    let (status, versions) = s.get(&key, "/v1/policies").await;
    assert_eq!(status, 200);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let (_, history) = s.get(&key, "/v1/subjects/carol/history").await;
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["consent_granted", "policy_accepted"]);
    // Each entry names the API key that asked for it, by id, never secret.
    let key_id = key.split('_').nth(1).unwrap();
    for entry in history["entries"].as_array().unwrap() {
        assert_eq!(entry["recorded_by"], format!("api-key:{key_id}"), "{entry}");
    }
    // The decision timeline for affiliate-sharing/name: granted, suspended
    // by the material change, renewed by the acceptance.
    let steps: Vec<&str> = history["decision_timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["purpose"] == "affiliate-sharing" && s["data_category"] == "name")
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "no_consent",
            "consent_given",
            "reconsent_required",
            "consent_renewed"
        ]
    );
    let out = s.t.consent(&["verify"], None);
    assert!(out.status.success());
}

#[tokio::test]
async fn the_openapi_document_is_served_matches_the_committed_one_and_every_path_answers() {
    let s = start().await;
    let served: Value = reqwest::get(format!("{}/openapi.json", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: Value =
        serde_json::from_str(include_str!("../../schemas/openapi.json")).unwrap();
    assert_eq!(
        served, committed,
        "schemas/openapi.json drifted; run `cargo run -- schemas --out schemas`"
    );
    assert_eq!(served["openapi"], "3.1.0");
    let client = reqwest::Client::new();
    for (path, item) in served["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = format!(
                "{}{}",
                s.base,
                path.replace("{version}", "2023-11-29")
                    .replace("{subject}", "x")
                    .replace("{seq}", "1")
                    .replace("{tile}", "0/000")
                    .replace("{id}", "0000000000000000")
            );
            let req = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).json(&json!({})),
                "delete" => client.delete(&url),
                other => panic!("undocumented method {other}"),
            };
            let status = req.send().await.unwrap().status().as_u16();
            let open = item[method]["security"].is_null();
            let expected = if open { 200 } else { 401 };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
}

/// GET with a key: status, content type, body text.
async fn get_raw(base: &str, key: &str, path: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

#[tokio::test]
async fn impossible_requests_get_specific_problems_at_once() {
    let s = start().await;
    let audit = s.key("audit");
    let record = s.key("record");
    let problem = |(status, ctype, body): (u16, String, String)| {
        assert_eq!(ctype, "application/problem+json", "{status} {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        (status, v["code"].as_str().unwrap().to_owned())
    };
    // A tile index past any possible log: 404, not another tile's bytes.
    let overflow = "/log/tile/entries/x036/x028/x797/x018/x963/968.p/1";
    assert_eq!(problem(get_raw(&s.base, &audit, overflow).await).0, 404);
    // Proofs for sizes the log does not have: 422 without waiting.
    for path in [
        "/v1/proofs/inclusion?seq=18446744073709551615",
        "/v1/proofs/inclusion?seq=9",
        "/v1/proofs/consistency?old=999",
    ] {
        let started = Instant::now();
        assert_eq!(
            problem(get_raw(&s.base, &audit, path).await),
            (422, "invalid_tree_size".into()),
            "{path}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{path} waited");
    }
    // Bad query and path values are problems too.
    let watch = s.key("watch");
    assert_eq!(
        problem(get_raw(&s.base, &watch, "/v1/watch?from=abc").await),
        (400, "invalid_query".into())
    );
    assert_eq!(
        problem(get_raw(&s.base, &audit, "/v1/subjects/%FF%FE/history").await),
        (400, "invalid_path".into())
    );
    // Evidence a parser would change is refused, not altered.
    let head = s.head().await;
    for evidence in [
        r#"{"n": 9007199254740993}"#,
        r#"{"n": 0.1e-400}"#,
        r#"{"n": 1e20}"#,
        r#"{"ip": "192.0.2.1", "ip": "198.51.100.7"}"#,
    ] {
        let body = format!(
            r#"{{"type": "consent_granted", "subject": "alice@example.com", "purpose": "marketing",
                "data_categories": ["email-address"], "policy_version": "2023-11-29",
                "channel": "web", "evidence": {evidence}}}"#
        );
        let r = reqwest::Client::new()
            .post(format!("{}/v1/events", s.base))
            .bearer_auth(&record)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{evidence}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "not_i_json", "{v}");
    }
    assert_eq!(s.head().await, head, "nothing was appended");
    // An optional member is absent or a value: `null` is refused, as the
    // OpenAPI document says, and so are both subject and pseudonym.
    let decide = s.key("decide");
    for body in [
        json!({"subject": "alice@example.com", "purpose": "marketing", "data_category": "email-address", "token": null}),
        json!({"subject": null, "pseudonym": "00".repeat(32), "purpose": "marketing", "data_category": "email-address"}),
        json!({"subject": "alice@example.com", "purpose": "marketing", "data_category": "email-address", "at": null}),
        json!({"subject": "alice@example.com", "pseudonym": "00".repeat(32), "purpose": "marketing", "data_category": "email-address"}),
    ] {
        let (status, v, _) = s.post(Some(&decide), "/v1/decisions", &body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("invalid_body")),
            "{body}"
        );
    }
    let (status, v, _) = s
        .post(
            Some(&decide),
            "/v1/decisions/batch",
            &json!({"checks": [{"subject": "alice@example.com", "purpose": "marketing", "data_category": "email-address"}], "token": null}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_body")),
        "{v}"
    );
    // A subject id is at most 256 bytes as given, not only once canonical.
    let long = format!("email:{}@example.com", "a".repeat(240));
    let (status, v, _) = s
        .post(
            Some(&decide),
            "/v1/decisions",
            &check(&long, "marketing", "email-address"),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_subject")),
        "{v}"
    );
}

#[tokio::test]
async fn a_decide_key_cannot_tell_a_known_subject_from_an_unknown_one() {
    let s = start().await;
    let record = s.key("record");
    let decide = s.key("decide");
    let (status, _, _) = s
        .post(
            Some(&record),
            "/v1/events",
            &json!({"type": "consent_granted", "subject": "known@example.com",
                    "purpose": "affiliate-sharing", "data_categories": ["email-address"],
                    "policy_version": "2023-11-29", "channel": "web"}),
        )
        .await;
    assert_eq!(status, 201);
    // Marketing was never granted to either: the answers must be equal
    // apart from the subject asked about.
    let ask = |subject: &str| json!({"subject": subject, "purpose": "marketing", "data_category": "email-address"});
    let (a, known, _) = s
        .post(Some(&decide), "/v1/decisions", &ask("known@example.com"))
        .await;
    let (b, unknown, _) = s
        .post(Some(&decide), "/v1/decisions", &ask("nobody@example.com"))
        .await;
    assert_eq!((a, b), (200, 200));
    let strip = |mut v: Value| {
        // The instant and token of the answer differ by time, not subject.
        for k in ["at", "as_of", "token", "evaluated_at"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(
        strip(known.clone()),
        strip(unknown.clone()),
        "{known} vs {unknown}"
    );
    assert!(
        known.get("pseudonym").is_none() && known.get("subject").is_none(),
        "{known}"
    );
}

/// A POST whose headers declare `length` bytes of JSON and whose body is
/// never sent; returns the status and the problem body.
async fn declared_only(base: &str, key: &str, path: &str, length: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
