//! Event payloads are written with serde_json and must be byte-identical to
//! RFC 8785 (JCS, by the serde_json_canonicalizer crate): every payload type
//! declares its fields in sorted order and holds no maps or floats. The
//! hand-assembled entry body must equal JCS of the same object too.

use super::common;

use consent_domain::event::PolicyPublished;
use consent_domain::{Event, LedgerState, Submission, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};

fn jcs(v: &Value) -> String {
    serde_json_canonicalizer::to_string(v).unwrap()
}

fn assert_canonical(event: &Event) {
    let payload = event.payload_json();
    let value: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        payload,
        jcs(&value),
        "payload of {} is not canonical",
        event.kind()
    );
    // Version 2 (either author) and version 1 (no recorded_by).
    for recorded_by in [Some("api-key:0123456789abcdef"), Some("local"), None] {
        let body = consent_ledger::format::body_json(
            u64::MAX >> 11,
            Timestamp::now(),
            recorded_by,
            consent_ledger::format::GENESIS_PREV,
            event.kind(),
            &payload,
            "0123456789abcdef",
        );
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, jcs(&value), "entry body is not canonical");
        assert_eq!(value["v"], if recorded_by.is_some() { 2 } else { 1 });
    }
}

fn published(
    policy: consent_domain::PolicyVersion,
    previous: Option<&consent_domain::PolicyVersion>,
) -> Event {
    let mut state = LedgerState::new();
    let at = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
    if let Some(p) = previous {
        let e = state
            .decide(
                consent_domain::Command::PolicyPublished(consent_domain::command::PublishPolicy {
                    policy: p.clone(),
                }),
                at,
            )
            .unwrap();
        state.apply(&e, at);
    }
    state
        .decide(
            consent_domain::Command::PolicyPublished(consent_domain::command::PublishPolicy {
                policy,
            }),
            at,
        )
        .unwrap()
}

#[test]
fn every_event_type_serialises_canonically() {
    let policy = common::reference_policy();
    let mut v2 = policy.clone();
    v2.version = "v2".try_into().unwrap();
    v2.purposes[0]
        .data_categories
        .push("gender".try_into().unwrap());
    v2.purposes[1].retention.max_days = Some(10);
    v2.rights.pop();
    v2.declared_material_changes
        .push(consent_domain::policy::DeclaredChange {
            description: "New use".into(),
            purpose: Some("marketing".try_into().unwrap()),
        });
    let p2 = published(v2, Some(&policy));
    let Event::PolicyPublished(PolicyPublished { changes, .. }) = &p2 else {
        unreachable!()
    };
    assert!(changes.len() >= 4, "{changes:?}");
    assert_canonical(&published(policy, None));
    assert_canonical(&p2);
    let p = "ab".repeat(32);
    let d = "cd".repeat(32);
    for v in [
        json!({"type": "consent_granted", "subject": p, "purpose": "m", "data_categories": ["a", "b"], "policy_version": "v", "channel": "c", "evidence": d}),
        json!({"type": "consent_withdrawn", "subject": p, "channel": "c"}),
        json!({"type": "consent_withdrawn", "subject": p, "channel": "c", "purpose": "m", "evidence": d}),
        json!({"type": "unsubscribed", "subject": p, "purpose": "m", "data_category": "e", "channel": "c"}),
        json!({"type": "policy_accepted", "subject": p, "policy_version": "v", "method": "continued_use", "channel": "c"}),
        json!({"type": "objection_recorded", "subject": p, "purpose": "m", "channel": "c"}),
        json!({"type": "account_closed", "subject": p, "channel": "c"}),
        json!({"type": "erasure_requested", "subject": p, "channel": "c"}),
        json!({"type": "ledger_initialized", "ledger": "x/y", "key_id": "k", "public_key": p}),
        json!({"type": "key_rotated", "key_id": "k", "public_key": p}),
    ] {
        let kind = v["type"].as_str().unwrap().to_owned();
        let mut payload = v.clone();
        payload.as_object_mut().unwrap().remove("type");
        assert_canonical(&Event::from_payload(&kind, &payload.to_string()).unwrap());
    }
}

proptest! {
    /// Free text anywhere in a policy (names, descriptions, URLs) with any
    /// Unicode, control characters, quotes and escapes still serialises
    /// exactly as JCS writes it.
    #[test]
    fn policy_text_of_any_unicode_is_canonical(
        name in "\\PC*", description in any::<String>(), url in any::<String>(), contact in "[\\x00-\\x7f\u{e000}-\u{10ffff}]*",
    ) {
        let mut policy = common::reference_policy();
        policy.controller.name = name;
        policy.controller.contact = Some(contact);
        policy.purposes[0].description = description;
        policy.url = Some(url);
        assert_canonical(&published(policy, None));
    }
}

#[test]
fn submissions_reject_unknown_fields_at_every_level() {
    let bad = json!({"type": "policy_published", "policy": {"controller": {"id": "x", "name": "y", "extra": 1}}});
    assert!(serde_json::from_value::<Submission>(bad).is_err());
}
