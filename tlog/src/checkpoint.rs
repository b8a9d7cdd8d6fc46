//! C2SP tlog-checkpoint: the note text `<origin>\n<size>\n<base64 root>\n`
//! (then optional extension lines), signed by the log's key whose name is
//! the origin.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::merkle::Hash;
use crate::note::{Note, NoteError, NoteSigner, VerifierKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin { expected: String, found: String },
}

impl Checkpoint {
    /// The note text.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "needs origin, size and root lines",
            ));
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed("size is not a decimal number"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("size is too large"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "root is not a base64 SHA-256 hash",
            ))?;
        if !text.ends_with('\n') {
            return Err(CheckpointError::Malformed("text must end with a newline"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs the checkpoint with each signer (every key of the log that is
    /// currently signing).
    pub fn sign(&self, signers: &[NoteSigner]) -> Note {
        let text = self.text();
        Note {
            signatures: signers.iter().map(|s| s.sign(&text)).collect(),
            text,
        }
    }
}

/// A checkpoint whose log signature verified, with the note it came in and
/// the witness keys whose cosignatures verified.
#[derive(Debug, Clone)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: Note,
    pub witnesses: Vec<VerifierKey>,
}

/// Opens a signed checkpoint: at least one signature by a key of `log_keys`
/// (all named after the origin), every trusted signature valid, and at least
/// `min_witnesses` of `witness_keys` cosigning.
pub fn open_checkpoint(
    note: &str,
    log_keys: &[VerifierKey],
    witness_keys: &[VerifierKey],
    min_witnesses: usize,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    // A witness key must be a cosignature key and a log key a note key:
    // otherwise a log signature could be counted as a witness's.
    if log_keys.iter().any(|k| k.kind != super::note::ED25519)
        || witness_keys
            .iter()
            .any(|k| k.kind != super::note::COSIGNATURE)
    {
        return Err(CheckpointError::Malformed(
            "log keys must be Ed25519 note keys (type 0x01), witness keys cosignature keys (type 0x04)",
        ));
    }
    let note = Note::parse(note)?;
    let checkpoint = Checkpoint::parse_text(&note.text)?;
    if let Some(k) = log_keys.iter().find(|k| k.name != checkpoint.origin) {
        return Err(CheckpointError::WrongOrigin {
            expected: k.name.clone(),
            found: checkpoint.origin,
        });
    }
    if note.verify(log_keys)?.is_empty() {
        return Err(NoteError::Unverified.into());
    }
    let witnesses: Vec<VerifierKey> = note.verify(witness_keys)?.into_iter().cloned().collect();
    if witnesses.len() < min_witnesses {
        return Err(CheckpointError::Malformed(
            "fewer trusted witness cosignatures than required",
        ));
    }
    Ok(VerifiedCheckpoint {
        checkpoint,
        note,
        witnesses,
    })
}
