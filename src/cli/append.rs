//! `consent append`: submissions on stdin, one JSON object per line; one
//! JSON result per line on stdout, in input order.
//!
//! A line is a submission (`{"type": "consent_granted", ...}`), or an
//! envelope `{"idempotency_key": "...", "submission": {...}}`. Lines are
//! queued in order without waiting for each answer, so a large input is
//! group-committed; bad lines are reported and skipped, never appended.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use consent_domain::Submission;
use consent_ledger::AppendResult;
use serde::Deserialize;
use serde_json::{json, Value};

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Args)]
pub struct AppendArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    idempotency_key: Option<String>,
    submission: Submission,
}

/// Parses one input line: a bare submission or an envelope.
pub(crate) fn parse_line(line: &str) -> Result<(Submission, Option<String>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if value.get("type").is_some() {
        let s = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok((s, None))
    } else {
        let e: Envelope = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok((e.submission, e.idempotency_key))
    }
}

/// The JSON printed for one append's outcome; `Ok(false)` for a rejection.
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

pub async fn run(at: &Location, _: AppendArgs) -> anyhow::Result<ExitCode> {
    let ledger = at.ledger().await?;
    let stdin = std::io::stdin().lock();
    let mut pending = Vec::new();
    for (i, line) in stdin.lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok((submission, key)) => {
                pending.push((i + 1, Ok(ledger.enqueue(submission, key).await?)))
            }
            Err(detail) => pending.push((i + 1, Err(detail))),
        }
    }
    let mut all_ok = true;
    for (line, p) in pending {
        let value = match p {
            Ok(answer) => {
                let (v, ok) = outcome_json(line, answer.await)?;
                all_ok &= ok;
                v
            }
            Err(detail) => {
                all_ok = false;
                json!({"line": line, "error": {"code": "invalid_submission", "detail": detail}})
            }
        };
        print_json(&value);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
