//! `consent api-key create|list|revoke`: keys for the HTTP API. A new key
//! is printed once; only its hash is stored. Revocation reaches every
//! server on the ledger within a second (see `http/auth.rs`).

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use consent_domain::Timestamp;
use consent_ledger::Store;
use serde_json::json;

use super::print_json;
use crate::db::Location;
use crate::http::{create_key, key_view, parse_expiry, parse_scopes};

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key with the given scopes (decide, watch, record, policy,
    /// audit, admin); prints it once.
    Create {
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Who holds it (shown in listings).
        #[arg(long, default_value = "")]
        name: String,
        /// When it stops working: an RFC 3339 instant or a lifetime such
        /// as 90d, 12h or 30m.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every key: id, name, scopes, status, created, expires, revoked,
    /// last used (never secrets).
    List,
    /// Revoke a key by id: every server refuses it within a second.
    Revoke { id: String },
}

pub async fn run(at: &Location, command: ApiKeyCommand) -> anyhow::Result<ExitCode> {
    let store = at.store().await?;
    match command {
        ApiKeyCommand::Create {
            scopes,
            name,
            expires,
        } => {
            let parsed = parse_scopes(scopes.iter().map(|s| s.trim())).map_err(|e| anyhow!(e))?;
            crate::http::check_name(&name).map_err(|e| anyhow!(e))?;
            let expires = expires
                .as_deref()
                .map(parse_expiry)
                .transpose()
                .map_err(|e| anyhow!(e))?;
            let (key, row) = create_key(&store, &parsed, &name, expires).await?;
            let mut view = key_view(&row);
            view["api_key"] = json!(key);
            print_json(&view);
        }
        ApiKeyCommand::List => {
            for row in store.list_api_keys().await? {
                print_json(&key_view(&row));
            }
        }
        ApiKeyCommand::Revoke { id } => {
            match store
                .revoke_api_key(&id, &Timestamp::now().to_string())
                .await?
            {
                Some(row) => print_json(&key_view(&row)),
                None => bail!("no API key has the id {id:?}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
