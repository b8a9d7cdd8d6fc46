//! `consent dead-letters`: recipient notifications given up on after their
//! last try, one JSON object per line, for an operator to act on.

use std::process::ExitCode;

use consent_ledger::Store;
use serde_json::json;

use super::print_json;
use crate::db::Location;

pub async fn run(at: &Location) -> anyhow::Result<ExitCode> {
    let store = at.store().await?;
    for d in store.dead_letters().await? {
        print_json(&json!({
            "seq": d.seq,
            "recipient": d.recipient,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "failed_at": d.failed_at,
        }));
    }
    Ok(ExitCode::SUCCESS)
}
