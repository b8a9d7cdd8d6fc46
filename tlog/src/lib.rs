//! # consent-tlog
//!
//! The transparency-log view of the ledger: an RFC 9162 Merkle tree over the
//! entries (leaf i = the canonical line of entry i), stored as C2SP
//! tlog-tiles, with C2SP signed-note checkpoints, cosignatures,
//! tlog-proof receipts and signed decision receipts.
//!
//! It owns these formats and their checks, and nothing else: it must not
//! know about storage (reads go through [`merkle::NodeSource`]), async
//! runtimes, the ledger's entry format or the consent rules. That is what
//! lets a witness, an auditor's tool or a browser (it builds for
//! `wasm32-unknown-unknown`) take it without the ledger.
//!
//! - [`merkle`]: hashes, the growing right edge, proofs and their checks.
//! - [`tiles`]: the tile layout, tile paths, the builder that says which
//!   tiles a batch changed.
//! - [`note`]: signed notes, verifier keys, cosignatures.
//! - [`checkpoint`]: checkpoint text, signing and opening.
//! - [`proof_text`]: the tlog-proof@v1 text.
//! - [`consent_receipt`]: the JSON consent receipt of an entry (ISO/IEC TS
//!   27560 fields, the entry and its tlog-proof), as a typed format.
//! - [`decision_receipt`]: a decision signed with the checkpoint it was
//!   evaluated at.

pub mod checkpoint;
pub mod consent_receipt;
pub mod decision_receipt;
pub mod merkle;
pub mod note;
pub mod proof_text;
pub mod tiles;

pub use checkpoint::{open_checkpoint, Checkpoint, CheckpointError, VerifiedCheckpoint};
pub use consent_receipt::ConsentReceipt;
pub use decision_receipt::DecisionReceipt;
pub use merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, tree_root,
    verify_consistency, verify_inclusion, Hash, NodeRecorder, NodeSource, ProofError,
};
pub use note::{Note, NoteError, NoteSigner, SignatureLine, VerifierKey};
pub use proof_text::TlogProof;
pub use tiles::{TileSet, TileWrite, TreeBuilder};

/// Largest leaf input (an entry's canonical line): entry bundles give each
/// entry a 16-bit length.
pub const MAX_LEAF_BYTES: usize = 65_535;
