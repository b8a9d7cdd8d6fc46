//! The scale-out layout over real PostgreSQL, a real Kafka-protocol broker
//! (tansu) and real processes: a writer, the outbox relay, and decision
//! nodes fed from the ledger topic.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::common::kafka::{broker, unique_topic};
use super::common::server::{post, serve, Proc};
use super::common::{json_lines, TempLedger};

fn relay(t: &TempLedger, topic: &str, log: &str) -> Proc {
    let path = t.dir.path().join(log);
    let child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(t.dir.path())
        .args([
            "--db",
            &t.url(),
            "relay",
            "--kafka",
            &broker(),
            "--topic",
            topic,
        ])
        .env("CONSENT_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&path).unwrap())
        .spawn()
        .unwrap();
    Proc {
        child,
        base: String::new(),
        log: path,
    }
}

/// Starts a decision node on the topic, retrying while the topic does not
/// exist yet (the relay creates it when it starts).
async fn node(t: &TempLedger, topic: &str, log: &str) -> Proc {
    let replica = t.dir.path().join("node-replica.db");
    let b = broker();
    let args = [
        "--from-kafka",
        b.as_str(),
        "--topic",
        topic,
        "--replica",
        replica.to_str().unwrap(),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (mut child, base) = spawn_quiet(t, log, &args);
        if wait_up(&base, &mut child).await {
            return Proc {
                child,
                base,
                log: t.dir.path().join(log),
            };
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            Instant::now() < deadline,
            "the node never started; see {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn health(base: &str) -> Option<Value> {
    reqwest::get(format!("{base}/healthz"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Waits until the node's projection has applied entry `seq`.
async fn wait_applied(node: &mut Proc, seq: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(h) = health(&node.base).await {
            if h["projection_checkpoint"]
                .as_u64()
                .is_some_and(|c| c >= seq)
            {
                return;
            }
        }
        assert!(node.child.try_wait().unwrap().is_none(), "the node exited");
        assert!(
            Instant::now() < deadline,
            "the node did not reach entry {seq} in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn grant(subject: &str) -> Value {
    json!({"type": "consent_granted", "subject": subject, "purpose": "marketing",
           "data_categories": ["email-address"], "policy_version": "2023-11-29",
           "channel": "web-signup-form"})
}

fn ask(subject: &str) -> Value {
    json!({"subject": subject, "purpose": "marketing", "data_category": "email-address"})
}

fn key(t: &TempLedger) -> String {
    let out = t.consent(
        &["api-key", "create", "--scopes", "record,decide,audit"],
        None,
    );
    json_lines(&out)[0]["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_append_through_the_writer_becomes_visible_on_a_kafka_fed_node() {
    let t = TempLedger::postgres_with_reference_policy();
    let topic = unique_topic("visible");
    let b = broker();
    let writer = serve(&t, "writer.log", &["--relay-to", &b, "--topic", &topic]).await;
    let key = key(&t);
    // The relay creates the topic; the node waits for nothing else.
    let (status, first) = post(
        &writer.base,
        &key,
        "/v1/events",
        &grant("first@example.com"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let mut node = node(&t, &topic, "node.log").await;
    wait_applied(
        &mut node,
        first["seq"].as_u64().unwrap(),
        Duration::from_secs(20),
    )
    .await;

    let (status, g) = post(
        &writer.base,
        &key,
        "/v1/events",
        &grant("alice@example.com"),
    )
    .await;
    assert_eq!(status, 201, "{g}");
    let mut q = ask("alice@example.com");
    q["token"] = g["token"].clone();
    let (status, d) = post(&node.base, &key, "/v1/decisions", &q).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (d["allowed"].as_bool(), d["reason"].as_str()),
        (Some(true), Some("consent_given"))
    );
    assert_eq!(d["evidence"][1]["seq"], g["seq"], "{d}");
    assert_eq!(d["evidence"][1]["hash"], g["hash"], "{d}");

    // The node does not append.
    let (status, p) = post(&node.base, &key, "/v1/events", &grant("bob@example.com")).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (503, Some("read_only_node")),
        "{p}"
    );
    let h = health(&node.base).await.unwrap();
    assert_eq!(h["role"], "decision_node");
}

#[tokio::test]
async fn killing_the_relay_and_the_node_mid_stream_loses_and_duplicates_nothing() {
    let t = TempLedger::postgres_with_reference_policy();
    let topic = unique_topic("kill9");
    let writer = serve(&t, "writer.log", &[]).await;
    let key = key(&t);
    let mut relay1 = relay(&t, &topic, "relay-1.log");
    let (status, first) = post(
        &writer.base,
        &key,
        "/v1/events",
        &grant("s-first@example.com"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    // The topic exists once the relay has published the first entries.
    let mut node1 = node(&t, &topic, "node-1.log").await;

    // 8 clients append 1,600 grants in all while processes die under them.
    let writer_base = writer.base.clone();
    let appends = tokio::spawn({
        let key = key.clone();
        async move {
            let clients = (0..8).map(|c| {
                let (base, key) = (writer_base.clone(), key.clone());
                async move {
                    for i in 0..200 {
                        let (status, body) = post(
                            &base,
                            &key,
                            "/v1/events",
                            &grant(&format!("s{c}-{i}@example.com")),
                        )
                        .await;
                        assert_eq!(status, 201, "{body}");
                    }
                }
            });
            join_all(clients).await;
        }
    });
    wait_applied(&mut node1, 300, Duration::from_secs(30)).await;
    relay1.kill_9();
    let _relay2 = relay(&t, &topic, "relay-2.log");
    wait_applied(&mut node1, 900, Duration::from_secs(30)).await;
    node1.kill_9();
    appends.await.unwrap();
    let head = health(&writer.base).await.unwrap()["head"]
        .as_u64()
        .unwrap();
    assert_eq!(head, 2 + 1600, "genesis, policy, first grant, 1,600 grants");
    let mut node2 = node(&t, &topic, "node-2.log").await;
    wait_applied(&mut node2, head, Duration::from_secs(60)).await;

    // Nothing lost: every subject's grant decides on the restarted node.
    for c in 0..8 {
        for i in (0..200).step_by(23) {
            let (status, d) = post(
                &node2.base,
                &key,
                "/v1/decisions",
                &ask(&format!("s{c}-{i}@example.com")),
            )
            .await;
            assert_eq!(
                (status, d["allowed"].as_bool()),
                (200, Some(true)),
                "s{c}-{i}: {d}"
            );
        }
    }
    // Nothing twice: the replica is the log, entry for entry, and verifies.
    drop(node2);
    let replica = format!(
        "sqlite://{}",
        t.dir.path().join("node-replica.db").display()
    );
    let out = super::common::consent_in(t.dir.path(), &replica, &["verify"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_lines(&out)[0]["entries"].as_u64(), Some(head + 1));
    let original = t.consent(&["verify"], None);
    assert_eq!(
        json_lines(&original)[0]["head"],
        json_lines(&out)[0]["head"],
        "same last hash"
    );
}

/// Starts a node that may fail (the topic may not exist yet).
fn spawn_quiet(t: &TempLedger, log: &str, extra: &[&str]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--db".to_owned(),
        t.url(),
        "serve".into(),
        "--listen".into(),
        listen,
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(env!("CARGO_BIN_EXE_consent"))
        .current_dir(t.dir.path())
        .args(&args)
        .env("CONSENT_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(t.dir.path().join(log)).unwrap())
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// Whether the server came up (false if it exited first).
async fn wait_up(base: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if health(base).await.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_forged_entry_on_the_topic_stops_the_node_which_names_it() {
    let t = TempLedger::postgres_with_reference_policy();
    let topic = unique_topic("forged");
    let writer = serve(&t, "writer.log", &[]).await;
    let key = key(&t);
    let (status, g) = post(&writer.base, &key, "/v1/events", &grant("a@example.com")).await;
    assert_eq!(status, 201, "{g}");
    let seq = g["seq"].as_u64().unwrap();
    let mut relay1 = relay(&t, &topic, "relay.log");
    let mut node = node(&t, &topic, "node.log").await;
    wait_applied(&mut node, seq, Duration::from_secs(20)).await;
    relay1.kill_9();

    // Someone with access to the broker appends "entry seq+1": a copy of
    // the last entry, renumbered, linking correctly to it, but not signed
    // by the ledger (its hash and signature are the original's).
    use consent_ledger::Store;
    let store = t.store().await;
    let original = store.read_lines(seq, 1).await.unwrap().remove(0).line;
    let mut forged: Value = serde_json::from_str(&original).unwrap();
    forged["prev"] = forged["hash"].clone();
    forged["seq"] = json!(seq + 1);
    forged["event"]["channel"] = json!("forged-channel");
    let forged = forged.to_string();
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&topic)
                .key("x")
                .payload(&forged),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // The node refuses it: it stops rather than answer from a forged log.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node kept running on a forged entry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(
        log.contains(&format!("entry {}: ", seq + 1)) && log.contains("tampered"),
        "the node names the forged entry: {log}"
    );
}
