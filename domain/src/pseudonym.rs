//! Subject pseudonyms and evidence references: keyed and salted hashes that
//! let the log name a person and point at evidence without containing either.
//!
//! `pseudonym = HMAC-SHA-256(key = subject secret, "consent-ledger/subject/v1\n" ‖ subject id)`.
//! The secret is random per subject and lives outside the log; deleting it
//! (erasure) leaves the pseudonym in the log but makes it unlinkable.
//!
//! `evidence ref = SHA-256("consent-ledger/evidence/v1\n" ‖ salt ‖ JCS(evidence))`,
//! with a random 32-byte salt stored beside the evidence, so a guessable
//! value (an IP address) cannot be confirmed from the log by brute force.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::command::{Evidence, SubjectId};
use crate::ids::{Digest, Pseudonym};

const SUBJECT_DOMAIN: &[u8] = b"consent-ledger/subject/v1\n";
const EVIDENCE_DOMAIN: &[u8] = b"consent-ledger/evidence/v1\n";

pub fn pseudonym(secret: &[u8; 32], subject: &SubjectId) -> Pseudonym {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(SUBJECT_DOMAIN);
    mac.update(subject.as_str().as_bytes());
    Pseudonym::from_bytes(mac.finalize().into_bytes().into())
}

/// Canonical bytes of the evidence (RFC 8785) and its salted reference.
pub fn evidence_ref(salt: &[u8; 32], evidence: &Evidence) -> (Vec<u8>, Digest) {
    let canonical = serde_json_canonicalizer::to_vec(&evidence.0)
        .expect("a JSON map from serde_json always canonicalises");
    let mut h = Sha256::new();
    h.update(EVIDENCE_DOMAIN);
    h.update(salt);
    h.update(&canonical);
    (canonical, Digest::from_bytes(h.finalize().into()))
}

/// SHA-256 of the RFC 8785 canonical JSON of any serialisable value.
pub fn content_hash<T: serde::Serialize>(value: &T) -> Digest {
    let canonical =
        serde_json_canonicalizer::to_vec(value).expect("domain types serialise to plain JSON");
    Digest::from_bytes(Sha256::digest(canonical).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_depend_on_the_secret() {
        let s = SubjectId::new("alice@example.com").unwrap();
        let a = pseudonym(&[1; 32], &s);
        assert_eq!(a, pseudonym(&[1; 32], &s));
        assert_ne!(a, pseudonym(&[2; 32], &s));
        assert!(!a.as_str().contains("alice"));
    }

    #[test]
    fn evidence_refs_are_salted() {
        let e: Evidence = serde_json::from_str(r#"{"ip":"192.0.2.1"}"#).unwrap();
        assert_ne!(evidence_ref(&[1; 32], &e).1, evidence_ref(&[2; 32], &e).1);
    }
}
