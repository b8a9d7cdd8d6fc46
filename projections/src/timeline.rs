//! Per subject, the facts that matter to decisions, in log order. Each fact
//! keeps its sequence number, recording time and entry hash: the evidence.

use consent_domain::event::AcceptanceMethod;
use consent_domain::Timestamp;
use smallvec::SmallVec;

/// Interned purpose, data category and policy version ids.
pub type PurposeIx = u32;
pub type CategoryIx = u32;
pub type VersionIx = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Granted {
        purpose: PurposeIx,
        /// Sorted; up to four inline (no separate allocation to chase).
        categories: SmallVec<[CategoryIx; 4]>,
        version: VersionIx,
    },
    /// `None`: every purpose.
    Withdrawn {
        purpose: Option<PurposeIx>,
    },
    Unsubscribed {
        purpose: PurposeIx,
        category: CategoryIx,
    },
    Accepted {
        version: VersionIx,
        method: AcceptanceMethod,
    },
    Objected {
        purpose: PurposeIx,
    },
    AccountClosed,
    Erased,
}

/// Where a fact sits in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub at: Position,
    pub fact: Fact,
}

/// A subject's facts, ordered by sequence number (and so by time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub records: Vec<Record>,
}

impl Timeline {
    /// The facts recorded at or before `t`.
    pub fn until(&self, t: Timestamp) -> &[Record] {
        let n = self.records.partition_point(|r| r.at.recorded_at <= t);
        &self.records[..n]
    }
}
