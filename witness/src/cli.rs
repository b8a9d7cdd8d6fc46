//! `consent-witness serve|vkey` (and `consent witness serve|vkey`): a C2SP
//! tlog-witness for a regulator or a partner to run. This file owns the
//! arguments and what is printed; it must not know the protocol's rules or
//! the state's layout. It never opens a ledger's database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::{self as witness, Witness};

#[derive(Debug, clap::Subcommand)]
pub enum WitnessCommand {
    /// Serve `POST /add-checkpoint`: cosign the checkpoints of the --log
    /// logs that are consistent with the last one cosigned for each.
    Serve(ServeArgs),
    /// Print the witness's cosignature verifier key
    /// (`<name>+<key id>+<base64(0x04 ‖ public key)>`), creating its key if
    /// missing; give it to whoever checks the cosignatures.
    Vkey(Identity),
}

/// Who the witness is: its directory (its key and state) and its name.
#[derive(Debug, clap::Args)]
pub struct Identity {
    /// The witness's directory (0700): `witness.key` (0600) and the latest
    /// cosigned checkpoint per log; created on first start.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// The witness's name, as in its cosignature lines (e.g.
    /// `witness.example.org/w1`).
    #[arg(long)]
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[command(flatten)]
    identity: Identity,
    /// A log's verifier key, `<origin>+<key id>+<base64(0x01 ‖ public
    /// key)>`; repeat for several logs, or for one log's old and new key
    /// while it rotates.
    #[arg(long = "log", value_name = "VKEY", required = true)]
    logs: Vec<String>,
}

pub async fn run(c: WitnessCommand) -> anyhow::Result<ExitCode> {
    match c {
        WitnessCommand::Vkey(id) => {
            let key = witness::verifier_key(&id.state, &id.name)
                .with_context(|| format!("witness directory {}", id.state.display()))?;
            println!("{key}");
        }
        WitnessCommand::Serve(args) => {
            let id = &args.identity;
            let w = Witness::open(&id.state, &id.name, &args.logs)
                .with_context(|| format!("witness directory {}", id.state.display()))?;
            witness::serve(Arc::new(w), args.listen)
                .await
                .with_context(|| format!("serving the witness on {}", args.listen))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
