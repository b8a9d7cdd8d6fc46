//! `consent policy publish FILE`: publish a policy version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use consent_domain::command::PublishPolicy;
use consent_domain::{PolicyVersion, Submission};
use consent_ledger::IdempotencyKey;

use super::append::outcome_json;
use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Publish the policy version in FILE (JSON, see schemas/policy-version.schema.json).
    Publish {
        file: PathBuf,
        /// Makes a retry safe: the same key and file append nothing new.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

pub async fn run(at: &Location, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Publish {
        file,
        idempotency_key,
    } = command;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let policy: PolicyVersion = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a policy version", file.display()))?;
    // A ledger created by its first policy is named after its controller.
    let ledger = at.named_after(&policy).ledger().await?;
    let result = ledger
        .append(
            Submission::PolicyPublished(PublishPolicy { policy }),
            idempotency_key.map(|k| IdempotencyKey::new(super::append::CLI_SCOPE, k)),
        )
        .await;
    let (value, ok) = outcome_json(1, result)?;
    print_json(&value);
    ledger.checkpointer().publish().await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
