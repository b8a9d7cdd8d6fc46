//! `consent api-key create --scopes decide,record`: prints a new API key
//! once; only its hash is stored.

use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;

use super::print_json;
use crate::db::Location;
use crate::http::{create_key, Scope};

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key with the given scopes (decide, record, policy, audit).
    Create {
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
}

pub async fn run(at: &Location, command: ApiKeyCommand) -> anyhow::Result<ExitCode> {
    let ApiKeyCommand::Create { scopes } = command;
    let mut parsed = Vec::new();
    for s in &scopes {
        match Scope::parse(s.trim()) {
            Some(scope) => parsed.push(scope),
            None => bail!("unknown scope {s:?}: expected decide, record, policy or audit"),
        }
    }
    let store = at.store().await?;
    let key = create_key(&store, &parsed).await?;
    print_json(&json!({"api_key": key, "scopes": scopes}));
    Ok(ExitCode::SUCCESS)
}
