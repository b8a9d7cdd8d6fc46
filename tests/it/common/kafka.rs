//! The Kafka-protocol broker for the scale-out tests: `scripts/test`
//! starts tansu on 127.0.0.1 and names it in `CONSENT_TEST_KAFKA`.

/// The broker's address; the scale-out tests cannot run without one.
pub fn broker() -> String {
    std::env::var("CONSENT_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "CONSENT_TEST_KAFKA is not set: run the suite with scripts/test, which starts \
             the tansu broker (or start one with `scripts/broker start` and export \
             CONSENT_TEST_KAFKA=127.0.0.1:19092)"
        )
    })
}

/// A topic no other test uses.
pub fn unique_topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("consent-test-{name}-{}-{nanos}", std::process::id())
}
