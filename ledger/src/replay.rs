//! Rebuilds the writer's state from the stored log: the rules' state, the
//! head to link to, and which key is active. Checks sequence and links on
//! the way (cheap) so a writer never appends onto a broken chain; full
//! verification, with signatures, is `verify`.

use std::collections::HashMap;

use consent_domain::{Event, LedgerState, Pseudonym, Timestamp};

use crate::error::LedgerError;
use crate::format::{EntryLine, GENESIS_PREV};
use crate::store::Store;

/// Page size when reading the log.
const PAGE: u32 = 8192;

/// Where the next entry goes.
#[derive(Debug, Clone)]
pub struct Head {
    pub next_seq: u64,
    pub prev: String,
    pub last_time: Option<Timestamp>,
}

pub struct Replayed {
    pub state: LedgerState,
    pub head: Head,
    pub ledger: Option<String>,
    pub active_key: Option<String>,
    /// Per subject, the entries that carry an evidence reference.
    pub evidence_seqs: HashMap<Pseudonym, Vec<u64>>,
    /// Every key the log introduced, in order: (key id, public key hex).
    pub keys: Vec<(String, String)>,
}

pub async fn replay<S: Store>(store: &S) -> Result<Replayed, LedgerError> {
    let mut state = LedgerState::new();
    let mut head = Head {
        next_seq: 0,
        prev: GENESIS_PREV.to_owned(),
        last_time: None,
    };
    let mut ledger = None;
    let mut active_key = None;
    let mut keys = Vec::new();
    let mut evidence_seqs: HashMap<Pseudonym, Vec<u64>> = HashMap::new();
    loop {
        let page = store.read_lines(head.next_seq, PAGE).await?;
        let done = page.len() < PAGE as usize;
        for row in page {
            let corrupt = |detail: String| LedgerError::Corrupt {
                seq: row.seq,
                detail,
            };
            let entry = EntryLine::parse(&row.line).map_err(|e| corrupt(e.to_string()))?;
            if entry.seq != head.next_seq || row.seq != head.next_seq {
                return Err(corrupt(format!("expected entry {}", head.next_seq)));
            }
            if entry.prev != head.prev {
                return Err(corrupt("prev does not link to the previous entry".into()));
            }
            match &entry.event {
                Event::LedgerInitialized(g) => {
                    ledger = Some(g.ledger.clone());
                    active_key = Some(g.key_id.clone());
                    keys.push((g.key_id.clone(), g.public_key.clone()));
                }
                Event::KeyRotated(r) => {
                    active_key = Some(r.key_id.clone());
                    keys.push((r.key_id.clone(), r.public_key.clone()));
                }
                _ => {}
            }
            if let (Some(subject), true) = (entry.event.subject(), entry.event.evidence().is_some())
            {
                evidence_seqs
                    .entry(subject.clone())
                    .or_default()
                    .push(entry.seq);
            }
            if let Event::ErasureRequested(e) = &entry.event {
                evidence_seqs.remove(&e.subject);
            }
            state.apply(&entry.event, entry.recorded_at);
            head = Head {
                next_seq: entry.seq + 1,
                prev: entry.hash,
                last_time: Some(entry.recorded_at),
            };
        }
        if done {
            break;
        }
    }
    Ok(Replayed {
        state,
        head,
        ledger,
        active_key,
        keys,
        evidence_seqs,
    })
}
