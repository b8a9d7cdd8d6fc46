//! `consent verify`: the stored chain, or `--file` an export, offline; with
//! `--since CHECKPOINT` also that the log still extends a checkpoint the
//! auditor saved on an earlier visit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use consent_ledger::checkpointer::log_verifier_key;
use consent_ledger::export::verify_export_with;
use consent_ledger::signed_memory::{self, SignedCheckpoint};
use consent_ledger::tlog::proof_text::hash_line;
use consent_ledger::tlog::{open_checkpoint, Checkpoint, VerifierKey};
use consent_ledger::verify::ChainVerifier;
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
    /// A signed checkpoint saved earlier: the log must extend it (same
    /// first entries, same tree root at its size).
    #[arg(long, value_name = "CHECKPOINT_FILE")]
    since: Option<PathBuf>,
    /// The log verifier key(s) the checkpoint must be signed by (from
    /// `consent key show --vkey`); default: the keys the log introduces.
    #[arg(long)]
    vkey: Vec<String>,
}

pub(crate) fn parse_pin(key: Option<&str>) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(k) = key else { return Ok(None) };
    let mut pin = [0u8; 32];
    if hex::decode_to_slice(k, &mut pin).is_err() {
        bail!("--key must be 64 hex digits (an Ed25519 public key)");
    }
    Ok(Some(pin))
}

/// A failure of the log as a whole (not of one entry's bytes).
struct LogFailure {
    reason: &'static str,
    detail: String,
}

/// Prints the outcome; the exit code is 0 for a verified log, 1 otherwise.
fn report(
    result: Result<VerifyReport, VerifyFailure>,
    log: Result<Option<Checkpoint>, LogFailure>,
    started: Instant,
) -> ExitCode {
    let seconds = started.elapsed().as_secs_f64();
    match (result, log) {
        (Ok(r), Ok(since)) => {
            print_json(&json!({
                "verified": true,
                "entries": r.entries,
                "head": r.head,
                "ledger": r.ledger,
                "tree_root": hash_line(&r.tree_root),
                "extends": since.map(|c| json!({"origin": c.origin, "size": c.size, "root": hash_line(&c.root)})),
                "keys": r.keys.iter().map(|(id, pk)| json!({"key_id": id, "public_key": pk})).collect::<Vec<_>>(),
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "entries_per_second": (r.entries as f64 / seconds.max(1e-9)).round(),
            }));
            ExitCode::SUCCESS
        }
        (Err(f), _) => {
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
        (Ok(_), Err(f)) => {
            print_json(&json!({
                "verified": false,
                "reason": f.reason,
                "detail": f.detail,
            }));
            eprintln!("verification failed: {}: {}", f.reason, f.detail);
            ExitCode::from(1)
        }
    }
}

/// Opens the saved checkpoint: signed by a `--vkey`, or else by a key the
/// log itself introduces, under the log's name.
fn check_since(
    note: &str,
    vkeys: &[String],
    report: &VerifyReport,
) -> Result<Checkpoint, LogFailure> {
    let fail = |reason, detail: String| LogFailure { reason, detail };
    let keys: Vec<VerifierKey> = if vkeys.is_empty() {
        let origin = report.ledger.clone().unwrap_or_default();
        report
            .keys
            .iter()
            .filter_map(|(_, pk)| log_verifier_key(&origin, pk))
            .collect()
    } else {
        vkeys
            .iter()
            .map(|k| VerifierKey::parse(k))
            .collect::<Result<_, _>>()
            .map_err(|e| fail("bad_vkey", e.to_string()))?
    };
    let opened = open_checkpoint(note, &keys, &[], 0)
        .map_err(|e| fail("checkpoint_not_trusted", e.to_string()))?;
    let cp = opened.checkpoint;
    if report.entries < cp.size {
        return Err(fail(
            "not_extending_checkpoint",
            format!(
                "the log has {} entries, fewer than the {} of checkpoint {} {}: entries were removed",
                report.entries, cp.size, cp.origin, cp.size
            ),
        ));
    }
    match report.root_at {
        Some((_, root)) if root == cp.root => Ok(cp),
        Some((_, root)) => Err(fail(
            "not_extending_checkpoint",
            format!(
                "the log does not extend checkpoint {} {}: its first {} entries have root {}, the checkpoint says {}; history before entry {} was rewritten",
                cp.origin, cp.size, cp.size, hash_line(&root), hash_line(&cp.root), cp.size
            ),
        )),
        None => Err(fail("not_extending_checkpoint", "no root at the checkpoint's size".into())),
    }
}

/// The log must extend the checkpoint this ledger's keys remember signing
/// (its own memory: no signature to check).
fn check_remembered(known: &SignedCheckpoint, report: &VerifyReport) -> Result<(), LogFailure> {
    let rolled_back = |detail: String| LogFailure {
        reason: "store_rolled_back",
        detail,
    };
    if report.entries < known.size {
        return Err(rolled_back(format!(
            "the log has {} entries; this ledger signed checkpoint {} before: entries {}..{} are gone",
            report.entries,
            known.size,
            report.entries,
            known.size - 1
        )));
    }
    match report.root_at {
        Some((_, root)) if root == known.root => Ok(()),
        _ => Err(rolled_back(format!(
            "the log's first {} entries are not those of checkpoint {} this ledger signed: history was rewritten",
            known.size, known.size
        ))),
    }
}

pub async fn run(at: &Location, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let pin = parse_pin(args.key.as_deref())?;
    let since = match &args.since {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading checkpoint {}", path.display()))?,
        ),
        None => None,
    };
    let since_size = match &since {
        Some(note) => Some(
            consent_ledger::tlog::Note::parse(note)
                .ok()
                .and_then(|n| Checkpoint::parse_text(&n.text).ok())
                .context("--since: not a signed checkpoint (C2SP tlog-checkpoint)")?
                .size,
        ),
        None => None,
    };
    // On the database, the checkpoint the key directory remembers signing
    // must be extended too (unless an auditor's --since is checked instead).
    let remembered = match (&args.file, &since) {
        (None, None) => at
            .key_dir()
            .ok()
            .and_then(|dir| signed_memory::recall(&dir).ok().flatten()),
        _ => None,
    };
    let mut verifier = ChainVerifier::new(pin);
    if let Some(size) = since_size.or(remembered.as_ref().map(|r| r.size)) {
        verifier = verifier.with_root_at(size);
    }
    let started = Instant::now();
    let (result, tiles) = match &args.file {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let r = verify_export_with(std::io::BufReader::with_capacity(1 << 20, file), verifier)?;
            (r, Ok(()))
        }
        None => {
            // The stored tiles are checked against the tree the entries give.
            let store = at.store().await?;
            let r = consent_ledger::verify_store_with(&store, verifier.keeping_tiles()).await?;
            (r, Ok(()))
        }
    };
    let log = tiles.and_then(|()| match (&result, &since, &remembered) {
        (Ok(report), Some(note), _) => check_since(note, &args.vkey, report).map(Some),
        (Ok(report), None, Some(known)) => check_remembered(known, report).map(|()| None),
        _ => Ok(None),
    });
    Ok(report(result, log, started))
}
