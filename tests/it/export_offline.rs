//! Export, then verify the export with no database; any changed byte fails.

use super::common;

use common::{consent_in, json_lines, populated, TempLedger};
use proptest::prelude::*;

async fn exported() -> (TempLedger, Vec<u8>) {
    let t = TempLedger::new();
    populated(&t, 15).await;
    let out = t.consent(&["export", "--out", "export.jsonl"], None);
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(t.dir.path().join("export.jsonl")).unwrap();
    (t, bytes)
}

#[tokio::test]
async fn an_export_verifies_in_a_directory_without_a_database() {
    let (t, bytes) = exported().await;
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("e.jsonl"), &bytes).unwrap();
    // A --db that does not exist: offline verification must not touch it.
    let out = consent_in(
        elsewhere.path(),
        "sqlite://nowhere/none.db",
        &["verify", "--file", "e.jsonl"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let report = &json_lines(&out)[0];
    assert_eq!(report["verified"], true);
    assert_eq!(report["entries"], 32);
    let files: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "offline verify created no files");
    drop(t);
}

#[tokio::test]
async fn the_export_holds_no_personal_data_and_no_secret() {
    let (t, bytes) = exported().await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        !text.contains("@example.com"),
        "subject ids never leave the database"
    );
    assert!(
        !text.contains("192.0.2.10"),
        "evidence never leaves the database"
    );
    let key_file = t.key_file();
    let seed = std::fs::read_to_string(key_file).unwrap();
    assert!(
        !text.contains(seed.trim()),
        "the signing key never leaves the key store"
    );
}

#[tokio::test]
async fn a_truncated_export_fails_against_its_header() {
    let (_t, bytes) = exported().await;
    let text = String::from_utf8(bytes).unwrap();
    let cut: String = text.lines().take(20).map(|l| format!("{l}\n")).collect();
    let failure = consent_ledger::export::verify_export(cut.as_bytes(), None)
        .unwrap()
        .unwrap_err();
    assert_eq!(failure.reason.code(), "header_mismatch");
}

fn flip(bytes: &[u8], at: usize, to: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] = to;
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Changing any byte of the export, anywhere, to anything else fails.
    #[test]
    fn any_changed_byte_fails(at in any::<prop::sample::Index>(), to in any::<u8>()) {
        static EXPORT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = EXPORT.get_or_init(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let (t, bytes) = exported().await;
                std::mem::forget(t.dir.keep());
                bytes
            })
        });
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        let edited = flip(bytes, i, to);
        let result = consent_ledger::export::verify_export(&edited[..], None).unwrap();
        prop_assert!(result.is_err(), "byte {} changed to {:#04x} still verified", i, to);
    }
}
