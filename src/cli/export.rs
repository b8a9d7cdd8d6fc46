//! `consent export --out FILE`: the log as JSON Lines, for offline verification.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where to write the export (`-` for stdout).
    #[arg(long)]
    out: PathBuf,
}

pub async fn run(at: &Location, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = at.store().await?;
    if args.out.as_os_str() == "-" {
        consent_ledger::export::export(&store, std::io::stdout().lock()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let header = consent_ledger::export::export(&store, std::io::BufWriter::new(file)).await?;
    print_json(&json!({"out": args.out, "entries": header.entries, "head": header.head}));
    Ok(ExitCode::SUCCESS)
}
