//! Idempotency keys that keep nothing personal.
//!
//! A caller's key may itself be personal (`alice@example.com-signup`), and
//! the request it was used for holds the subject id and evidence. So the
//! store keeps neither: only
//! - the key's **scope hash**: SHA-256 over the scope (the API key and
//!   route that used it: one client's key never answers for another's) and
//!   the key, in hex;
//! - the **request hash**: HMAC-SHA256 over the SHA-256 of the request's
//!   canonical form (RFC 8785), keyed by a second hash of scope and key,
//!   which the store never holds: without the caller's key, the request
//!   cannot be recomputed from a guess of its subject id or evidence;
//! - the subject's pseudonym, so that erasure deletes the subject's keys
//!   (all but the erasure's own, kept so that a retried erasure is
//!   answered as the replay it is), and an expiry (7 days by default): a
//!   retry after that is a new request.
//!
//! Keys should be random (UUIDs): a key that can be guessed lets whoever
//! holds the database test guesses of the request it was used for.

use consent_domain::Submission;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::Rejection;

/// How long a key is remembered unless configured otherwise.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A caller's idempotency key and the scope it was sent in.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    scope: String,
    key: String,
}

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdempotencyKey({}, <redacted>)", self.scope)
    }
}

impl IdempotencyKey {
    /// `scope` names who sent the key where, e.g. `api-key 1f2e… POST
    /// /v1/events` or `cli append`; `key` is the caller's.
    pub fn new(scope: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            key: key.into(),
        }
    }

    /// The key of a recipient's notification about an entry: one
    /// `recipient_notified` entry per (entry, recipient).
    pub fn notification(entry: u64, recipient: &str) -> Self {
        Self::new("notifier", format!("{entry}:{recipient}"))
    }

    /// Refuses keys no client should send.
    pub fn check(&self) -> Result<(), Rejection> {
        if self.key.is_empty() || self.key.len() > 200 {
            return Err(Rejection::InvalidIdempotencyKey("must be 1 to 200 bytes"));
        }
        if self.key.chars().any(char::is_control) {
            return Err(Rejection::InvalidIdempotencyKey(
                "must not contain control characters",
            ));
        }
        Ok(())
    }

    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(purpose);
        h.update((self.scope.len() as u64).to_be_bytes());
        h.update(self.scope.as_bytes());
        h.update(self.key.as_bytes());
        h.finalize().into()
    }

    /// What the store keeps of the key: hex SHA-256 over a domain
    /// separator, the scope and the key.
    pub fn stored(&self) -> String {
        hex::encode(self.derive(b"consent-ledger/request-key/v1\n"))
    }

    /// The hash kept of the request sent with this key.
    pub fn request_hash(&self, digest: [u8; 32]) -> [u8; 32] {
        let key = self.derive(b"consent-ledger/request-hash-key/v1\n");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
        mac.update(&digest);
        mac.finalize().into_bytes().into()
    }
}

/// What the store keeps of a notification's key (the notifier asks the
/// store which of an entry's recipients were already told).
pub fn notification_key(entry: u64, recipient: &str) -> String {
    IdempotencyKey::notification(entry, recipient).stored()
}

/// SHA-256 of the submission's canonical form.
pub fn submission_digest(submission: &Submission) -> [u8; 32] {
    let canonical = serde_json_canonicalizer::to_vec(submission).expect("submissions serialise");
    Sha256::digest(canonical).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_in_two_scopes_is_two_keys() {
        let a = IdempotencyKey::new("api-key a POST /v1/events", "k1");
        let b = IdempotencyKey::new("api-key b POST /v1/events", "k1");
        assert_ne!(a.stored(), b.stored());
        assert_eq!(a.stored(), a.clone().stored());
        assert!(!a.stored().contains("k1"));
    }

    #[test]
    fn the_request_hash_is_keyed_by_the_callers_key() {
        let d = [7; 32];
        let a = IdempotencyKey::new("s", "k1");
        let b = IdempotencyKey::new("s", "k2");
        assert_ne!(a.request_hash(d), b.request_hash(d));
        assert_ne!(a.request_hash(d), d);
        assert_eq!(a.request_hash(d), a.request_hash(d));
        assert_ne!(hex::encode(a.request_hash(d)), a.stored());
    }
}
