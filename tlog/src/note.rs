//! C2SP signed-note: a text, a blank line, and signature lines
//! `— <name> <base64(key id ‖ signature)>`. Ed25519 note signatures (type
//! 0x01) sign the text; tlog-cosignature/v1 signatures (type 0x04) sign
//! `cosignature/v1\ntime <t>\n` ‖ text and carry the time before the
//! signature. Key id = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type of a plain Ed25519 note signature.
pub const ED25519: u8 = 0x01;
/// Signature type of an Ed25519 checkpoint cosignature (cosignature/v1).
pub const COSIGNATURE: u8 = 0x04;

/// The em dash and space that start a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key: {0}")]
    MalformedKey(&'static str),
    #[error("the signature by {name} ({key_id}) does not verify")]
    BadSignature { name: String, key_id: String },
    #[error("no signature by a trusted key")]
    Unverified,
}

fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind]);
    h.update(public);
    h.finalize()[..4].try_into().expect("4 bytes")
}

/// A key name: non-empty, no whitespace, no `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// A public key that verifies notes or cosignatures, as in
/// `<name>+<8 hex key id>+<base64(type ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub key_id: [u8; 4],
    pub kind: u8,
    pub public: VerifyingKey,
}

impl VerifierKey {
    pub fn new(name: &str, kind: u8, public: VerifyingKey) -> Self {
        Self {
            name: name.to_owned(),
            key_id: key_id(name, kind, public.as_bytes()),
            kind,
            public,
        }
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedKey("expected <name>+<key id>+<key>"));
        };
        if !valid_name(name) {
            return Err(NoteError::MalformedKey("bad key name"));
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .filter(|_| id.len() == 8 && id.bytes().all(|b| !b.is_ascii_uppercase()))
            .ok_or(NoteError::MalformedKey(
                "key id is not 8 lower-case hex digits",
            ))?;
        let raw = B64
            .decode(key)
            .map_err(|_| NoteError::MalformedKey("key is not base64"))?;
        let (&kind, public) = raw
            .split_first()
            .ok_or(NoteError::MalformedKey("empty key"))?;
        if kind != ED25519 && kind != COSIGNATURE {
            return Err(NoteError::MalformedKey("unsupported key type"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 key is 32 bytes"))?;
        let public = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::MalformedKey("not an Ed25519 public key"))?;
        let key = Self::new(name, kind, public);
        if key.key_id != id {
            return Err(NoteError::MalformedKey("key id does not match the key"));
        }
        Ok(key)
    }

    pub fn key_id_hex(&self) -> String {
        hex::encode(self.key_id)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(self.public.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.key_id_hex(), B64.encode(raw))
    }
}

/// One signature line: who, which key, and the signature bytes (for a
/// cosignature: the 8-byte time then the 64-byte signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

impl SignatureLine {
    pub fn parse(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash and a space",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "signature line needs a name and a signature",
        ))?;
        if !valid_name(name) {
            return Err(NoteError::Malformed("bad key name in a signature line"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: raw[..4].try_into().expect("4 bytes"),
            signature: raw[4..].to_vec(),
        })
    }

    /// The cosignature's time (seconds since the epoch), if it has the shape
    /// of one.
    pub fn cosigned_at(&self) -> Option<u64> {
        (self.signature.len() == 72)
            .then(|| u64::from_be_bytes(self.signature[..8].try_into().expect("8 bytes")))
    }
}

impl std::fmt::Display for SignatureLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = self.key_id.to_vec();
        raw.extend_from_slice(&self.signature);
        writeln!(f, "{SIG_PREFIX}{} {}", self.name, B64.encode(raw))
    }
}

/// A parsed note: its text (ending in a newline) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<SignatureLine>,
}

impl Note {
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note
            .chars()
            .any(|c| (c < ' ' && c != '\n') || c == '\u{7f}')
        {
            return Err(NoteError::Malformed("control character"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &note[..split + 1];
        let sigs = &note[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("a note ends with a newline"));
        }
        let signatures = sigs
            .lines()
            .map(SignatureLine::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signature"));
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Adds a signature line unless the same key already signed.
    pub fn add(&mut self, line: SignatureLine) {
        if !self
            .signatures
            .iter()
            .any(|s| s.name == line.name && s.key_id == line.key_id)
        {
            self.signatures.push(line);
        }
    }

    /// Checks every signature by a key in `keys` (others are ignored); any
    /// that fails rejects the note. Returns the keys that verified.
    pub fn verify<'k>(&self, keys: &'k [VerifierKey]) -> Result<Vec<&'k VerifierKey>, NoteError> {
        let mut verified: Vec<&VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = keys
                .iter()
                .find(|k| k.name == sig.name && k.key_id == sig.key_id)
            else {
                continue;
            };
            let bad = || NoteError::BadSignature {
                name: key.name.clone(),
                key_id: key.key_id_hex(),
            };
            let ok = match key.kind {
                ED25519 => verify_raw(&key.public, self.text.as_bytes(), &sig.signature),
                COSIGNATURE => match sig.cosigned_at() {
                    Some(t) => verify_raw(
                        &key.public,
                        cosigned_message(t, &self.text).as_bytes(),
                        &sig.signature[8..],
                    ),
                    None => false,
                },
                _ => false,
            };
            if !ok {
                return Err(bad());
            }
            if !verified.contains(&key) {
                verified.push(key);
            }
        }
        Ok(verified)
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.text)?;
        for s in &self.signatures {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

fn verify_raw(key: &VerifyingKey, message: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

/// What a cosignature/v1 signs.
pub fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// A note signer: a key name and an Ed25519 key.
#[derive(Clone)]
pub struct NoteSigner {
    pub name: String,
    pub key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({}, <secret redacted>)", self.name)
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Self {
        Self {
            name: name.to_owned(),
            key,
        }
    }

    /// The verifier key of this signer's note signatures.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::new(&self.name, ED25519, self.key.verifying_key())
    }

    /// The verifier key of this signer's cosignatures.
    pub fn cosigner(&self) -> VerifierKey {
        VerifierKey::new(&self.name, COSIGNATURE, self.key.verifying_key())
    }

    /// A note signature over `text`.
    pub fn sign(&self, text: &str) -> SignatureLine {
        SignatureLine {
            name: self.name.clone(),
            key_id: self.verifier().key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }

    /// A cosignature/v1 over a checkpoint's text at `time`.
    pub fn cosign(&self, text: &str, time: u64) -> SignatureLine {
        let mut signature = time.to_be_bytes().to_vec();
        signature.extend_from_slice(
            &self
                .key
                .sign(cosigned_message(time, text).as_bytes())
                .to_bytes(),
        );
        SignatureLine {
            name: self.name.clone(),
            key_id: self.cosigner().key_id,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of golang.org/x/mod/sumdb/note.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_example_verifies() {
        let key = VerifierKey::parse(PETER_VKEY).unwrap();
        assert_eq!(key.to_string(), PETER_VKEY);
        let note = Note::parse(PETER_NOTE).unwrap();
        assert_eq!(note.verify(std::slice::from_ref(&key)).unwrap(), vec![&key]);
        assert_eq!(note.to_string(), PETER_NOTE);
        let forged = Note::parse(&PETER_NOTE.replace("cryptography", "cryptographY")).unwrap();
        assert!(matches!(
            forged.verify(std::slice::from_ref(&key)),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn go_example_signs_byte_for_byte() {
        let raw = B64
            .decode(PETER_SKEY.splitn(5, '+').nth(4).unwrap())
            .unwrap();
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        let signer = NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&seed));
        assert_eq!(signer.verifier().to_string(), PETER_VKEY);
        let text = "If you think cryptography is the answer to your problem,\n\
            then you don't know what your problem is.\n";
        let note = Note {
            text: text.into(),
            signatures: vec![signer.sign(text)],
        };
        assert_eq!(note.to_string(), PETER_NOTE);
    }

    #[test]
    fn cosignatures_verify_and_unknown_keys_are_ignored() {
        let witness = NoteSigner::new("witness.example", SigningKey::from_bytes(&[7; 32]));
        let log = NoteSigner::new("log.example", SigningKey::from_bytes(&[9; 32]));
        let text = "log.example\n5\nAAAA\n";
        let mut note = Note {
            text: text.into(),
            signatures: vec![log.sign(text)],
        };
        note.add(witness.cosign(text, 1_700_000_000));
        let parsed = Note::parse(&note.to_string()).unwrap();
        let keys = [log.verifier(), witness.cosigner()];
        assert_eq!(parsed.verify(&keys).unwrap().len(), 2);
        assert_eq!(parsed.signatures[1].cosigned_at(), Some(1_700_000_000));
        // A note signature does not pass for a cosignature key, nor the reverse.
        assert!(parsed.verify(&[witness.verifier()]).unwrap().is_empty());
        assert_eq!(parsed.verify(&[]).unwrap().len(), 0);
    }
}
