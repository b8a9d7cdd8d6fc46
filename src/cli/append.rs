//! `consent append`: submissions on stdin, one JSON object per line; one
//! JSON result per line on stdout, in input order, each printed (and
//! flushed) as soon as its entry is durable.
//!
//! A line is a submission (`{"type": "consent_granted", ...}`), or an
//! envelope `{"idempotency_key": "...", "submission": {...}}`. Lines are
//! queued in order without waiting for earlier answers, so a large input is
//! group-committed; bad lines are reported and skipped, never appended.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use consent_domain::Submission;
use consent_ledger::{AppendResult, IdempotencyKey};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::db::Location;

/// The scope of idempotency keys given on the command line (`append`,
/// `policy publish`): apart from every API key's.
pub(crate) const CLI_SCOPE: &str = "cli";

#[derive(Debug, clap::Args)]
pub struct AppendArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    idempotency_key: Option<String>,
    submission: Submission,
}

/// Parses one input line: a bare submission or an envelope.
pub(crate) fn parse_line(line: &str) -> Result<(Submission, Option<IdempotencyKey>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if value.get("type").is_some() {
        let s = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok((s, None))
    } else {
        let e: Envelope = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let key = e.idempotency_key.map(|k| IdempotencyKey::new(CLI_SCOPE, k));
        Ok((e.submission, key))
    }
}

/// The JSON printed for one append's outcome; `false` for a rejection.
pub(crate) fn outcome_json(line: usize, result: AppendResult) -> anyhow::Result<(Value, bool)> {
    Ok(match result? {
        Ok(a) => (
            json!({
                "line": line,
                "seq": a.seq,
                "hash": a.hash,
                "recorded_at": a.recorded_at.map(|t| t.to_string()),
                "subject": a.subject.map(|p| p.to_string()),
                "replayed": a.replayed,
            }),
            true,
        ),
        Err(r) => (
            json!({"line": line, "error": {"code": r.code(), "detail": r.to_string()}}),
            false,
        ),
    })
}

enum Queued<F> {
    Answer(F),
    Invalid(String),
}

pub async fn run(at: &Location, _: AppendArgs) -> anyhow::Result<ExitCode> {
    let ledger = at.ledger().await?;
    let checkpointer = ledger.checkpointer().clone();
    // stdin is read on a blocking thread; lines are parsed there and handed
    // over in order.
    let (lines_tx, mut lines_rx) =
        mpsc::channel::<(usize, Result<(Submission, Option<IdempotencyKey>), String>)>(4096);
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if lines_tx.blocking_send((i + 1, parse_line(&line))).is_err() {
                break;
            }
        }
        Ok(())
    });
    // Queue in order; answers are awaited (and printed) in the same order.
    let (answers_tx, mut answers_rx) = mpsc::channel(65_536);
    let queue = async move {
        while let Some((line, parsed)) = lines_rx.recv().await {
            let queued = match parsed {
                Ok((submission, key)) => Queued::Answer(ledger.enqueue(submission, key).await?),
                Err(detail) => Queued::Invalid(detail),
            };
            if answers_tx.send((line, queued)).await.is_err() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let print = async {
        let mut all_ok = true;
        while let Some((line, queued)) = answers_rx.recv().await {
            let value = match queued {
                Queued::Answer(answer) => {
                    let (v, ok) = outcome_json(line, answer.await)?;
                    all_ok &= ok;
                    v
                }
                Queued::Invalid(detail) => {
                    all_ok = false;
                    json!({"line": line, "error": {"code": "invalid_submission", "detail": detail}})
                }
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{value}")?;
            out.flush()?;
        }
        anyhow::Ok(all_ok)
    };
    let (queued, all_ok) = tokio::join!(queue, print);
    queued?;
    reader.await??;
    // Leave a checkpoint covering what was appended: receipts for it can
    // be made at once.
    checkpointer.publish().await?;
    Ok(if all_ok? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
