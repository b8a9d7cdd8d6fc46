use consent_domain::{Event, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Domain-separation prefix of the entry hash.
pub const ENTRY_DOMAIN: &[u8] = b"consent-ledger/entry/v1\n";
/// The `v` member of every entry this ledger writes: version 2, which
/// carries `recorded_by`.
pub const FORMAT_VERSION: u32 = 2;
/// Entries written before `recorded_by` (version 1): still verified, never
/// written, and never after a version-2 entry.
pub const LEGACY_FORMAT_VERSION: u32 = 1;
/// `prev` of entry 0: 32 zero bytes.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// RFC 8785 canonical JSON of an entry body, given its event's `type` and
/// the canonical JSON of its payload ([`Event::payload_json`]). With
/// `recorded_by` (its text, [`super::RecordedBy`]) the body is of version
/// 2; without, of version 1 (only to verify entries written before it).
///
/// Assembled by hand because it is on the append hot path and the shape is
/// fixed: members in code-unit order, every other value an ASCII string or a
/// small integer, which JCS writes verbatim. Tests check it against the JCS
/// crate.
pub fn body_json(
    seq: u64,
    recorded_at: Timestamp,
    recorded_by: Option<&str>,
    prev: &str,
    kind: &str,
    payload: &str,
    key_id: &str,
) -> String {
    let recorded_at = recorded_at.to_string();
    let mut s = String::with_capacity(payload.len() + 230);
    s.push_str("{\"event\":");
    s.push_str(payload);
    s.push_str(",\"key_id\":\"");
    s.push_str(key_id);
    s.push_str("\",\"prev\":\"");
    s.push_str(prev);
    s.push_str("\",\"recorded_at\":\"");
    s.push_str(&recorded_at);
    if let Some(by) = recorded_by {
        s.push_str("\",\"recorded_by\":\"");
        s.push_str(by);
    }
    s.push_str("\",\"seq\":");
    s.push_str(&seq.to_string());
    s.push_str(",\"type\":\"");
    s.push_str(kind);
    s.push_str("\",\"v\":");
    let v = if recorded_by.is_some() {
        FORMAT_VERSION
    } else {
        LEGACY_FORMAT_VERSION
    };
    s.push_str(&v.to_string());
    s.push('}');
    s
}

/// `SHA-256(ENTRY_DOMAIN ‖ body)`.
pub fn entry_hash(body_jcs: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(body_jcs);
    h.finalize().into()
}

/// The canonical line of a signed entry: the body with `hash` and `sig`
/// inserted in their sorted places (`hash` after `event`, `sig` after `seq`).
pub fn signed_line(body_jcs: &str, hash: &[u8; 32], sig: &[u8; 64]) -> String {
    // The body's own members follow its payload, so the last occurrences of
    // these markers are the body's (a payload string cannot contain a bare
    // quote, so cannot contain the markers at all).
    let key_at = body_jcs
        .rfind(",\"key_id\":\"")
        .expect("body_json always has key_id");
    let type_at = body_jcs
        .rfind(",\"type\":\"")
        .expect("body_json always has type");
    let mut s = String::with_capacity(body_jcs.len() + 64 + 128 + 20);
    s.push_str(&body_jcs[..key_at]);
    s.push_str(",\"hash\":\"");
    s.push_str(&hex::encode(hash));
    s.push('"');
    s.push_str(&body_jcs[key_at..type_at]);
    s.push_str(",\"sig\":\"");
    s.push_str(&hex::encode(sig));
    s.push('"');
    s.push_str(&body_jcs[type_at..]);
    s
}

/// A stored or exported line, as written (payload not yet parsed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntryLine<'a> {
    #[serde(borrow)]
    pub event: &'a RawValue,
    pub hash: String,
    pub key_id: String,
    pub prev: String,
    pub recorded_at: Timestamp,
    /// Version 2 only.
    #[serde(default)]
    pub recorded_by: Option<String>,
    pub seq: u64,
    pub sig: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
}

/// A stored or exported line, parsed with its typed event.
#[derive(Debug, Clone)]
pub struct EntryLine {
    pub v: u32,
    pub seq: u64,
    pub recorded_at: Timestamp,
    /// Who asked for the entry (version 2); `None` in version-1 entries.
    pub recorded_by: Option<String>,
    pub prev: String,
    pub key_id: String,
    pub event: Event,
    pub hash: String,
    pub sig: String,
}

impl EntryLine {
    /// Parses a line (without checking hash, signature or canonical form).
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        let raw: RawEntryLine<'_> = serde_json::from_str(line)?;
        let event = Event::from_payload(&raw.kind, raw.event.get())?;
        Ok(Self {
            v: raw.v,
            seq: raw.seq,
            recorded_at: raw.recorded_at,
            recorded_by: raw.recorded_by,
            prev: raw.prev,
            key_id: raw.key_id,
            event,
            hash: raw.hash,
            sig: raw.sig,
        })
    }
}
