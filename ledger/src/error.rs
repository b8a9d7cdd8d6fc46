//! The ledger's errors: infrastructure failures ([`LedgerError`]) kept apart
//! from business rejections ([`Rejection`]), so an append returns
//! `Result<Result<Appended, Rejection>, LedgerError>`.

use consent_domain::DomainError;

use crate::keys::KeyError;
use crate::store::StoreError;

/// The append could not be carried out (nothing was appended, or, for
/// [`LedgerError::Unknown`], the outcome is not known).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the stored log is inconsistent at entry {seq}: {detail}; run `consent verify`")]
    Corrupt { seq: u64, detail: String },
    /// Storage failed: the append was not acknowledged. It was not
    /// appended, or (a commit whose answer was lost with the database
    /// connection) it may have been; a retry with the same idempotency key
    /// is safe either way.
    #[error("storage unavailable, the append was not acknowledged: {0}")]
    Unavailable(String),
    /// The disk holding the ledger is full; nothing was appended. The
    /// writer resumes by itself once space is back.
    #[error("the ledger's storage is full, nothing was appended: {0}")]
    StorageFull(String),
    /// The store no longer holds what this ledger's key directory
    /// remembers signing: entries were lost (a restored backup, a lost
    /// WAL) or the log forked.
    #[error(
        "store_rolled_back: {detail}; refusing to append onto it (RELIABILITY.md says what to do)"
    )]
    StoreRolledBack { detail: String },
    #[error("the ledger writer has stopped")]
    WriterStopped,
    /// A proof was asked for a position the tree of that size lacks.
    #[error("position {index} is not in a tree of size {size}")]
    NotInTree { index: u64, size: u64 },
    /// The stored tiles lack a node a proof needs.
    #[error("the stored Merkle tree is incomplete: {0}")]
    TreeIncomplete(String),
    /// The ledger's name cannot name a C2SP note key (checkpoints).
    #[error("ledger name {0:?} is not a valid log name: non-empty, no spaces, no '+', no control characters (e.g. consent.example.com/ledger)")]
    InvalidName(String),
    /// A checkpoint would not be consistent with the last one published:
    /// the log refuses to sign it.
    #[error("refusing to sign checkpoint {size}: {detail}")]
    InconsistentCheckpoint { size: u64, detail: String },
}

impl LedgerError {
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Store(StoreError::Conflict(_)) => "write_conflict",
            LedgerError::Store(StoreError::Full(_)) | LedgerError::StorageFull(_) => "storage_full",
            LedgerError::StoreRolledBack { .. } => "store_rolled_back",
            LedgerError::Store(StoreError::Corrupt { .. }) => "ledger_corrupt",
            LedgerError::Store(_) | LedgerError::Unavailable(_) => "storage_unavailable",
            LedgerError::Key(_) => "key_store_error",
            LedgerError::Corrupt { .. } => "ledger_corrupt",
            LedgerError::WriterStopped => "writer_stopped",
            LedgerError::NotInTree { .. } => "not_in_tree",
            LedgerError::InvalidName(_) => "invalid_ledger_name",
            LedgerError::TreeIncomplete(_) => "tree_incomplete",
            LedgerError::InconsistentCheckpoint { .. } => "inconsistent_checkpoint",
        }
    }
}

/// The append was refused; nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The key was used for a different request in the same scope (the
    /// key is not repeated: it may be personal).
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyConflict,
    #[error("invalid idempotency key: {0}")]
    InvalidIdempotencyKey(&'static str),
    /// Entries are Merkle leaves and tile-bundle records, each at most
    /// 65,535 bytes.
    #[error("the entry would be {bytes} bytes; an entry holds at most 65,535")]
    EntryTooLarge { bytes: usize },
}

impl Rejection {
    /// Stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Domain(e) => e.code(),
            Rejection::IdempotencyConflict => "idempotency_conflict",
            Rejection::InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            Rejection::EntryTooLarge { .. } => "entry_too_large",
        }
    }
}
