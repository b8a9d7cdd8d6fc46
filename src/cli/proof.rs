//! `consent proof inclusion SEQ [--size N]` and `consent proof consistency
//! OLD [NEW]`: RFC 9162 proofs from the stored tiles, one base64 hash per
//! line. Sizes default to the latest published checkpoint's.

use std::process::ExitCode;

use anyhow::Context;
use consent_ledger::store::Store;
use consent_ledger::tlog::proof_text::hash_line;
use consent_ledger::tree::TreeReader;

use crate::db::Location;

#[derive(Debug, clap::Subcommand)]
pub enum ProofCommand {
    /// The audit path of entry SEQ in the tree of --size entries.
    Inclusion {
        /// The entry's sequence number (its leaf index).
        seq: u64,
        /// Tree size (default: the latest checkpoint's).
        #[arg(long)]
        size: Option<u64>,
    },
    /// That the tree of NEW entries extends the tree of OLD entries.
    Consistency {
        /// The older tree size (a checkpoint you saved).
        old: u64,
        /// New tree size (default: the latest checkpoint's).
        new: Option<u64>,
    },
}

pub async fn run(at: &Location, command: ProofCommand) -> anyhow::Result<ExitCode> {
    let store = at.store().await?;
    let latest = || async {
        store
            .latest_checkpoint()
            .await?
            .map(|c| c.size)
            .context("no checkpoint published yet: give the size, or run `consent checkpoint`")
    };
    let tree_size = store.tree_size().await?;
    let reader = TreeReader::default();
    let (proof, size) = match command {
        ProofCommand::Inclusion { seq, size } => {
            let size = match size {
                Some(s) => s,
                None => latest().await?,
            };
            anyhow::ensure!(
                size <= tree_size,
                "the tree has {tree_size} entries, not {size}"
            );
            anyhow::ensure!(seq < size, "entry {seq} is not in a tree of {size} entries");
            (reader.inclusion(&store, seq, size).await?, size)
        }
        ProofCommand::Consistency { old, new } => {
            let new = match new {
                Some(s) => s,
                None => latest().await?,
            };
            anyhow::ensure!(
                new <= tree_size,
                "the tree has {tree_size} entries, not {new}"
            );
            anyhow::ensure!(old <= new, "old size {old} is beyond new size {new}");
            (reader.consistency(&store, old, new).await?, new)
        }
    };
    let _ = size;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for h in proof {
        writeln!(out, "{}", hash_line(&h))?;
    }
    Ok(ExitCode::SUCCESS)
}
