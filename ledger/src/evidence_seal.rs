//! Evidence sealed under its subject's secret (crypto-shredding).
//!
//! The store keeps each evidence object as XChaCha20-Poly1305 ciphertext
//! under a key derived from the subject's secret, bound to the evidence's
//! reference (the salted hash the signed entry carries). Erasure deletes
//! the secret; from then on every copy of the row (a dead tuple, a page in
//! a backup, a WAL segment) is ciphertext nobody can open, so only the
//! subjects row itself must be scrubbed from the files.
//!
//! Sealed form: 24-byte random nonce ‖ ciphertext ‖ 16-byte tag.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

fn cipher(secret: &[u8; 32]) -> XChaCha20Poly1305 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(b"consent-ledger/evidence-key/v1");
    XChaCha20Poly1305::new(&mac.finalize().into_bytes())
}

/// Seals `content` (the evidence's canonical bytes) for the subject.
pub fn seal(secret: &[u8; 32], reference: &str, content: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher(secret)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: content,
                aad: reference.as_bytes(),
            },
        )
        .expect("encryption of a bounded message does not fail");
    let mut out = Vec::with_capacity(24 + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens sealed evidence; `None` if it was not sealed for this secret and
/// reference (or was altered).
pub fn open(secret: &[u8; 32], reference: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 24 + 16 {
        return None;
    }
    let (nonce, body) = sealed.split_at(24);
    cipher(secret)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: reference.as_bytes(),
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_evidence_opens_only_with_its_secret_and_reference() {
        let content = br#"{"ip":"192.0.2.10"}"#;
        let sealed = seal(&[1; 32], "ref", content);
        assert!(!sealed.windows(content.len()).any(|w| w == content));
        assert_eq!(
            open(&[1; 32], "ref", &sealed).as_deref(),
            Some(&content[..])
        );
        assert_eq!(open(&[2; 32], "ref", &sealed), None);
        assert_eq!(open(&[1; 32], "other", &sealed), None);
        let mut altered = sealed.clone();
        altered[30] ^= 1;
        assert_eq!(open(&[1; 32], "ref", &altered), None);
    }
}
