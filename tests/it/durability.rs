//! An acknowledged append survives `kill -9` of the writer process.

use super::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{json_lines, TempLedger};

#[test]
fn acknowledged_appends_survive_kill_9() {
    let t = TempLedger::with_reference_policy();

    let mut child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(t.dir.path())
        .args([
            "--db",
            &t.url(),
            "--keys",
            t.keys().to_str().unwrap(),
            "append",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // A writer thread keeps feeding grants until the pipe breaks.
    let feeder = std::thread::spawn(move || {
        for i in 0.. {
            let line = format!(
                r#"{{"type":"consent_granted","subject":"s{i}","purpose":"marketing","data_categories":["name"],"policy_version":"2023-11-29","channel":"web"}}"#
            );
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
    });
    // Read acknowledgements until we have plenty, then kill -9 mid-stream.
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = stdout.lines();
    while acked.len() < 2000 {
        assert!(Instant::now() < deadline, "no acknowledgements within 60 s");
        let line = lines.next().expect("the writer is alive").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        acked.push((
            v["seq"].as_u64().unwrap(),
            v["hash"].as_str().unwrap().to_owned(),
        ));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(lines);
    feeder.join().unwrap();

    let verify = t.consent(&["verify"], None);
    assert!(verify.status.success(), "{verify:?}");
    let entries = json_lines(&verify)[0]["entries"].as_u64().unwrap();
    let last_acked = acked.last().unwrap().0;
    assert!(
        entries > last_acked,
        "every acknowledged entry is there ({entries} entries, last ack {last_acked})"
    );
    // And each acknowledged entry is exactly the one acknowledged.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(t.store());
    for (seq, hash) in acked.iter().step_by(97) {
        use consent_ledger::Store;
        let row = rt.block_on(store.read_lines(*seq, 1)).unwrap().remove(0);
        assert_eq!(hex::encode(&row.hash), *hash, "entry {seq}");
    }
}
