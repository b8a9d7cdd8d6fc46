//! `consent decide` through the binary: a decision now and as of before a
//! withdrawal, with reason and evidence.

use super::common;

use common::{json_lines, TempLedger};

#[test]
fn decisions_now_and_as_of_through_the_cli() {
    let t = TempLedger::with_reference_policy();
    let grant = r#"{"type":"consent_granted","subject":"alice@example.com","purpose":"marketing","data_categories":["email-address"],"policy_version":"2023-11-29","channel":"web"}"#;
    let out = t.consent(&["append"], Some(grant));
    let granted = json_lines(&out)[0].clone();
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "decide",
            "--subject",
            "alice@example.com",
            "--purpose",
            "marketing",
            "--category",
            "email-address",
        ];
        args.extend_from_slice(extra);
        let out = t.consent(&args, None);
        (out.status.code(), json_lines(&out)[0].clone())
    };
    let (code, now) = ask(&[]);
    assert_eq!(
        (code, now["reason"].as_str()),
        (Some(0), Some("consent_given"))
    );
    assert_eq!(now["evidence"][1]["seq"], granted["seq"]);
    assert_eq!(now["evidence"][1]["hash"], granted["hash"]);
    assert_eq!(now["dpv_consent_state"], "dpv:ConsentGiven");
    let between = granted["recorded_at"].as_str().unwrap().to_owned();

    let withdraw = r#"{"type":"consent_withdrawn","subject":"alice@example.com","purpose":"marketing","channel":"email-unsubscribe-link"}"#;
    assert!(t.consent(&["append"], Some(withdraw)).status.success());
    let (code, now) = ask(&[]);
    assert_eq!(
        (code, now["reason"].as_str()),
        (Some(3), Some("consent_withdrawn"))
    );
    let (code, then) = ask(&["--at", &between]);
    assert_eq!(
        (code, then["reason"].as_str()),
        (Some(0), Some("consent_given")),
        "processing before the withdrawal stays lawful"
    );

    let out = t.consent(
        &[
            "decide",
            "--subject",
            "bob@example.com",
            "--purpose",
            "legal-disclosure",
            "--category",
            "name",
        ],
        None,
    );
    assert_eq!(json_lines(&out)[0]["reason"], "legal_obligation");
}
