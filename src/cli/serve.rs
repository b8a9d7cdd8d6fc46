//! `consent serve`: the HTTP API on the embedded default, with the consent
//! projection kept current in process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use std::io::Write;

use consent_ledger::Store;

use crate::db::Location;
use crate::http::{create_key, serve, AppState, Scope};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "CONSENT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub async fn run(at: &Location, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ledger = at.ledger().await?;
    if !ledger.store().any_api_key().await? {
        // First start: without a key the API is unusable, so make one with
        // every scope and show it once, on the terminal (never in a log).
        let key = create_key(&**ledger.store(), &Scope::ALL).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "No API key existed; created one with every scope (decide, record, policy, audit)."
        )?;
        writeln!(
            out,
            "It is shown only now; only its hash is stored:\n\n    {key}\n"
        )?;
        writeln!(
            out,
            "Make narrower keys with `consent api-key create --scopes decide`."
        )?;
        out.flush()?;
    }
    let projection = consent_consumers::projector::start(&ledger).await?;
    serve(Arc::new(AppState::new(ledger, projection)), args.listen).await?;
    Ok(ExitCode::SUCCESS)
}
