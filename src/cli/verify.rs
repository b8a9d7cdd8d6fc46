//! `consent verify`: the stored chain, or `--file` an export, offline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use consent_ledger::export::verify_export;
use consent_ledger::{VerifyFailure, VerifyReport};
use serde_json::json;

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify this export instead of the database (no database needed).
    #[arg(long)]
    file: Option<PathBuf>,
    /// The genesis public key you trust (64 hex digits, from `consent key show`).
    #[arg(long)]
    key: Option<String>,
}

pub(crate) fn parse_pin(key: Option<&str>) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(k) = key else { return Ok(None) };
    let mut pin = [0u8; 32];
    if hex::decode_to_slice(k, &mut pin).is_err() {
        bail!("--key must be 64 hex digits (an Ed25519 public key)");
    }
    Ok(Some(pin))
}

/// Prints the outcome; the exit code is 0 for a verified chain, 1 otherwise.
pub(crate) fn report(result: Result<VerifyReport, VerifyFailure>, started: Instant) -> ExitCode {
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            print_json(&json!({
                "verified": true,
                "entries": r.entries,
                "head": r.head,
                "ledger": r.ledger,
                "keys": r.keys.iter().map(|(id, pk)| json!({"key_id": id, "public_key": pk})).collect::<Vec<_>>(),
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "entries_per_second": (r.entries as f64 / seconds.max(1e-9)).round(),
            }));
            ExitCode::SUCCESS
        }
        Err(f) => {
            print_json(&json!({
                "verified": false,
                "seq": f.seq,
                "reason": f.reason.code(),
                "detail": f.detail,
            }));
            eprintln!(
                "verification failed at entry {}: {}: {}",
                f.seq,
                f.reason.code(),
                f.detail
            );
            ExitCode::from(1)
        }
    }
}

pub async fn run(at: &Location, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let pin = parse_pin(args.key.as_deref())?;
    let started = Instant::now();
    let result = match &args.file {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            verify_export(std::io::BufReader::with_capacity(1 << 20, file), pin)?
        }
        None => consent_ledger::verify_store(&at.store().await?, pin).await?,
    };
    Ok(report(result, started))
}
