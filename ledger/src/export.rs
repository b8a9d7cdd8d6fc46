//! Export (JSON Lines) and offline verification of an export.
//!
//! Line 1 is a header, the RFC 8785 canonical JSON of
//! `{"entries", "format", "head", "keys": [{"key_id", "public_key"}], "ledger"}`;
//! every following line is one stored entry line, verbatim, in order. It
//! holds everything an offline verifier needs and nothing personal: public
//! keys only, pseudonyms only, evidence references only.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::format::EntryLine;
use crate::store::Store;
use crate::verify::{ChainVerifier, FailureReason, Input, VerifyFailure, VerifyReport, WINDOW};

pub const EXPORT_FORMAT: &str = "consent-ledger/export/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    pub format: String,
    pub ledger: String,
    pub entries: u64,
    /// Hash of the last exported entry (absent for an empty export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    pub keys: Vec<ExportKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportKey {
    pub key_id: String,
    pub public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes every entry up to the current head. Returns the header written.
pub async fn export<S: Store>(store: &S, mut out: impl Write) -> Result<ExportHeader, ExportError> {
    let head = store.head().await.map_err(LedgerError::from)?;
    let count = head.as_ref().map_or(0, |h| h.seq + 1);
    let mut ledger = String::new();
    let mut keys = Vec::new();
    for row in key_lines(store).await? {
        if row.seq >= count {
            break;
        }
        let entry = EntryLine::parse(&row.line).map_err(|e| LedgerError::Corrupt {
            seq: row.seq,
            detail: e.to_string(),
        })?;
        match entry.event {
            consent_domain::Event::LedgerInitialized(g) => {
                ledger = g.ledger;
                keys.push(ExportKey {
                    key_id: g.key_id,
                    public_key: g.public_key,
                });
            }
            consent_domain::Event::KeyRotated(r) => keys.push(ExportKey {
                key_id: r.key_id,
                public_key: r.public_key,
            }),
            _ => {}
        }
    }
    let header = ExportHeader {
        format: EXPORT_FORMAT.into(),
        ledger,
        entries: count,
        head: head.map(|h| hex::encode(h.hash)),
        keys,
    };
    let header_line = serde_json_canonicalizer::to_string(&header).expect("header serialises");
    writeln!(out, "{header_line}")?;
    let mut next = 0;
    while next < count {
        let page = match store.read_lines(next, WINDOW as u32).await {
            Ok(page) => page,
            Err(e) => {
                // Every entry before the one the store cannot read is out.
                out.flush()?;
                return Err(LedgerError::from(e).into());
            }
        };
        if page.is_empty() {
            break;
        }
        for row in page.into_iter().take_while(|r| r.seq < count) {
            out.write_all(row.line.as_bytes())?;
            out.write_all(b"\n")?;
            next = row.seq + 1;
        }
    }
    out.flush()?;
    Ok(header)
}

/// The entries that introduce keys; on a damaged store (the scan for them
/// fails), those among the entries readable before the damage, so that the
/// export still writes everything before it.
async fn key_lines<S: Store>(store: &S) -> Result<Vec<crate::store::StoredLine>, LedgerError> {
    match store.key_lines().await {
        Ok(lines) => Ok(lines),
        Err(e) if e.is_damage() => {
            let mut found = Vec::new();
            let mut next = 0;
            while let Ok(page) = store.read_lines(next, WINDOW as u32).await {
                let Some(last) = page.last() else { break };
                next = last.seq + 1;
                found.extend(page.into_iter().filter(|r| {
                    r.line.contains("\"type\":\"ledger_initialized\"")
                        || r.line.contains("\"type\":\"key_rotated\"")
                }));
            }
            Ok(found)
        }
        Err(e) => Err(e.into()),
    }
}

/// Verifies an export with no database: every entry, then the header
/// against what the entries establish.
pub fn verify_export(
    input: impl BufRead + Send,
    pinned: Option<[u8; 32]>,
) -> Result<Result<VerifyReport, VerifyFailure>, std::io::Error> {
    verify_export_with(input, ChainVerifier::new(pinned))
}

/// [`verify_export`] with a verifier set up by the caller (for example to
/// remember the tree root at a checkpoint's size).
pub fn verify_export_with(
    mut input: impl BufRead + Send,
    verifier: ChainVerifier,
) -> Result<Result<VerifyReport, VerifyFailure>, std::io::Error> {
    let mut verifier = Some(verifier);
    let malformed = |seq, detail: &str| {
        Ok(Err(VerifyFailure {
            seq,
            reason: FailureReason::Malformed,
            detail: detail.to_owned(),
        }))
    };
    let mut buf = Vec::new();
    if input.read_until(b'\n', &mut buf)? == 0 || buf.pop() != Some(b'\n') {
        return malformed(0, "the export has no header line");
    }
    let header_text = match std::str::from_utf8(&buf) {
        Ok(t) => t.to_owned(),
        Err(_) => return malformed(0, "the header is not UTF-8"),
    };
    let header: ExportHeader = match serde_json::from_str(&header_text) {
        Ok(h) => h,
        Err(e) => return malformed(0, &format!("bad header: {e}")),
    };
    if header.format != EXPORT_FORMAT
        || serde_json_canonicalizer::to_string(&header).ok().as_deref() != Some(&header_text)
    {
        return Ok(Err(VerifyFailure {
            seq: 0,
            reason: FailureReason::HeaderMismatch,
            detail: format!("the header is not a canonical {EXPORT_FORMAT} header"),
        }));
    }
    // A reader thread splits lines into windows while this one checks the
    // previous window.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<String>, VerifyFailure>>(2);
    std::thread::scope(
        |scope| -> std::io::Result<Result<VerifyReport, VerifyFailure>> {
            let input = &mut input;
            let reader = scope.spawn(move || -> std::io::Result<()> {
                let mut position = 0u64;
                let mut buf = Vec::new();
                loop {
                    let mut window: Vec<String> = Vec::with_capacity(WINDOW);
                    let mut eof = false;
                    while window.len() < WINDOW {
                        buf.clear();
                        if input.read_until(b'\n', &mut buf)? == 0 {
                            eof = true;
                            break;
                        }
                        let at = position + window.len() as u64;
                        let bad = |detail: &str| VerifyFailure {
                            seq: at,
                            reason: FailureReason::Malformed,
                            detail: detail.to_owned(),
                        };
                        if buf.pop() != Some(b'\n') {
                            let _ = tx.send(Err(bad("the last line does not end with a newline")));
                            return Ok(());
                        }
                        match String::from_utf8(std::mem::take(&mut buf)) {
                            Ok(line) => window.push(line),
                            Err(_) => {
                                let _ = tx.send(Err(bad("the line is not UTF-8")));
                                return Ok(());
                            }
                        }
                    }
                    position += window.len() as u64;
                    if (!window.is_empty() && tx.send(Ok(window)).is_err()) || eof {
                        return Ok(());
                    }
                }
            });
            let mut verifier = verifier.take().expect("used once");
            let mut position = 0u64;
            for window in rx {
                let window = match window {
                    Ok(w) => w,
                    Err(f) => return Ok(Err(f)),
                };
                let inputs: Vec<Input<'_>> = window
                    .iter()
                    .enumerate()
                    .map(|(i, line)| Input {
                        position: position + i as u64,
                        stored_hash: None,
                        line,
                    })
                    .collect();
                if let Err(f) = verifier.feed(&inputs) {
                    return Ok(Err(f));
                }
                position += window.len() as u64;
            }
            reader.join().expect("the reader thread does not panic")?;
            Ok(Ok(verifier.finish()))
        },
    )
    .map(|checked| checked.and_then(|report| check_header(report, &header)))
}

/// The header must state what the entries establish.
fn check_header(
    report: VerifyReport,
    header: &ExportHeader,
) -> Result<VerifyReport, VerifyFailure> {
    let keys: Vec<(String, String)> = header
        .keys
        .iter()
        .map(|k| (k.key_id.clone(), k.public_key.clone()))
        .collect();
    let mismatch = if report.entries != header.entries {
        Some(format!(
            "the header announces {} entries, the file holds {}",
            header.entries, report.entries
        ))
    } else if report.head != header.head {
        Some("the header's head is not the last entry's hash".into())
    } else if report.keys != keys {
        Some("the header's keys are not the keys the log introduces".into())
    } else if report.ledger.as_deref().unwrap_or("") != header.ledger {
        Some("the header's ledger name is not the genesis entry's".into())
    } else {
        None
    };
    match mismatch {
        Some(detail) => Err(VerifyFailure {
            seq: report.entries,
            reason: FailureReason::HeaderMismatch,
            detail,
        }),
        None => Ok(report),
    }
}
