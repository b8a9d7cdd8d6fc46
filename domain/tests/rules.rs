//! The rules, one test per rule, as given / when / then: given the events a
//! ledger holds, when a command arrives at an instant, then it is accepted
//! (and what it changes) or refused with its stable code. Pure: no store,
//! no clock, no keys.

use consent_domain::command::Command;
use consent_domain::state::LedgerState;
use consent_domain::{Event, Timestamp};
use serde_json::{json, Value};

const ALICE: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const BOB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

/// Day `d` of January 2030, noon.
fn day(d: u32) -> Timestamp {
    Timestamp::parse(&format!("2030-01-{d:02}T12:00:00Z")).unwrap()
}

/// A policy version effective on day `effective`: `marketing` by consent
/// (email address, name), `fraud` by legitimate interest, `delivery` by
/// contract.
fn policy(version: &str, effective: u32) -> Value {
    json!({
        "version": version,
        "effective_at": day(effective).to_string(),
        "controller": {"id": "example.com", "name": "Example"},
        "data_categories": [
            {"id": "email-address", "description": "email"},
            {"id": "name", "description": "name"},
            {"id": "address", "description": "postal address"}
        ],
        "purposes": [
            {"id": "marketing", "description": "newsletters", "legal_basis": "consent",
             "data_categories": ["email-address", "name"], "retention": {"description": "until withdrawn"}},
            {"id": "fraud", "description": "fraud prevention", "legal_basis": "legitimate_interest",
             "data_categories": ["name"], "retention": {"description": "2 years"}},
            {"id": "delivery", "description": "shipping", "legal_basis": "contract",
             "data_categories": ["name", "address"], "retention": {"description": "10 years"}}
        ]
    })
}

fn publish(policy: Value) -> Value {
    json!({"type": "policy_published", "policy": policy})
}

fn grant(subject: &str, purpose: &str, categories: &[&str], version: &str) -> Value {
    json!({"type": "consent_granted", "subject": subject, "purpose": purpose,
           "data_categories": categories, "policy_version": version, "channel": "web"})
}

fn withdraw(subject: &str, purpose: Option<&str>) -> Value {
    let mut c = json!({"type": "consent_withdrawn", "subject": subject, "channel": "web"});
    if let Some(p) = purpose {
        c["purpose"] = json!(p);
    }
    c
}

fn accept(subject: &str, version: &str, method: &str) -> Value {
    json!({"type": "policy_accepted", "subject": subject, "policy_version": version,
           "method": method, "channel": "web"})
}

fn subject_event(kind: &str, subject: &str) -> Value {
    json!({"type": kind, "subject": subject, "channel": "web"})
}

/// A ledger that recorded `history`, each command on day 1 + its index
/// (every one must be accepted).
fn given(history: &[Value]) -> LedgerState {
    let mut state = LedgerState::new();
    for (i, command) in history.iter().enumerate() {
        let at = day(1 + i as u32);
        let event = state
            .decide(command_of(command), at)
            .unwrap_or_else(|e| panic!("given: {command} refused: {e}"));
        state.apply(&event, at);
    }
    state
}

fn command_of(v: &Value) -> Command {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// When `command` arrives on day `d`.
fn when(state: &LedgerState, command: Value, d: u32) -> Result<Event, &'static str> {
    state
        .decide(command_of(&command), day(d))
        .map_err(|e| e.code())
}

fn then_applied(
    mut state: LedgerState,
    outcome: Result<Event, &'static str>,
    d: u32,
) -> LedgerState {
    let event = outcome.expect("accepted");
    state.apply(&event, day(d));
    state
}

fn subject(state: &LedgerState, id: &str) -> consent_domain::state::SubjectState {
    let p = serde_json::from_value(json!(id)).unwrap();
    state.subject(&p).cloned().unwrap_or_default()
}

// Policy versions.

#[test]
fn a_later_version_names_the_previous_one_and_lists_its_changes() {
    let Ok(Event::PolicyPublished(first)) = when(&given(&[]), publish(policy("v1", 1)), 1) else {
        panic!("refused")
    };
    assert_eq!((first.previous_version, first.changes.len()), (None, 0));
    let mut v2 = policy("v2", 5);
    v2["purposes"][0]["data_categories"] = json!(["email-address"]);
    let state = given(&[publish(policy("v1", 1))]);
    let Ok(Event::PolicyPublished(second)) = when(&state, publish(v2), 5) else {
        panic!("refused")
    };
    assert_eq!(
        second.previous_version.map(|v| v.to_string()),
        Some("v1".into())
    );
    assert!(!second.changes.is_empty());
}

#[test]
fn a_version_cannot_be_published_twice() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, publish(policy("v1", 5)), 5).err(),
        Some("duplicate_policy_version")
    );
}

#[test]
fn a_version_cannot_change_the_controller() {
    let state = given(&[publish(policy("v1", 1))]);
    let mut other = policy("v2", 5);
    other["controller"]["id"] = json!("other.example");
    assert_eq!(
        when(&state, publish(other), 5).err(),
        Some("controller_mismatch")
    );
}

#[test]
fn a_version_cannot_take_effect_before_the_previous_one() {
    let state = given(&[publish(policy("v1", 10))]);
    assert_eq!(
        when(&state, publish(policy("v2", 5)), 2).err(),
        Some("policy_effective_before_previous")
    );
}

#[test]
fn a_version_cannot_take_effect_before_the_latest_entry() {
    let state = given(&[
        publish(policy("v1", 1)),
        grant(ALICE, "marketing", &["name"], "v1"),
    ]);
    assert_eq!(
        when(&state, publish(policy("v2", 1)), 3).err(),
        Some("policy_effective_in_past")
    );
}

#[test]
fn an_inconsistent_policy_is_refused() {
    let mut bad = policy("v1", 1);
    bad["purposes"][0]["data_categories"] = json!(["not-declared"]);
    assert_eq!(
        when(&given(&[]), publish(bad), 1).err(),
        Some("policy_invalid")
    );
}

#[test]
fn a_recipient_url_outside_https_is_refused() {
    let mut bad = policy("v1", 1);
    bad["recipients"] = json!([{"id": "crm", "description": "CRM", "kind": "partner",
                                "notify_url": "http://169.254.169.254/latest"}]);
    assert_eq!(
        when(&given(&[]), publish(bad), 1).err(),
        Some("invalid_notify_url")
    );
}

// Consents.

#[test]
fn a_grant_under_the_version_in_force_is_accepted_and_accepts_that_version() {
    let state = given(&[publish(policy("v1", 1))]);
    let outcome = when(
        &state,
        grant(ALICE, "marketing", &["email-address"], "v1"),
        2,
    );
    let state = then_applied(state, outcome, 2);
    let alice = subject(&state, ALICE);
    let marketing = consent_domain::PurposeId::new("marketing").unwrap();
    assert_eq!(alice.grants[&marketing].len(), 1);
    assert!(alice.accepted.iter().any(|v| v.as_str() == "v1"));
}

#[test]
fn a_grant_must_cite_a_published_version() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &["name"], "v9"), 2).err(),
        Some("unknown_policy_version")
    );
}

#[test]
fn a_grant_cannot_cite_a_version_not_yet_in_force() {
    let state = given(&[publish(policy("v1", 1)), publish(policy("v2", 20))]);
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &["name"], "v2"), 5).err(),
        Some("policy_version_not_effective")
    );
}

#[test]
fn a_grant_cannot_cite_a_superseded_version() {
    let state = given(&[publish(policy("v1", 1)), publish(policy("v2", 3))]);
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &["name"], "v1"), 5).err(),
        Some("policy_version_superseded")
    );
}

#[test]
fn a_grant_must_name_a_purpose_of_that_version() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, grant(ALICE, "astrology", &["name"], "v1"), 2).err(),
        Some("unknown_purpose")
    );
}

#[test]
fn only_a_consent_purpose_can_be_granted() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, grant(ALICE, "delivery", &["name"], "v1"), 2).err(),
        Some("purpose_not_consent_based")
    );
}

#[test]
fn a_grant_names_at_least_one_data_category_of_its_purpose() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &[], "v1"), 2).err(),
        Some("no_data_categories")
    );
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &["address"], "v1"), 2).err(),
        Some("data_category_outside_purpose")
    );
}

#[test]
fn a_withdrawal_needs_an_active_consent() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, withdraw(ALICE, Some("marketing")), 2).err(),
        Some("nothing_to_withdraw")
    );
    assert_eq!(
        when(&state, withdraw(ALICE, None), 2).err(),
        Some("nothing_to_withdraw")
    );
}

#[test]
fn a_withdrawal_of_one_purpose_keeps_the_others() {
    let mut v1 = policy("v1", 1);
    v1["purposes"][1]["legal_basis"] = json!("consent");
    let state = given(&[
        publish(v1),
        grant(ALICE, "marketing", &["name"], "v1"),
        grant(ALICE, "fraud", &["name"], "v1"),
    ]);
    let outcome = when(&state, withdraw(ALICE, Some("marketing")), 5);
    let state = then_applied(state, outcome, 5);
    let purposes: Vec<String> = subject(&state, ALICE)
        .grants
        .keys()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(purposes, ["fraud"]);
}

#[test]
fn a_withdrawal_naming_no_purpose_withdraws_every_consent() {
    let state = given(&[
        publish(policy("v1", 1)),
        grant(ALICE, "marketing", &["name"], "v1"),
    ]);
    let outcome = when(&state, withdraw(ALICE, None), 5);
    let state = then_applied(state, outcome, 5);
    assert!(subject(&state, ALICE).grants.is_empty());
}

#[test]
fn an_unsubscription_removes_one_granted_category() {
    let state = given(&[
        publish(policy("v1", 1)),
        grant(ALICE, "marketing", &["name", "email-address"], "v1"),
    ]);
    let mut unsubscribe = subject_event("unsubscribed", ALICE);
    unsubscribe["purpose"] = json!("marketing");
    unsubscribe["data_category"] = json!("email-address");
    let outcome = when(&state, unsubscribe.clone(), 5);
    let state = then_applied(state, outcome, 5);
    let alice = subject(&state, ALICE);
    let left: Vec<String> = alice
        .grants
        .values()
        .flatten()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(left, ["name"]);
    assert_eq!(
        when(&state, unsubscribe, 6).err(),
        Some("category_not_granted")
    );
}

// Acceptances and objections.

#[test]
fn a_version_is_accepted_once() {
    let state = given(&[publish(policy("v1", 1)), accept(ALICE, "v1", "explicit")]);
    assert_eq!(
        when(&state, accept(ALICE, "v1", "explicit"), 5).err(),
        Some("already_accepted")
    );
}

#[test]
fn continued_use_is_not_enough_for_a_material_change() {
    let mut v2 = policy("v2", 3);
    v2["purposes"][0]["data_categories"] = json!(["email-address", "name", "address"]);
    let state = given(&[publish(policy("v1", 1)), publish(v2)]);
    assert_eq!(
        when(&state, accept(ALICE, "v2", "continued_use"), 5).err(),
        Some("continued_use_not_sufficient")
    );
    assert!(when(&state, accept(ALICE, "v2", "explicit"), 5).is_ok());
}

#[test]
fn only_a_legitimate_interest_purpose_can_be_objected_to_and_once() {
    let state = given(&[publish(policy("v1", 1))]);
    let mut object = subject_event("objection_recorded", ALICE);
    object["purpose"] = json!("marketing");
    assert_eq!(
        when(&state, object.clone(), 2).err(),
        Some("objection_not_applicable")
    );
    object["purpose"] = json!("fraud");
    let outcome = when(&state, object.clone(), 2);
    let state = then_applied(state, outcome, 2);
    assert_eq!(when(&state, object, 3).err(), Some("already_objected"));
}

#[test]
fn nothing_is_accepted_before_any_policy_is_in_force() {
    let state = given(&[publish(policy("v1", 10))]);
    let mut object = subject_event("objection_recorded", ALICE);
    object["purpose"] = json!("fraud");
    assert_eq!(when(&state, object, 2).err(), Some("no_policy_in_force"));
}

// Account status.

#[test]
fn a_closed_account_takes_no_new_consent_or_acceptance() {
    let state = given(&[
        publish(policy("v1", 1)),
        grant(ALICE, "marketing", &["name"], "v1"),
        subject_event("account_closed", ALICE),
    ]);
    assert_eq!(
        when(&state, grant(ALICE, "marketing", &["name"], "v1"), 5).err(),
        Some("account_closed")
    );
    assert_eq!(
        when(&state, accept(ALICE, "v1", "explicit"), 5).err(),
        Some("account_closed")
    );
    assert_eq!(
        when(&state, subject_event("account_closed", ALICE), 5).err(),
        Some("account_closed")
    );
    // A withdrawal still goes through.
    assert!(when(&state, withdraw(ALICE, None), 5).is_ok());
}

#[test]
fn only_a_known_account_can_be_closed() {
    let state = given(&[publish(policy("v1", 1))]);
    assert_eq!(
        when(&state, subject_event("account_closed", BOB), 2).err(),
        Some("unknown_subject")
    );
}

#[test]
fn an_erasure_is_recorded_for_anyone_and_then_nothing_more_is() {
    let state = given(&[
        publish(policy("v1", 1)),
        grant(ALICE, "marketing", &["name"], "v1"),
    ]);
    // About someone unknown: recorded all the same, so the answer does
    // not tell who is known.
    assert!(when(&state, subject_event("erasure_requested", BOB), 3).is_ok());
    let outcome = when(&state, subject_event("erasure_requested", ALICE), 3);
    let state = then_applied(state, outcome, 3);
    let alice = subject(&state, ALICE);
    assert!(alice.erased && alice.grants.is_empty());
    for later in [
        grant(ALICE, "marketing", &["name"], "v1"),
        withdraw(ALICE, None),
        subject_event("erasure_requested", ALICE),
    ] {
        assert_eq!(when(&state, later, 5).err(), Some("subject_erased"));
    }
}
