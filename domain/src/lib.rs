//! # consent-domain
//!
//! The consent domain, pure and synchronous: privacy-policy versions
//! ([`policy`]), what clients ask to record ([`command`]), what the log
//! records ([`event`]), the rules that accept or reject a command
//! ([`state::LedgerState::decide`]) and the fold that keeps the rules' state
//! ([`state::LedgerState::apply`]).
//!
//! It owns the vocabulary (subject, purpose, data category, legal basis,
//! policy version, channel, evidence) and every business rejection
//! ([`error::DomainError`], each with a stable code).
//!
//! It must not know about storage, SQL, HTTP, Kafka, async runtimes, keys or
//! the log's byte format: those belong to `consent-ledger` and the binaries.
//! Its Cargo.toml proves it: no tokio, no sqlx.
//!
//! ## Layout
//! - [`ids`]: validated identifiers (purpose, data category, recipient,
//!   policy version, channel, right) and the subject [`ids::Pseudonym`].
//! - [`timestamp`]: the ledger's instant, with one canonical spelling.
//! - [`policy`] and [`policy_diff`]: a policy version, and what changed
//!   (materially or not) since the previous one.
//! - [`command`]: submissions, including the wire form that still carries
//!   the controller's subject id and inline evidence.
//! - [`event`]: the recorded events.
//! - [`pseudonym`]: keyed subject pseudonyms, salted evidence references.
//! - [`subject_id`]: the controller's subject id in its one canonical form.
//! - [`state`]: the fold and the rules.
//! - [`error`]: business rejections.
//! - [`schema`]: JSON Schemas (draft 2020-12) of the wire and log types.

pub mod command;
pub mod error;
pub mod event;
pub mod ids;
pub mod notify_url;
pub mod policy;
pub mod policy_diff;
pub mod pseudonym;
pub mod schema;
pub mod state;
pub mod subject_id;
pub mod timestamp;

pub use command::{Command, Evidence, SubjectId, Submission};
pub use error::DomainError;
pub use event::Event;
pub use ids::{
    Channel, DataCategoryId, Digest, PolicyVersionId, Pseudonym, PurposeId, RecipientId,
};
pub use policy::{LegalBasis, PolicyVersion};
pub use state::LedgerState;
pub use timestamp::Timestamp;
