//! The server defends itself before authentication: 200 slow or idle
//! connections are all closed within the configured timeouts while normal
//! requests keep being answered; a connection cap closes the excess at
//! once; a declared oversized body is refused before it is sent; TLS
//! serves the same API; the access log names route, status and key id and
//! never a secret or subject id.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::server::{serve, Proc};
use super::common::{json_lines, TempLedger};

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(4);

fn key(t: &TempLedger, scopes: &str) -> (String, String) {
    let made = json_lines(&t.consent(&["api-key", "create", "--scopes", scopes], None)).remove(0);
    (
        made["api_key"].as_str().unwrap().into(),
        made["id"].as_str().unwrap().into(),
    )
}

async fn decide(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    let body = json!({"subject": "alice@example.com", "purpose": "marketing",
                      "data_category": "email-address"});
    let r = client
        .post(format!("{base}/v1/decisions"))
        .bearer_auth(key)
        .json(&body);
    r.send().await.map_or(0, |r| r.status().as_u16())
}

/// How a misbehaving client uses its connection.
#[derive(Clone, Copy, Debug)]
enum Abuse {
    /// Connects and sends nothing.
    Idle,
    /// Sends a request line and headers one byte every 300 ms.
    SlowHeaders,
    /// One good request, then keeps the connection open and silent.
    IdleKeptAlive,
    /// Headers at once, then the body one byte a second.
    SlowBody,
}

/// Runs one abusive client; how long until the server closed on it.
async fn abuse(addr: String, how: Abuse) -> Duration {
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n";
    let mut buf = [0u8; 4096];
    let closed = |n: std::io::Result<usize>| matches!(n, Ok(0) | Err(_));
    match how {
        Abuse::Idle => while !closed(s.read(&mut buf).await) {},
        Abuse::IdleKeptAlive => {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut seen = Vec::new();
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            assert!(
                seen.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&seen)
            );
        }
        Abuse::SlowHeaders | Abuse::SlowBody => {
            let (bytes, pace) = match how {
                Abuse::SlowHeaders => (head.as_bytes().to_vec(), Duration::from_millis(300)),
                _ => {
                    s.write_all(head.as_bytes()).await.unwrap();
                    (vec![b' '; 500], Duration::from_secs(1))
                }
            };
            for b in bytes {
                if s.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::select! {
                    n = s.read(&mut buf) => if closed(n) { break } else { while !closed(s.read(&mut buf).await) {} break },
                    _ = tokio::time::sleep(pace) => {}
                }
            }
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn two_hundred_slow_or_idle_connections_are_closed_in_time_while_requests_are_answered() {
    let t = TempLedger::with_reference_policy();
    let (decide_key, decide_id) = key(&t, "decide");
    let server = serve(
        &t,
        "serve.log",
        &["--header-timeout-s", "2", "--body-timeout-s", "4"],
    )
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let kinds = [
        Abuse::Idle,
        Abuse::SlowHeaders,
        Abuse::IdleKeptAlive,
        Abuse::SlowBody,
    ];
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let how = kinds[i % 4];
            let addr = addr.clone();
            tokio::spawn(async move { (how, abuse(addr, how).await) })
        })
        .collect();

    // Normal requests throughout, each on a fresh connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut answered = 0;
    let started = Instant::now();
    while !clients.iter().all(|c| c.is_finished()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "connections still open after 30 s"
        );
        assert_eq!(decide(&client, &server.base, &decide_key).await, 200);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 10, "only {answered} requests during the abuse");
    for c in clients {
        let (how, held) = c.await.unwrap();
        let allowed = match how {
            Abuse::SlowBody => BODY_TIMEOUT,
            _ => HEADER_TIMEOUT,
        } + Duration::from_millis(1500);
        assert!(held <= allowed, "{how:?} held the connection {held:?}");
        assert!(
            held >= Duration::from_millis(1500),
            "{how:?} closed after only {held:?}"
        );
    }

    // The access log: route, status, key id; no secret, no subject id.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let access: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "consent::access")
        .collect();
    assert!(access.iter().any(|v| v["route"] == "/v1/decisions"
        && v["status"] == 200
        && v["key"] == decide_id.as_str()));
    assert!(
        access.iter().any(|v| v["status"] == 408),
        "the slow bodies were logged as 408"
    );
    assert!(!log.contains("alice@example.com"));
    assert!(!log.contains(&decide_key[20..]));
}

#[tokio::test]
async fn the_connection_cap_closes_the_excess_and_oversized_bodies_are_refused_up_front() {
    let t = TempLedger::with_reference_policy();
    let (record_key, _) = key(&t, "record");
    let server: Proc = serve(
        &t,
        "serve.log",
        &["--max-connections", "4", "--header-timeout-s", "10"],
    )
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The fifth is closed on arrival, before it sends anything: well
    // before the 10 s header timeout would close it (5 s of slack for a
    // loaded machine).
    let mut fifth = TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut buf)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);

    // A declared length over the limit: 413 before any body byte.
    let deadline = Instant::now() + Duration::from_secs(5);
    let answer = loop {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let head = format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {record_key}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut got)).await;
        if !got.is_empty() || Instant::now() > deadline {
            break String::from_utf8_lossy(&got).into_owned();
        }
    };
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn tls_serves_the_same_api() {
    let t = TempLedger::with_reference_policy();
    let (decide_key, _) = key(&t, "decide");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let cert_path = t.dir.path().join("tls-cert.pem");
    let key_path = t.dir.path().join("tls-key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let mut child = super::common::server::start_serve(
        &t,
        "serve.log",
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        &[],
    );
    let base = child.1.replace("http://127.0.0.1", "https://localhost");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = decide(&client, &base, &decide_key).await;
        if status == 200 {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the TLS server exited"
        );
        assert!(Instant::now() < deadline, "no answer over TLS ({status})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Plain HTTP on the TLS port gets no API.
    let plain = child.1.clone();
    assert_eq!(
        decide(&reqwest::Client::new(), &plain, &decide_key).await,
        0
    );
    let _ = child.0.kill();
    let _ = child.0.wait();
}
