//! `consent checkpoint`: prints the latest signed checkpoint (C2SP
//! tlog-checkpoint), first publishing one that covers every entry when this
//! process can write the ledger.

use std::process::ExitCode;

use consent_ledger::store::Store;
use consent_ledger::StoreError;

use crate::db::Location;

pub async fn run(at: &Location) -> anyhow::Result<ExitCode> {
    let latest = match at.ledger().await {
        Ok(ledger) => ledger.checkpointer().publish().await?,
        // A server holds the SQLite file: print what it has published.
        Err(e)
            if e.downcast_ref::<consent_ledger::LedgerError>()
                .is_some_and(|l| {
                    matches!(
                        l,
                        consent_ledger::LedgerError::Store(StoreError::WriterBusy(_))
                    )
                }) =>
        {
            at.store().await?.latest_checkpoint().await?
        }
        Err(e) => return Err(e),
    };
    match latest {
        Some(c) => {
            print!("{}", c.note);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no checkpoint: the log is empty");
            Ok(ExitCode::from(1))
        }
    }
}
