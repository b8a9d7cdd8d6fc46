use consent_domain::{Event, Timestamp};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Domain-separation prefix of the entry hash.
pub const ENTRY_DOMAIN: &[u8] = b"consent-ledger/entry/v1\n";
/// The `v` member of every entry of this format.
pub const FORMAT_VERSION: u32 = 1;
/// `prev` of entry 0: 32 zero bytes.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// RFC 8785 canonical JSON of an entry body, given the canonical JSON of its
/// event.
///
/// Assembled by hand because it is on the append hot path and the shape is
/// fixed: members in code-unit order, every other value an ASCII string or a
/// small integer, which JCS writes verbatim. A test checks it against the JCS
/// crate for arbitrary events.
pub fn body_json(
    seq: u64,
    recorded_at: Timestamp,
    prev: &str,
    event_jcs: &str,
    key_id: &str,
) -> String {
    let recorded_at = recorded_at.to_string();
    let mut s = String::with_capacity(event_jcs.len() + 160);
    s.push_str("{\"event\":");
    s.push_str(event_jcs);
    s.push_str(",\"key_id\":\"");
    s.push_str(key_id);
    s.push_str("\",\"prev\":\"");
    s.push_str(prev);
    s.push_str("\",\"recorded_at\":\"");
    s.push_str(&recorded_at);
    s.push_str("\",\"seq\":");
    s.push_str(itoa_u64(seq).as_str());
    s.push_str(",\"v\":");
    s.push_str(itoa_u64(FORMAT_VERSION as u64).as_str());
    s.push('}');
    s
}

fn itoa_u64(n: u64) -> String {
    n.to_string()
}

/// `SHA-256(ENTRY_DOMAIN ‖ body)`.
pub fn entry_hash(body_jcs: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(body_jcs);
    h.finalize().into()
}

/// The canonical line of a signed entry: the body with `hash` and `sig`
/// inserted in their sorted places (after `event`, and after `seq`).
pub fn signed_line(body_jcs: &str, hash: &[u8; 32], sig: &[u8; 64]) -> String {
    // body = {"event":E,"key_id":…,"seq":N,"v":1}; "hash" sorts between
    // "event" and "key_id", "sig" between "seq" and "v".
    let key_at = body_jcs
        .rfind(",\"key_id\":\"")
        .expect("body_json always has key_id");
    let v_at = body_jcs.rfind(",\"v\":").expect("body_json always has v");
    let mut s = String::with_capacity(body_jcs.len() + 64 + 128 + 20);
    s.push_str(&body_jcs[..key_at]);
    s.push_str(",\"hash\":\"");
    s.push_str(&hex::encode(hash));
    s.push('"');
    s.push_str(&body_jcs[key_at..v_at]);
    s.push_str(",\"sig\":\"");
    s.push_str(&hex::encode(sig));
    s.push('"');
    s.push_str(&body_jcs[v_at..]);
    s
}

/// A stored or exported line, parsed with its typed event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine {
    pub v: u32,
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub prev: String,
    pub key_id: String,
    pub event: Event,
    pub hash: String,
    pub sig: String,
}
