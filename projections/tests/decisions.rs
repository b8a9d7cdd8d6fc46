//! The decision rules, on logs built by the domain's own rules (so every
//! log here is one the ledger could have recorded).

use consent_domain::command::PublishPolicy;
use consent_domain::{Command, Event, LedgerState, PolicyVersion, Pseudonym, Timestamp};
use consent_projections::{ConsentProjection, Query};
use proptest::prelude::*;
use serde_json::json;

const POLICY: &str = include_str!("../../examples/reference-policy.json");

fn t(s: u32) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + s as i64 * 1_000_000)
}

fn who(n: u8) -> Pseudonym {
    Pseudonym::from_bytes([n; 32])
}

/// A log under construction: the domain decides, the projection folds.
struct Log {
    state: LedgerState,
    entries: Vec<(u64, Timestamp, [u8; 32], Event)>,
    projection: ConsentProjection,
}

impl Log {
    fn new() -> Self {
        let mut log = Self {
            state: LedgerState::new(),
            entries: Vec::new(),
            projection: ConsentProjection::new(),
        };
        let mut policy: PolicyVersion = serde_json::from_str(POLICY).unwrap();
        policy.effective_at = t(0);
        log.record(t(0), Command::PolicyPublished(PublishPolicy { policy }));
        log
    }

    fn record(&mut self, at: Timestamp, command: Command) -> u64 {
        let event = self
            .state
            .decide(command, at)
            .expect("the domain accepts it");
        self.state.apply(&event, at);
        let seq = self.entries.len() as u64;
        let hash = [seq as u8; 32];
        self.projection.apply(seq, at, hash, &event).unwrap();
        self.entries.push((seq, at, hash, event));
        seq
    }

    fn subject(&mut self, at: u32, v: serde_json::Value) -> u64 {
        let mut v = v;
        if v.get("channel").is_none() {
            v["channel"] = json!("test");
        }
        self.record(t(at), serde_json::from_value(v).unwrap())
    }

    fn ask(
        &self,
        subject: u8,
        purpose: &str,
        category: &str,
        at: u32,
    ) -> (bool, &'static str, Vec<u64>) {
        let d = self.projection.decide(&Query {
            subject: who(subject),
            purpose: purpose.try_into().unwrap(),
            data_category: category.try_into().unwrap(),
            at: t(at),
        });
        (
            d.allowed,
            d.reason.code(),
            d.evidence.iter().map(|e| e.seq).collect(),
        )
    }

    fn publish(&mut self, at: u32, edit: impl FnOnce(&mut PolicyVersion), version: &str) -> u64 {
        let mut policy = (*self.state.policies().last().unwrap().policy).clone();
        policy.version = version.try_into().unwrap();
        policy.effective_at = t(at);
        policy.declared_material_changes.clear();
        edit(&mut policy);
        self.record(t(at), Command::PolicyPublished(PublishPolicy { policy }))
    }
}

fn grant(s: u8, purpose: &str, cats: &[&str], version: &str) -> serde_json::Value {
    json!({"type": "consent_granted", "subject": who(s), "purpose": purpose,
           "data_categories": cats, "policy_version": version})
}

#[test]
fn consent_withdrawal_and_as_of() {
    let mut log = Log::new();
    assert_eq!(log.ask(1, "marketing", "email-address", 5).1, "no_consent");
    let g = log.subject(
        10,
        grant(1, "marketing", &["email-address", "name"], "2023-11-29"),
    );
    assert_eq!(
        log.ask(1, "marketing", "email-address", 11),
        (true, "consent_given", vec![0, g])
    );
    assert_eq!(
        log.ask(1, "marketing", "phone-number", 11).1,
        "data_category_not_consented"
    );
    assert_eq!(
        log.ask(1, "marketing", "payment-data", 11).1,
        "data_category_outside_purpose"
    );
    let w = log.subject(
        20,
        json!({"type": "consent_withdrawn", "subject": who(1), "purpose": "marketing"}),
    );
    assert_eq!(
        log.ask(1, "marketing", "email-address", 21),
        (false, "consent_withdrawn", vec![0, w])
    );
    // Processing before the withdrawal stays lawful: as of 15 it was allowed.
    assert_eq!(
        log.ask(1, "marketing", "email-address", 15).1,
        "consent_given"
    );
    // Before the grant, it was not.
    assert_eq!(log.ask(1, "marketing", "email-address", 9).1, "no_consent");
}

#[test]
fn unsubscribe_is_per_medium() {
    let mut log = Log::new();
    log.subject(
        1,
        grant(
            2,
            "marketing",
            &["email-address", "phone-number"],
            "2023-11-29",
        ),
    );
    log.subject(2, json!({"type": "unsubscribed", "subject": who(2), "purpose": "marketing", "data_category": "email-address"}));
    assert_eq!(
        log.ask(2, "marketing", "email-address", 3).1,
        "unsubscribed"
    );
    assert_eq!(
        log.ask(2, "marketing", "phone-number", 3).1,
        "consent_given"
    );
}

#[test]
fn legal_obligation_contract_and_legitimate_interest() {
    let mut log = Log::new();
    // Legal obligation needs no consent and no account, only its own categories.
    assert_eq!(
        log.ask(3, "legal-disclosure", "name", 1).1,
        "legal_obligation"
    );
    assert_eq!(
        log.ask(3, "legal-disclosure", "gender", 1).1,
        "data_category_outside_purpose"
    );
    assert_eq!(
        log.ask(3, "online-services", "name", 1).1,
        "unknown_subject"
    );
    log.subject(2, json!({"type": "policy_accepted", "subject": who(3), "policy_version": "2023-11-29", "method": "explicit"}));
    assert_eq!(log.ask(3, "online-services", "name", 3).1, "contract");
    assert_eq!(
        log.ask(3, "service-improvement", "device-information", 3).1,
        "legitimate_interest"
    );
    log.subject(
        4,
        json!({"type": "objection_recorded", "subject": who(3), "purpose": "service-improvement"}),
    );
    assert_eq!(
        log.ask(3, "service-improvement", "device-information", 5).1,
        "objected"
    );
    assert_eq!(
        log.ask(3, "research-statistics", "account-usage", 5).1,
        "legitimate_interest"
    );
    log.subject(6, json!({"type": "account_closed", "subject": who(3)}));
    assert_eq!(log.ask(3, "online-services", "name", 7).1, "account_closed");
    assert_eq!(
        log.ask(3, "online-services", "name", 5).1,
        "contract",
        "as of before closure"
    );
    assert_eq!(
        log.ask(3, "legal-disclosure", "name", 7).1,
        "legal_obligation"
    );
    log.subject(8, json!({"type": "erasure_requested", "subject": who(3)}));
    assert_eq!(
        log.ask(3, "legal-disclosure", "name", 9).1,
        "subject_erased"
    );
}

#[test]
fn a_material_change_needs_reacceptance_a_minor_one_does_not() {
    let mut log = Log::new();
    log.subject(1, grant(4, "affiliate-sharing", &["name"], "2023-11-29"));
    log.subject(1, grant(5, "affiliate-sharing", &["name"], "2023-11-29"));
    log.subject(1, grant(6, "marketing", &["name"], "2023-11-29"));
    // An affiliate changes the purpose of processing: material for affiliate-sharing only.
    let v2 = log.publish(
        10,
        |p| {
            p.declared_material_changes
                .push(consent_domain::policy::DeclaredChange {
                    description: "affiliates use data for analytics".into(),
                    purpose: Some("affiliate-sharing".try_into().unwrap()),
                })
        },
        "v2",
    );
    assert_eq!(
        log.ask(4, "affiliate-sharing", "name", 9).1,
        "consent_given",
        "before it takes effect"
    );
    assert_eq!(
        log.ask(4, "affiliate-sharing", "name", 11),
        (false, "reconsent_required", vec![v2, 1, v2])
    );
    assert_eq!(
        log.ask(6, "marketing", "name", 11).1,
        "consent_given",
        "other purposes carry over"
    );
    let must = log
        .projection
        .must_reaccept(&"v2".try_into().unwrap(), t(11));
    assert_eq!(must, vec![who(4), who(5)]);
    let a = log.subject(12, json!({"type": "policy_accepted", "subject": who(4), "policy_version": "v2", "method": "explicit"}));
    assert_eq!(
        log.ask(4, "affiliate-sharing", "name", 13),
        (true, "consent_renewed", vec![v2, 1, a])
    );
    assert_eq!(
        log.projection
            .must_reaccept(&"v2".try_into().unwrap(), t(13)),
        vec![who(5)]
    );
    // A new grant under v2 also counts.
    log.subject(14, grant(5, "affiliate-sharing", &["name"], "v2"));
    assert_eq!(
        log.ask(5, "affiliate-sharing", "name", 15).1,
        "consent_given"
    );
    assert!(log
        .projection
        .must_reaccept(&"v2".try_into().unwrap(), t(15))
        .is_empty());
    // A non-material version changes nothing.
    log.publish(
        20,
        |p| p.purposes[0].description.push_str(" (clarified)"),
        "v3",
    );
    assert_eq!(log.ask(6, "marketing", "name", 21).1, "consent_given");
    assert_eq!(
        log.ask(4, "affiliate-sharing", "name", 21).1,
        "consent_renewed"
    );
}

#[test]
fn as_of_ignores_what_was_recorded_later() {
    let mut log = Log::new();
    log.subject(5, grant(7, "marketing", &["name"], "2023-11-29"));
    // A version published at 30 with a change to marketing, effective at 30.
    log.publish(
        30,
        |p| {
            let m = p
                .purposes
                .iter_mut()
                .find(|x| x.id.as_str() == "marketing")
                .unwrap();
            m.recipients.push("affiliates".try_into().unwrap());
        },
        "v2",
    );
    assert_eq!(log.ask(7, "marketing", "name", 29).1, "consent_given");
    assert_eq!(log.ask(7, "marketing", "name", 31).1, "reconsent_required");
    // Nothing known before the first policy.
    assert_eq!(
        log.projection
            .decide(&Query {
                subject: who(7),
                purpose: "marketing".try_into().unwrap(),
                data_category: "name".try_into().unwrap(),
                at: Timestamp::from_micros(0),
            })
            .reason
            .code(),
        "no_policy_in_force"
    );
}

#[test]
fn apply_is_ordered_and_idempotent() {
    let mut log = Log::new();
    log.subject(1, grant(1, "marketing", &["name"], "2023-11-29"));
    let mut p = log.projection.clone();
    let (seq, at, hash, event) = log.entries[1].clone();
    assert_eq!(
        p.apply(seq, at, hash, &event),
        Ok(false),
        "applying twice changes nothing"
    );
    assert_eq!(p, log.projection);
    let gap = p.apply(seq + 2, at, hash, &event).unwrap_err();
    assert_eq!(
        gap.to_string(),
        "entry 3 arrived before entry 2: entries must be applied in order"
    );
}

/// Random but valid histories: grants, withdrawals, unsubscribes,
/// acceptances, objections, closures, erasures and policy versions.
fn history(ops: Vec<(u8, u8, u8)>) -> Log {
    let mut log = Log::new();
    let purposes = ["marketing", "partner-sharing", "affiliate-sharing"];
    let mut version = "2023-11-29".to_string();
    for (i, (op, subject, x)) in ops.into_iter().enumerate() {
        let at = 10 + i as u32;
        let s = subject % 6;
        let purpose = purposes[x as usize % 3];
        let v = match op % 8 {
            0 | 1 => grant(s, purpose, &["name"], &version),
            2 => json!({"type": "consent_withdrawn", "subject": who(s), "purpose": purpose}),
            3 => {
                json!({"type": "unsubscribed", "subject": who(s), "purpose": purpose, "data_category": "name"})
            }
            4 => {
                json!({"type": "policy_accepted", "subject": who(s), "policy_version": version, "method": "explicit"})
            }
            5 => {
                json!({"type": "objection_recorded", "subject": who(s), "purpose": "service-improvement"})
            }
            6 if x % 5 == 0 => json!({"type": "account_closed", "subject": who(s)}),
            6 => {
                version = format!("v{i}");
                let material = x % 2 == 0;
                log.publish(
                    at,
                    |p| {
                        if material {
                            p.declared_material_changes.push(
                                consent_domain::policy::DeclaredChange {
                                    description: "change".into(),
                                    purpose: Some(purpose.try_into().unwrap()),
                                },
                            );
                        }
                    },
                    &version,
                );
                continue;
            }
            _ if x % 7 == 0 => json!({"type": "erasure_requested", "subject": who(s)}),
            _ => continue,
        };
        let mut v = v;
        v["channel"] = json!("test");
        let command: Command = serde_json::from_value(v).unwrap();
        if let Ok(event) = log.state.decide(command, t(at)) {
            log.state.apply(&event, t(at));
            let seq = log.entries.len() as u64;
            log.projection
                .apply(seq, t(at), [seq as u8; 32], &event)
                .unwrap();
            log.entries.push((seq, t(at), [seq as u8; 32], event));
        }
    }
    log
}

proptest! {
    /// Rebuilding from the log gives exactly the state incremental
    /// application gave, even when delivery repeats entries (at least once).
    #[test]
    fn replay_equals_incremental(ops in prop::collection::vec(any::<(u8, u8, u8)>(), 1..120), redeliver in any::<u64>()) {
        let log = history(ops);
        let mut rebuilt = ConsentProjection::new();
        let mut r = redeliver;
        for (i, (seq, at, hash, event)) in log.entries.iter().enumerate() {
            rebuilt.apply(*seq, *at, *hash, event).unwrap();
            // Redeliver an earlier entry now and then: it must change nothing.
            r = r.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
            if r % 3 == 0 {
                let (s, a, h, e) = &log.entries[(r as usize) % (i + 1)];
                prop_assert_eq!(rebuilt.apply(*s, *a, *h, e), Ok(false));
            }
        }
        prop_assert_eq!(&rebuilt, &log.projection);
        for s in 0..6u8 {
            for purpose in ["marketing", "partner-sharing", "affiliate-sharing", "service-improvement", "online-services"] {
                let category = if purpose == "service-improvement" { "device-information" } else { "name" };
                for at in [9u32, 40, 80, 200] {
                    let q = Query { subject: who(s), purpose: purpose.try_into().unwrap(), data_category: category.try_into().unwrap(), at: t(at) };
                    prop_assert_eq!(rebuilt.decide(&q), log.projection.decide(&q));
                }
            }
        }
    }

    /// An answer as of T never changes when later entries are appended.
    #[test]
    fn the_past_does_not_change(ops in prop::collection::vec(any::<(u8, u8, u8)>(), 2..120), cut in any::<prop::sample::Index>()) {
        let log = history(ops);
        let n = cut.index(log.entries.len()).max(1);
        let mut prefix = ConsentProjection::new();
        for (seq, at, hash, event) in &log.entries[..n] {
            prefix.apply(*seq, *at, *hash, event).unwrap();
        }
        let t_cut = log.entries[n - 1].1;
        for s in 0..6u8 {
            for purpose in ["marketing", "partner-sharing", "affiliate-sharing", "service-improvement"] {
                let category = if purpose == "service-improvement" { "device-information" } else { "name" };
                let q = Query { subject: who(s), purpose: purpose.try_into().unwrap(), data_category: category.try_into().unwrap(), at: t_cut };
                let (mut a, mut b) = (prefix.decide(&q), log.projection.decide(&q));
                a.checkpoint = None;
                b.checkpoint = None;
                prop_assert_eq!(a, b);
            }
        }
    }
}
