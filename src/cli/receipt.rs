//! `consent receipt SEQ [--format json]`: the consent receipt of an entry
//! (a C2SP tlog-proof, or the JSON receipt carrying it); `consent receipt
//! verify FILE --vkey KEY`: checks a receipt offline, with no database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use consent_ledger::decision_receipt::verify_decision_receipt;
use consent_ledger::format::EntryLine;
use consent_ledger::receipt::{consent_receipt, tlog_proof, verify_receipt};
use consent_ledger::replay::replay;
use consent_ledger::store::Store;
use consent_ledger::tlog::VerifierKey;
use consent_ledger::tree::TreeReader;
use serde_json::json;

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReceiptArgs {
    #[command(subcommand)]
    command: Option<ReceiptCommand>,
    /// The entry's sequence number.
    seq: Option<u64>,
    /// `tlog-proof` (C2SP tlog-proof@v1 text) or `json` (ISO/IEC TS 27560
    /// style consent receipt carrying the entry and the proof).
    #[arg(long, default_value = "tlog-proof")]
    format: String,
}

#[derive(Debug, clap::Subcommand)]
enum ReceiptCommand {
    /// Verify a receipt (consent or decision) offline.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The receipt file (JSON receipt, decision receipt, or tlog-proof text).
    file: PathBuf,
    /// The log's verifier key(s), from `consent key show --vkey`.
    #[arg(long, required = true)]
    vkey: Vec<String>,
    /// For a tlog-proof text: the file holding the entry's line.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// Witness cosignature verifier key(s) to check.
    #[arg(long)]
    witness: Vec<String>,
    /// How many of the --witness keys must have cosigned.
    #[arg(long, default_value_t = 0)]
    min_witnesses: usize,
}

fn keys(list: &[String], what: &str) -> anyhow::Result<Vec<VerifierKey>> {
    list.iter()
        .map(|k| VerifierKey::parse(k).with_context(|| format!("--{what} {k:?}")))
        .collect()
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let log_keys = keys(&args.vkey, "vkey")?;
    let witness_keys = keys(&args.witness, "witness")?;
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if let Some(v) = parsed.as_ref().filter(|v| v.get("decision").is_some()) {
        return Ok(match verify_decision_receipt(v, &log_keys) {
            Ok(decision) => {
                print_json(&json!({"verified": true, "kind": "decision", "decision": decision}));
                ExitCode::SUCCESS
            }
            Err(e) => {
                print_json(&json!({"verified": false, "detail": e.to_string()}));
                ExitCode::from(1)
            }
        });
    }
    let entry = match &args.entry {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    Ok(
        match verify_receipt(
            &text,
            entry.as_deref(),
            &log_keys,
            &witness_keys,
            args.min_witnesses,
        ) {
            Ok(r) => {
                print_json(&json!({
                    "verified": true,
                    "kind": "consent",
                    "ledger": r.origin,
                    "seq": r.seq,
                    "type": r.entry.event.kind(),
                    "subject": r.entry.event.subject(),
                    "tree_size": r.tree_size,
                    "witnesses": r.witnesses,
                }));
                ExitCode::SUCCESS
            }
            Err(e) => {
                print_json(&json!({"verified": false, "detail": e.to_string()}));
                ExitCode::from(1)
            }
        },
    )
}

pub async fn run(at: &Location, args: ReceiptArgs) -> anyhow::Result<ExitCode> {
    if let Some(ReceiptCommand::Verify(v)) = args.command {
        return verify(v);
    }
    let Some(seq) = args.seq else {
        bail!("give an entry's sequence number, or `receipt verify FILE`");
    };
    let store = at.store().await?;
    let Some(checkpoint) = store.latest_checkpoint().await?.filter(|c| c.size > seq) else {
        bail!("no published checkpoint covers entry {seq} yet: run `consent checkpoint` (or wait for the server's next one)");
    };
    let proof = tlog_proof(&store, &TreeReader::default(), seq, &checkpoint).await?;
    match args.format.as_str() {
        "tlog-proof" => print!("{proof}"),
        "json" => {
            let line = store
                .lines_at(&[seq])
                .await?
                .pop()
                .with_context(|| format!("no entry {seq}"))?
                .line;
            let entry = EntryLine::parse(&line)?;
            let replayed = replay(&store).await?;
            let policy = policy_of(&replayed.state, &entry);
            let origin = replayed.ledger.unwrap_or_default();
            print_json(&serde_json::to_value(consent_receipt(
                &origin,
                &line,
                &entry,
                policy.as_deref(),
                &proof,
            ))?);
        }
        other => bail!("--format must be tlog-proof or json, not {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy an entry names, or else the one in force when recorded.
fn policy_of(
    state: &consent_domain::LedgerState,
    entry: &EntryLine,
) -> Option<std::sync::Arc<consent_domain::policy::PolicyVersion>> {
    let named = entry.event.policy_version().and_then(|v| state.policy(v));
    named
        .or_else(|| state.policy_in_force(entry.recorded_at))
        .map(|p| p.policy.clone())
}
