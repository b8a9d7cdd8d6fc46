//! # consent-projections
//!
//! Read models folded from the consent log, answering "may we process data
//! category C of subject S for purpose P, now or as of instant T?" with the
//! evidence (ledger positions and hashes) behind the answer.
//!
//! It owns the fold ([`ConsentProjection::apply`]: in order, idempotent,
//! with the last applied sequence number as its checkpoint) and the decision
//! rules ([`decision`]). Pure and synchronous like the domain.
//!
//! It must not know how entries are stored, signed or delivered (SQLite,
//! in-process channel, Kafka): callers feed it `(seq, recorded_at, hash,
//! event)` in order, from wherever they read the log.
//!
//! ## Layout
//! - [`interner`]: purposes, data categories and policy versions as small integers.
//! - [`timeline`]: per subject, the facts that matter to decisions, in log order.
//! - [`projection`]: the fold and its checkpoint.
//! - [`decision`]: the rules, as of any instant, with reasons and evidence.

pub mod decision;
pub mod interner;
pub mod projection;
pub mod timeline;

pub use decision::{Decision, Evidence, Query, Reason};
pub use projection::{ApplyError, ConsentProjection};
