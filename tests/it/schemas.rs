//! The JSON Schemas committed in `schemas/` are the ones the code generates.
//! Regenerate after an intended change: `cargo run -- schemas --out schemas`.

#[test]
fn committed_schemas_match_the_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for (name, generated) in consent_ledger::published_schemas() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!("schemas/{name}: {e}; run `cargo run -- schemas --out schemas`")
        });
        assert_eq!(
            committed, generated,
            "schemas/{name} drifted from the code; run `cargo run -- schemas --out schemas`"
        );
    }
}

#[test]
fn the_reference_policy_is_valid_against_the_model() {
    let policy: consent_domain::PolicyVersion =
        serde_json::from_str(include_str!("../../examples/reference-policy.json")).unwrap();
    policy.check().expect("the reference policy is consistent");
    let bases: std::collections::BTreeSet<_> = policy
        .purposes
        .iter()
        .map(|p| format!("{:?}", p.legal_basis))
        .collect();
    assert_eq!(bases.len(), 4, "every legal basis appears: {bases:?}");
}

#[test]
fn the_cli_writes_exactly_the_committed_schemas_and_openapi_document() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consent"))
        .args(["schemas", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut written: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    written.sort();
    assert!(written.iter().any(|n| n == "openapi.json"));
    for name in written {
        let fresh = std::fs::read_to_string(out_dir.path().join(&name)).unwrap();
        let kept = std::fs::read_to_string(committed.join(&name)).unwrap_or_else(|e| {
            panic!("schemas/{name:?}: {e}; run `cargo run -- schemas --out schemas`")
        });
        assert!(
            fresh == kept,
            "schemas/{name:?} drifted from the code; run `cargo run -- schemas --out schemas`"
        );
    }
}
