//! `consent recover accept-loss --reason TEXT`: after the store lost
//! entries this ledger had signed (a restored backup, a lost WAL), the
//! writer refuses to start (`store_rolled_back`). This records the loss as
//! a signed `loss_accepted` entry naming the checkpoint that can no longer
//! be extended and how many entries were kept, sets the remembered
//! checkpoint aside (`<keys>/signed-checkpoint.lost-<size>`), and lets the
//! ledger go on. Witnesses and auditors holding that checkpoint will see
//! the next one is inconsistent with it; the entry is the explanation.

use std::process::ExitCode;

use serde_json::json;

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Subcommand)]
pub enum RecoverCommand {
    /// Record, in the log, that the store lost entries this ledger signed.
    AcceptLoss {
        /// Why (kept in the log: no personal data), e.g. "restored the
        /// 2026-12-01 backup after a disk failure".
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(at: &Location, command: RecoverCommand) -> anyhow::Result<ExitCode> {
    let RecoverCommand::AcceptLoss { reason } = command;
    anyhow::ensure!(!reason.trim().is_empty(), "--reason must say why");
    let ledger = at
        .ledger_with(|c| c.accept_loss = Some(reason.clone()))
        .await?;
    match ledger.loss_recorded() {
        Some((seq, checkpoint)) => print_json(&json!({
            "accepted": true,
            "checkpoint": checkpoint,
            "kept": seq,
            "loss_accepted_entry": seq,
        })),
        None => print_json(&json!({
            "accepted": false,
            "detail": "the store extends every checkpoint this ledger signed: nothing was lost",
        })),
    }
    Ok(ExitCode::SUCCESS)
}
