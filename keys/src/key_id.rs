use sha2::{Digest, Sha256};

/// A signing key's id: the first 8 bytes of `SHA-256("consent-ledger/key/v1\n" ‖ public key)`,
/// as 16 lower-case hex digits.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"consent-ledger/key/v1\n");
    h.update(public_key);
    hex::encode(&h.finalize()[..8])
}
