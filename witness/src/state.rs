//! The witness's durable memory: for each log origin, the latest checkpoint
//! it cosigned, one file per origin under `<state>/checkpoints/`, and the
//! lock that keeps a second witness process off the same directory.
//!
//! It owns the file layout, atomic replacement and the fsync order. It must
//! not know HTTP, the protocol's status codes or any key: it stores what it
//! is handed after the caller verified it, and reads back size and root.
//!
//! A file holds the signed checkpoint note exactly as the log sent it, so
//! the state is also evidence of what the log signed; it is read back
//! without checking signatures (a log's keys may have rotated since).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use consent_tlog::{empty_root, Checkpoint, Hash, Note};
use sha2::{Digest, Sha256};

/// What the witness holds for one origin: the size and root hash of the
/// latest checkpoint it cosigned (size 0 and the empty root before any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
}

impl Latest {
    /// A log never cosigned: every tree is consistent with the empty one.
    pub fn never_cosigned() -> Self {
        Self {
            size: 0,
            root: empty_root(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("witness state {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("witness state {} is corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("another witness process is using {}", .0.display())]
    Locked(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The checkpoints directory, held under an exclusive lock for as long as
/// this value lives.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// Two processes on one directory would each serialise only their own
    /// requests, and could then cosign two inconsistent checkpoints; the OS
    /// lock (released when the process dies) makes the second one refuse to
    /// start instead.
    /// Refused log-signed checkpoints, kept as evidence.
    refused: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Opens `<root>/checkpoints` (created 0700 if missing) and takes the
    /// lock `<root>/witness.lock`.
    pub fn open(root: &Path) -> Result<Self, StateError> {
        let lock_path = root.join("witness.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StateError::Locked(root.into())),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let dir = root.join("checkpoints");
        if !dir.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(io(&dir))?;
            sync_dir(root)?;
        }
        Ok(Self {
            dir,
            refused: root.join("refused"),
            _lock: lock,
        })
    }

    /// Keeps a refused, log-signed checkpoint with the request it came in:
    /// beside the cosigned one in `checkpoints/`, it is what an operator or
    /// a regulator needs to show the log presented two views (each file is
    /// `old`, the proof and the note, as received). Named after the origin's
    /// hash, the size and the time; durable before the refusal is answered.
    pub fn keep_refused(
        &self,
        origin: &str,
        size: u64,
        request: &str,
    ) -> Result<PathBuf, StateError> {
        if !self.refused.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.refused)
                .map_err(io(&self.refused))?;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let digest = hex::encode(Sha256::digest(origin.as_bytes()));
        let path = self.refused.join(format!("{digest}-{size}-{nanos}.txt"));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(request.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&path))?;
        sync_dir(&self.refused)?;
        Ok(path)
    }

    /// Origins are arbitrary text (slashes, dots): the file is named after
    /// their hash so no origin can name a path outside the directory.
    fn path(&self, origin: &str) -> PathBuf {
        let digest = Sha256::digest(origin.as_bytes());
        self.dir.join(format!("{}.checkpoint", hex::encode(digest)))
    }

    /// The latest cosigned checkpoint of `origin`, or
    /// [`Latest::never_cosigned`] when there is no file for it.
    pub fn load(&self, origin: &str) -> Result<Latest, StateError> {
        let path = self.path(origin);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Latest::never_cosigned())
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let corrupt = |detail: String| StateError::Corrupt {
            path: path.clone(),
            detail,
        };
        let note = Note::parse(&text).map_err(|e| corrupt(e.to_string()))?;
        let checkpoint = Checkpoint::parse_text(&note.text).map_err(|e| corrupt(e.to_string()))?;
        if checkpoint.origin != origin {
            return Err(corrupt(format!(
                "it holds a checkpoint of {:?}",
                checkpoint.origin
            )));
        }
        Ok(Latest {
            size: checkpoint.size,
            root: checkpoint.root,
        })
    }

    /// Replaces the stored checkpoint of `origin` with `note`, durably:
    /// write a temporary file, fsync it, rename it over the old one, fsync
    /// the directory. A crash leaves either the old file or the new one,
    /// never a torn one, and a cosignature is only answered after this
    /// returns, so a restart never forgets a size it cosigned.
    pub fn save(&self, origin: &str, note: &str) -> Result<(), StateError> {
        let path = self.path(origin);
        let tmp = path.with_extension("checkpoint.tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(note.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)
    }
}

/// Makes a directory's entries (a created file, a rename) durable.
fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use consent_tlog::NoteSigner;
    use ed25519_dalek::SigningKey;

    #[test]
    fn saves_replaces_and_reloads_and_locks_out_a_second_process() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir::open(root.path()).unwrap();
        assert_eq!(
            state.load("log.example/a").unwrap(),
            Latest::never_cosigned()
        );
        let log = NoteSigner::new("log.example/a", SigningKey::from_bytes(&[3; 32]));
        for size in [4, 9] {
            let checkpoint = Checkpoint {
                origin: "log.example/a".into(),
                size,
                root: [size as u8; 32],
            };
            state
                .save(
                    "log.example/a",
                    &checkpoint.sign(std::slice::from_ref(&log)).to_string(),
                )
                .unwrap();
        }
        assert!(matches!(
            StateDir::open(root.path()),
            Err(StateError::Locked(_))
        ));
        drop(state);
        let state = StateDir::open(root.path()).unwrap();
        assert_eq!(
            state.load("log.example/a").unwrap(),
            Latest {
                size: 9,
                root: [9; 32]
            }
        );
        assert_eq!(
            state.load("log.example/b").unwrap(),
            Latest::never_cosigned()
        );
    }
}
