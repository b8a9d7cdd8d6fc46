//! The log's byte format (FORMAT.md is its prose specification).
//!
//! An entry's *body* is the JSON object
//! `{"event", "key_id", "prev", "recorded_at", "recorded_by", "seq", "v"}`
//! (`recorded_by` since version 2; logs begun before it hold version-1
//! entries without it); its hash is
//! `SHA-256("consent-ledger/entry/v1\n" ‖ JCS(body))`, its signature is
//! Ed25519 over those 32 hash bytes, and the stored or exported *line* is
//! `JCS(body ∪ {"hash", "sig"})`. Hashes, keys and signatures are lower-case hex.

mod entry;
mod recorded_by;

pub use consent_keys::key_id;
pub use entry::{
    body_json, entry_hash, signed_line, EntryLine, RawEntryLine, ENTRY_DOMAIN, FORMAT_VERSION,
    GENESIS_PREV, LEGACY_FORMAT_VERSION,
};
pub use recorded_by::RecordedBy;
