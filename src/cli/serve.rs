//! `consent serve`: the HTTP API on the embedded default, with the consent
//! projection kept current in process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use crate::db::Location;
use crate::http::{serve, AppState};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "CONSENT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub async fn run(at: &Location, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ledger = at.ledger().await?;
    let projection = consent_consumers::projector::start(&ledger).await?;
    serve(Arc::new(AppState::new(ledger, projection)), args.listen).await?;
    Ok(ExitCode::SUCCESS)
}
