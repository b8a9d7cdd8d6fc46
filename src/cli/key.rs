//! `consent key show` and `consent key rotate`.

use std::process::ExitCode;

use anyhow::Context;
use consent_ledger::checkpointer::log_verifier_key;
use consent_ledger::replay::replay;
use serde_json::json;

use super::append::outcome_json;
use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Print the ledger's public keys (the active one last). Creates the
    /// ledger and its first key if there is none yet.
    Show {
        /// Print only the C2SP verifier key of the active key
        /// (`<log name>+<key id>+<base64>`), as checkpoint verifiers take it.
        #[arg(long)]
        vkey: bool,
    },
    /// Introduce a new signing key, announced by an entry the old key signs.
    Rotate,
}

pub async fn run(at: &Location, command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Show { vkey } => {
            // Read from the store (a running server may hold the writer
            // lock); open the ledger only to create an empty one's key.
            let mut replayed = replay(&at.store().await?).await?;
            if replayed.keys.is_empty() {
                let ledger = at.ledger().await?;
                replayed = replay(&**ledger.store()).await?;
            }
            let keys = replayed.keys;
            let name = replayed.ledger.unwrap_or_default();
            if vkey {
                let (_, pk) = keys.last().context("no key")?;
                let vk = log_verifier_key(&name, pk)
                    .with_context(|| format!("the log's key {pk} is not an Ed25519 public key"))?;
                println!("{vk}");
                return Ok(ExitCode::SUCCESS);
            }
            let active = keys.last().cloned();
            print_json(&json!({
                "ledger": name,
                "active": active.map(|(id, pk)| json!({"key_id": id, "public_key": pk})),
                "keys": keys.iter().map(|(id, pk)| json!({"key_id": id, "public_key": pk})).collect::<Vec<_>>(),
            }));
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Rotate => {
            let ledger = at.ledger().await?;
            let (value, ok) = outcome_json(1, ledger.rotate_key().await)?;
            print_json(&value);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
