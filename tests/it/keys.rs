//! Signing keys: created on first use with owner-only permissions, refused
//! when others can read them, rotated by an entry the old key signs.

use super::common;

use std::os::unix::fs::PermissionsExt;

use common::{grant, json_lines, populated, TempLedger};

#[tokio::test]
async fn the_first_key_is_private_and_show_prints_it() {
    let t = TempLedger::new();
    populated(&t, 1).await;
    let dir_mode = std::fs::metadata(t.keys()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let file = t.key_file();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = t.consent(&["key", "show"], None);
    assert!(out.status.success(), "{out:?}");
    let shown = &json_lines(&out)[0];
    let id = shown["active"]["key_id"].as_str().unwrap();
    assert_eq!(
        file.file_name().unwrap().to_str().unwrap(),
        format!("{id}.key")
    );
    let public = shown["active"]["public_key"].as_str().unwrap();
    // The pinned key verifies; another does not.
    assert!(t
        .consent(&["verify", "--key", public], None)
        .status
        .success());
    let other = "11".repeat(32);
    assert_eq!(
        t.consent(&["verify", "--key", &other], None).status.code(),
        Some(1)
    );
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused() {
    let t = TempLedger::new();
    populated(&t, 1).await;
    let file = t.key_file();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = t.consent(&["append"], Some(""));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("readable by others") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    // Nor does the key store accept a world-readable directory.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(t.keys(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = t.consent(&["append"], Some(""));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 700"),
        "{out:?}"
    );
}

#[tokio::test]
async fn rotation_is_signed_by_the_old_key_and_later_entries_by_the_new() {
    let t = TempLedger::new();
    populated(&t, 2).await;
    let before = json_lines(&t.consent(&["key", "show"], None))[0].clone();
    let out = t.consent(&["key", "rotate"], None);
    assert!(out.status.success(), "{out:?}");
    let rotation_seq = json_lines(&out)[0]["seq"].as_u64().unwrap();
    let ledger = t.open().await;
    let after_rotation = ledger
        .append(grant("z", "marketing", &["name"]), None)
        .await
        .unwrap()
        .unwrap();
    drop(ledger);
    let after = json_lines(&t.consent(&["key", "show"], None))[0].clone();
    assert_eq!(after["keys"].as_array().unwrap().len(), 2);
    assert_ne!(after["active"], before["active"]);

    use consent_ledger::Store;
    let store = t.store().await;
    let rot = consent_ledger::format::EntryLine::parse(
        &store.read_lines(rotation_seq, 1).await.unwrap()[0].line,
    )
    .unwrap();
    assert_eq!(
        rot.key_id,
        before["active"]["key_id"].as_str().unwrap(),
        "rotation signed by the old key"
    );
    let next = consent_ledger::format::EntryLine::parse(
        &store.read_lines(after_rotation.seq, 1).await.unwrap()[0].line,
    )
    .unwrap();
    assert_eq!(
        next.key_id,
        after["active"]["key_id"].as_str().unwrap(),
        "later entries signed by the new key"
    );

    let verify = t.consent(&["verify"], None);
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(json_lines(&verify)[0]["keys"].as_array().unwrap().len(), 2);
    // Offline too, with the genesis key pinned.
    assert!(t
        .consent(&["export", "--out", "e.jsonl"], None)
        .status
        .success());
    let pin = before["active"]["public_key"].as_str().unwrap();
    let out = t.consent(&["verify", "--file", "e.jsonl", "--key", pin], None);
    assert!(out.status.success(), "{out:?}");
}
