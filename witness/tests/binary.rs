//! The `consent-witness` binary on its own: it creates its key once, keeps
//! it private, and names it the same way on every run.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn vkey(state: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_consent-witness"))
        .args(["vkey", "--name", "witness.example.org/w1", "--state"])
        .arg(state)
        .output()
        .expect("consent-witness runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_standalone_witness_keeps_one_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w1");
    let first = vkey(&state);
    assert!(
        first.starts_with("witness.example.org/w1+"),
        "a cosignature verifier key under the witness's name: {first}"
    );
    assert_eq!(vkey(&state), first, "the key is created once");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("witness.key")), 0o600);
}

#[test]
fn the_standalone_witness_refuses_a_serve_without_logs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consent-witness"))
        .args(["serve", "--name", "w", "--state"])
        .arg(dir.path().join("w"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log"));
}
