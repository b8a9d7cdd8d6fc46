//! Who the witness is and whom it trusts: its cosigning key (kept in the
//! state directory's key store, created on first use) under its name, and
//! the logs' verifier keys from `--log`, grouped by origin.
//!
//! It must not know HTTP or how the latest checkpoints are stored. Nothing
//! here logs or prints a key; the CLI decides what to show.

use std::collections::HashMap;
use std::path::Path;

use consent_keys::KeyError;
use consent_keys::KeyStore;
use consent_tlog::note::{valid_name, ED25519};
use consent_tlog::{NoteError, NoteSigner, VerifierKey};

/// The key file's name in the state directory (`witness.key`). Fixed rather
/// than derived from `--name`: names may hold `/`, and renaming a witness
/// should not silently give it a new key.
const KEY_NAME: &str = "witness";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("witness name {0:?} is not a key name (non-empty, no whitespace, no '+')")]
    BadName(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The `--log` value at `position` (from 1) does not parse.
    #[error("--log number {position}: {source}")]
    BadLogKey {
        position: usize,
        #[source]
        source: NoteError,
    },
    #[error("--log number {position} (origin {origin:?}) is not an Ed25519 note key (type 0x01), the kind a log signs its checkpoints with")]
    NotALogKey { position: usize, origin: String },
}

/// The witness's cosigner: its name and the Ed25519 key in `state`
/// (`<state>/witness.key`, 0600, in a 0700 directory), created if missing.
pub fn cosigner(state: &Path, name: &str) -> Result<NoteSigner, IdentityError> {
    if !valid_name(name) {
        return Err(IdentityError::BadName(name.to_owned()));
    }
    let key = KeyStore::open(state)?.named(KEY_NAME)?;
    Ok(NoteSigner::new(name, key.signing))
}

/// Parses `--log` values into the keys trusted per origin (a key's name is
/// its log's origin). Several keys for one origin are all trusted: a log
/// rotating its key signs with both for a while.
pub fn trusted_logs(values: &[String]) -> Result<HashMap<String, Vec<VerifierKey>>, IdentityError> {
    let mut logs: HashMap<String, Vec<VerifierKey>> = HashMap::new();
    for (i, value) in values.iter().enumerate() {
        let position = i + 1;
        let key = VerifierKey::parse(value)
            .map_err(|source| IdentityError::BadLogKey { position, source })?;
        // A cosignature key (0x04) verifies witnesses, not logs; accepting
        // one here would trust nothing and refuse every checkpoint as 403.
        if key.kind != ED25519 {
            return Err(IdentityError::NotALogKey {
                position,
                origin: key.name,
            });
        }
        let keys = logs.entry(key.name.clone()).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn groups_log_keys_by_origin_and_refuses_cosignature_keys() {
        let a1 = NoteSigner::new("log.example/a", SigningKey::from_bytes(&[1; 32]));
        let a2 = NoteSigner::new("log.example/a", SigningKey::from_bytes(&[2; 32]));
        let b = NoteSigner::new("log.example/b", SigningKey::from_bytes(&[3; 32]));
        let logs = trusted_logs(&[
            a1.verifier().to_string(),
            b.verifier().to_string(),
            a2.verifier().to_string(),
            a1.verifier().to_string(),
        ])
        .unwrap();
        assert_eq!(logs["log.example/a"], vec![a1.verifier(), a2.verifier()]);
        assert_eq!(logs["log.example/b"], vec![b.verifier()]);
        assert!(matches!(
            trusted_logs(&[b.cosigner().to_string()]),
            Err(IdentityError::NotALogKey { position: 1, .. })
        ));
        assert!(matches!(
            trusted_logs(&["nonsense".into()]),
            Err(IdentityError::BadLogKey { position: 1, .. })
        ));
    }
}
