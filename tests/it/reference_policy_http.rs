//! The reference policy (`shared/reference/`, encoded in
//! `examples/reference-policy.json`) end to end over real HTTP: every right
//! and rule it describes, each decision and reason asserted.

use super::common;

use common::server::{start, Server};
use serde_json::{json, Value};

async fn record(s: &Server, key: &str, v: Value) -> Value {
    let (status, body, _) = s.post(Some(key), "/v1/events", &v).await;
    assert!(status == 201, "{v} -> {status} {body}");
    body
}

async fn ask(
    s: &Server,
    key: &str,
    subject: Value,
    purpose: &str,
    category: &str,
    at: Option<&Value>,
    token: &Value,
) -> (bool, String) {
    let mut q = json!({"purpose": purpose, "data_category": category, "token": token});
    match subject.as_str() {
        Some(p) if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) => {
            q["pseudonym"] = subject.clone()
        }
        _ => q["subject"] = subject.clone(),
    }
    if let Some(at) = at {
        q["at"] = at.clone();
    }
    let (status, d, _) = s.post(Some(key), "/v1/decisions", &q).await;
    assert_eq!(status, 200, "{d}");
    (
        d["allowed"].as_bool().unwrap(),
        d["reason"].as_str().unwrap().to_owned(),
    )
}

fn ev(kind: &str, subject: &str, extra: Value) -> Value {
    let mut v = json!({"type": kind, "subject": subject, "channel": "web"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test]
async fn the_reference_policy_end_to_end() {
    let s = start().await;
    let key = s.key("decide,record,policy,audit");
    let v1 = json!("2023-11-29");
    let s_ = |x: &str| json!(x);

    // Registration: the administrator accepts the policy (contract purposes hold).
    let a = record(
        &s,
        &key,
        ev(
            "policy_accepted",
            "admin@plant.example",
            json!({"policy_version": v1, "method": "explicit"}),
        ),
    )
    .await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "online-services",
            "company-name",
            None,
            &a["token"]
        )
        .await,
        (true, "contract".into())
    );

    // III.1 Sharing outside the group only with explicit consent.
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "partner-sharing",
            "email-address",
            None,
            &a["token"]
        )
        .await,
        (false, "no_consent".into())
    );
    let g = record(&s, &key, ev("consent_granted", "admin@plant.example", json!({"purpose": "partner-sharing", "data_categories": ["email-address", "company-name"], "policy_version": v1, "evidence": {"form": "partner consent checkbox", "ip": "203.0.113.9"}}))).await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "partner-sharing",
            "email-address",
            None,
            &g["token"]
        )
        .await,
        (true, "consent_given".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "partner-sharing",
            "name",
            None,
            &g["token"]
        )
        .await,
        (false, "data_category_not_consented".into())
    );

    // III.2 Disclosure required by law: no consent needed, only its own categories.
    assert_eq!(
        ask(
            &s,
            &key,
            s_("someone-else@example.com"),
            "legal-disclosure",
            "login-information",
            None,
            &g["token"]
        )
        .await,
        (true, "legal_obligation".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            s_("someone-else@example.com"),
            "legal-disclosure",
            "gender",
            None,
            &g["token"]
        )
        .await,
        (false, "data_category_outside_purpose".into())
    );

    // V.4 Withdrawal at any time; processing before it stays lawful.
    let w = record(
        &s,
        &key,
        ev(
            "consent_withdrawn",
            "admin@plant.example",
            json!({"purpose": "partner-sharing"}),
        ),
    )
    .await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "partner-sharing",
            "email-address",
            None,
            &w["token"]
        )
        .await,
        (false, "consent_withdrawn".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "partner-sharing",
            "email-address",
            Some(&g["recorded_at"]),
            &w["token"]
        )
        .await,
        (true, "consent_given".into())
    );
    let recipients: Vec<&str> = w["notify_recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        recipients,
        ["analytics-providers", "research-partners"],
        "the withdrawn purpose's recipients are told"
    );

    // V.4 Unsubscribe from advertising through the email itself: email stops, SMS goes on.
    record(&s, &key, ev("consent_granted", "buyer@example.com", json!({"purpose": "marketing", "data_categories": ["email-address", "phone-number"], "policy_version": v1}))).await;
    let u = record(&s, &key, ev("unsubscribed", "buyer@example.com", json!({"purpose": "marketing", "data_category": "email-address", "channel": "email-unsubscribe-link"}))).await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("buyer@example.com"),
            "marketing",
            "email-address",
            None,
            &u["token"]
        )
        .await,
        (false, "unsubscribed".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            s_("buyer@example.com"),
            "marketing",
            "phone-number",
            None,
            &u["token"]
        )
        .await,
        (true, "consent_given".into())
    );

    // III.3 + VII An affiliate changes the purpose of processing: a material change; consent must be given again.
    let af = record(&s, &key, ev("consent_granted", "partner@example.com", json!({"purpose": "affiliate-sharing", "data_categories": ["name", "email-address"], "policy_version": v1}))).await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("partner@example.com"),
            "affiliate-sharing",
            "name",
            None,
            &af["token"]
        )
        .await,
        (true, "consent_given".into())
    );
    let mut v2: Value = serde_json::from_str(common::REFERENCE_POLICY).unwrap();
    v2["version"] = json!("2024-03-01");
    v2["effective_at"] = json!(consent_domain::Timestamp::now().to_string());
    let purposes = v2["purposes"].as_array_mut().unwrap();
    let affiliate = purposes
        .iter_mut()
        .find(|p| p["id"] == "affiliate-sharing")
        .unwrap();
    affiliate["data_categories"]
        .as_array_mut()
        .unwrap()
        .push(json!("operating-habits"));
    affiliate["description"] =
        json!("Sharing with affiliates, who will also analyse operating habits");
    let (status, p2, _) = s.post(Some(&key), "/v1/policies", &v2).await;
    assert_eq!(status, 201, "{p2}");
    assert_eq!(
        ask(
            &s,
            &key,
            s_("partner@example.com"),
            "affiliate-sharing",
            "name",
            None,
            &p2["token"]
        )
        .await,
        (false, "reconsent_required".into())
    );
    // Marketing was not changed: its consent carries over.
    assert_eq!(
        ask(
            &s,
            &key,
            s_("buyer@example.com"),
            "marketing",
            "phone-number",
            None,
            &p2["token"]
        )
        .await,
        (true, "consent_given".into())
    );
    let (_, v2_info) = s.get(&key, "/v1/policies/2024-03-01").await;
    assert!(v2_info["material"].as_bool().unwrap());
    let (_, list) = s.get(&key, "/v1/policies/2024-03-01/reacceptance").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["subjects"][0], af["subject"]);
    // VII Continued use is not enough for a material change; explicit re-acceptance is.
    let (status, refused, _) = s
        .post(
            Some(&key),
            "/v1/events",
            &ev(
                "policy_accepted",
                "partner@example.com",
                json!({"policy_version": "2024-03-01", "method": "continued_use"}),
            ),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("continued_use_not_sufficient"))
    );
    let r = record(&s, &key, ev("policy_accepted", "partner@example.com", json!({"policy_version": "2024-03-01", "method": "explicit", "channel": "email-reconsent-campaign"}))).await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("partner@example.com"),
            "affiliate-sharing",
            "name",
            None,
            &r["token"]
        )
        .await,
        (true, "consent_renewed".into())
    );
    let (_, list) = s.get(&key, "/v1/policies/2024-03-01/reacceptance").await;
    assert_eq!(list["count"], 0);

    // I. Internal analysis rests on legitimate interest: it holds until the subject objects.
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "service-improvement",
            "device-information",
            None,
            &r["token"]
        )
        .await,
        (true, "legitimate_interest".into())
    );
    let o = record(
        &s,
        &key,
        ev(
            "objection_recorded",
            "admin@plant.example",
            json!({"purpose": "service-improvement", "channel": "privacy-mailbox"}),
        ),
    )
    .await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "service-improvement",
            "device-information",
            None,
            &o["token"]
        )
        .await,
        (false, "objected".into())
    );
    let (status, body, _) = s
        .post(
            Some(&key),
            "/v1/events",
            &ev(
                "objection_recorded",
                "admin@plant.example",
                json!({"purpose": "marketing"}),
            ),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("objection_not_applicable"))
    );

    // V.5 Account cancellation: services stop; legal obligations remain.
    let c = record(
        &s,
        &key,
        ev(
            "account_closed",
            "admin@plant.example",
            json!({"channel": "account-settings"}),
        ),
    )
    .await;
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "online-services",
            "company-name",
            None,
            &c["token"]
        )
        .await,
        (false, "account_closed".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            s_("admin@plant.example"),
            "legal-disclosure",
            "name",
            None,
            &c["token"]
        )
        .await,
        (true, "legal_obligation".into())
    );

    // V.3 Erasure: every recipient that got the data is to be told; nothing
    // is allowed any more; the chain still verifies.
    let e = record(
        &s,
        &key,
        ev(
            "erasure_requested",
            "buyer@example.com",
            json!({"channel": "privacy-mailbox"}),
        ),
    )
    .await;
    let told: Vec<&str> = e["notify_recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for r in [
        "group",
        "infrastructure-providers",
        "analytics-providers",
        "public-authorities",
    ] {
        assert!(told.contains(&r), "{r} is told: {told:?}");
    }
    assert!(
        !told.contains(&"affiliates"),
        "affiliates never got this subject's data: {told:?}"
    );
    assert_eq!(
        ask(
            &s,
            &key,
            e["subject"].clone(),
            "marketing",
            "phone-number",
            None,
            &e["token"]
        )
        .await,
        (false, "subject_erased".into())
    );
    assert_eq!(
        ask(
            &s,
            &key,
            e["subject"].clone(),
            "legal-disclosure",
            "name",
            None,
            &e["token"]
        )
        .await,
        (false, "subject_erased".into())
    );
    let out = s.t.consent(&["verify"], None);
    assert!(
        out.status.success(),
        "the chain verifies after erasure: {out:?}"
    );
    let export = s.t.consent(&["export", "--out", "-"], None);
    assert!(!String::from_utf8_lossy(&export.stdout).contains("buyer@example.com"));
}
