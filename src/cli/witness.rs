//! `consent witness …` (being written).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum WitnessCommand {
    /// Serve the witness.
    Serve,
}

pub async fn run(_c: WitnessCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
