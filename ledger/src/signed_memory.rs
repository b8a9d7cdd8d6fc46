//! What the signer remembers: the latest checkpoint it signed, kept beside
//! the keys (`<keys>/signed-checkpoint`), written and fsynced before the
//! checkpoint is stored or published.
//!
//! The database can lose its tail without noticing: a truncated SQLite WAL,
//! a restored backup, a failed-over replica that was behind. Whatever the
//! store then says, the key directory knows how far the log had been
//! signed; a writer refuses to start on a store that does not extend it
//! (`store_rolled_back`) and never signs a checkpoint inconsistent with it,
//! so a rollback cannot silently fork the log. Only the latest is kept: a
//! log that extends it extends every earlier one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::tlog::{Checkpoint, Note};

/// The file's name in the key directory.
pub const FILE: &str = "signed-checkpoint";

/// A checkpoint this ledger signed: its size, root and note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
}

impl SignedCheckpoint {
    /// Reads a signed note's size and root (without checking signatures:
    /// the file is the signer's own memory).
    pub fn from_note(note: &str) -> Option<Self> {
        let parsed = Note::parse(note).ok()?;
        let cp = Checkpoint::parse_text(&parsed.text).ok()?;
        Some(Self {
            size: cp.size,
            root: cp.root,
            note: note.to_owned(),
        })
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The remembered checkpoint, if this ledger ever signed one.
pub fn recall(dir: &Path) -> std::io::Result<Option<SignedCheckpoint>> {
    match fs::read_to_string(path(dir)) {
        Ok(note) => SignedCheckpoint::from_note(&note).map(Some).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a signed checkpoint", path(dir).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remembers `checkpoint` unless a larger one is remembered already
/// (several writers may share the key directory): written to a temporary
/// file, fsynced, renamed over the old one, and the directory fsynced,
/// under an exclusive lock.
pub fn remember(dir: &Path, checkpoint: &SignedCheckpoint) -> std::io::Result<()> {
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(format!("{FILE}.lock")))?;
    lock.lock()?;
    if recall(dir)
        .ok()
        .flatten()
        .is_some_and(|known| known.size >= checkpoint.size)
    {
        return Ok(());
    }
    let tmp = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(checkpoint.note.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path(dir))?;
    fs::File::open(dir)?.sync_all()
}

/// Sets the remembered checkpoint aside (`signed-checkpoint.lost-<size>`)
/// once its loss is recorded in the log, so the writer can sign again.
pub fn set_aside(dir: &Path, checkpoint: &SignedCheckpoint) -> std::io::Result<PathBuf> {
    let kept = dir.join(format!("{FILE}.lost-{}", checkpoint.size));
    fs::rename(path(dir), &kept)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(kept)
}
