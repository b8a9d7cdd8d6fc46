//! # consent-keys
//!
//! The key store: Ed25519 signing keys in a directory, one file per key,
//! and a key's id ([`key_id`]). Shared by the ledger and the witness, and
//! nothing more: it must not know logs, notes or storage.
//!
//! A key file holds the 32-byte secret seed as hex. The directory must be
//! `0700` and every key file `0600`: a key that others can read is refused,
//! not silently fixed. Which key is *active* is not stored here: the log says
//! it (the genesis entry, then each `key_rotated` entry), so the two cannot
//! disagree after a crash.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;

mod key_id;
pub use key_id::key_id;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by others (mode {mode:o}); run `chmod {want:o} {path}` first")]
    InsecurePermissions { path: PathBuf, mode: u32, want: u32 },
    #[error("key file {0} is not a 64-hex-digit Ed25519 seed")]
    Malformed(PathBuf),
    #[error("no key file for key id {0} in the key store")]
    Missing(String),
}

/// A directory of signing keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

/// A signing key with its id.
#[derive(Clone)]
pub struct LedgerKey {
    pub id: String,
    pub signing: SigningKey,
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LedgerKey({}, <secret redacted>)", self.id)
    }
}

impl LedgerKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        Self {
            id: key_id(signing.verifying_key().as_bytes()),
            signing,
        }
    }
    pub fn verifying(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
    pub fn public_hex(&self) -> String {
        hex::encode(self.verifying().as_bytes())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_mode(path: &Path, want: u32) -> Result<(), KeyError> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
            want,
        });
    }
    Ok(())
}

impl KeyStore {
    /// Opens (creating if needed, mode 0700) the key directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyError> {
        let dir = dir.into();
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io(&dir))?;
        }
        check_mode(&dir, 0o700)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.key"))
    }

    /// Creates a fresh random key and writes it (mode 0600, fsynced) before
    /// returning, so no entry is ever signed by a key that could be lost.
    pub fn generate(&self) -> Result<LedgerKey, KeyError> {
        let key = LedgerKey::from_seed(SigningKey::generate(&mut OsRng).to_bytes());
        self.write_new(&self.path(&key.id), &key)?;
        Ok(key)
    }

    /// Writes a key file that must not exist yet (mode 0600), fsyncing the
    /// file and the directory.
    fn write_new(&self, path: &Path, key: &LedgerKey) -> Result<(), KeyError> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        f.write_all(format!("{}\n", hex::encode(key.signing.to_bytes())).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// Reads a key file, refusing one others can read.
    fn read(path: &Path) -> Result<LedgerKey, KeyError> {
        check_mode(path, 0o600)?;
        let text = fs::read_to_string(path).map_err(io(path))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed)
            .map_err(|_| KeyError::Malformed(path.to_owned()))?;
        Ok(LedgerKey::from_seed(seed))
    }

    /// A key kept under a fixed name (`<name>.key`), created on first use:
    /// for signing things other than entries (recipient webhooks), so the
    /// ledger's own keys sign nothing but the log.
    pub fn named(&self, name: &str) -> Result<LedgerKey, KeyError> {
        let path = self.dir.join(format!("{name}.key"));
        if !path.exists() {
            let key = LedgerKey::from_seed(SigningKey::generate(&mut OsRng).to_bytes());
            self.write_new(&path, &key)?;
            return Ok(key);
        }
        Self::read(&path)
    }

    /// Loads the key with this id, refusing a file others can read.
    pub fn load(&self, id: &str) -> Result<LedgerKey, KeyError> {
        let path = self.path(id);
        if !path.exists() {
            return Err(KeyError::Missing(id.to_owned()));
        }
        let key = Self::read(&path)?;
        if key.id != id {
            return Err(KeyError::Malformed(path));
        }
        Ok(key)
    }
}
