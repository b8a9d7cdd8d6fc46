//! The argument grammar and dispatch; one file per command beside this one.

mod api_key;
mod append;
mod checkpoint;
mod dead_letters;
mod decide;
mod demo;
mod export;
mod key;
mod policy;
mod proof;
mod receipt;
mod recover;
mod relay;
mod schemas;
mod serve;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::db::Location;

#[derive(Debug, Parser)]
#[command(
    name = "consent",
    version,
    about = "A signed, hash-chained consent ledger"
)]
pub struct Args {
    /// The ledger database: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "CONSENT_DB",
        default_value = "sqlite://consent.db"
    )]
    db: String,
    /// Key directory (default: beside the SQLite file, `<name>.keys`).
    #[arg(long, global = true, env = "CONSENT_KEYS")]
    keys: Option<PathBuf>,
    /// The ledger's name, written into the genesis entry of a new ledger.
    #[arg(long, global = true, env = "CONSENT_LEDGER_NAME")]
    ledger_name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Policy versions.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Append submissions read from stdin, one JSON object per line.
    Append(append::AppendArgs),
    /// Decide whether a data category of a subject may be processed for a
    /// purpose, now or as of --at; exit 0 if allowed, 3 if not.
    Decide(decide::DecideArgs),
    /// Verify the stored chain, or an export with --file (no database needed).
    Verify(verify::VerifyArgs),
    /// Write the log as JSON Lines for offline verification.
    Export(export::ExportArgs),
    /// Signing keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Publish the reference policy, record a realistic mix of events, verify.
    Demo(demo::DemoArgs),
    /// Serve the HTTP API (decisions, recording, policies, watch stream).
    Serve(serve::ServeArgs),
    /// Recipient notifications that failed their last try.
    #[command(name = "dead-letters")]
    DeadLetters,
    /// Publish the log to Kafka (the outbox relay), resuming where it stopped.
    Relay(relay::RelayArgs),
    /// API keys for the HTTP API.
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Write the JSON Schemas of the wire and log formats.
    Schemas(schemas::SchemasArgs),
    /// Print the latest signed checkpoint (C2SP tlog-checkpoint),
    /// publishing one covering every entry first when this process can.
    Checkpoint,
    /// RFC 9162 inclusion and consistency proofs, as base64 lines.
    #[command(subcommand)]
    Proof(proof::ProofCommand),
    /// The consent receipt of an entry, or `receipt verify` one offline.
    Receipt(receipt::ReceiptArgs),
    /// After a rolled-back store: record the accepted loss and go on.
    #[command(subcommand)]
    Recover(recover::RecoverCommand),
    /// Run a C2SP tlog-witness that cosigns consistent checkpoints.
    #[command(subcommand)]
    Witness(consent_witness::cli::WitnessCommand),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let at = Location {
        url: args.db,
        keys: args.keys,
        name: args.ledger_name,
    };
    match args.command {
        Command::Policy(c) => policy::run(&at, c).await,
        Command::Append(a) => append::run(&at, a).await,
        Command::Decide(a) => decide::run(&at, a).await,
        Command::Verify(a) => verify::run(&at, a).await,
        Command::Export(a) => export::run(&at, a).await,
        Command::Key(c) => key::run(&at, c).await,
        Command::Demo(a) => demo::run(&at, a).await,
        Command::Schemas(a) => schemas::run(a),
        Command::Serve(a) => serve::run(&at, a).await,
        Command::ApiKey(c) => api_key::run(&at, c).await,
        Command::Relay(a) => relay::run(&at, a).await,
        Command::DeadLetters => dead_letters::run(&at).await,
        Command::Witness(c) => consent_witness::cli::run(c).await,
        Command::Checkpoint => checkpoint::run(&at).await,
        Command::Recover(c) => recover::run(&at, c).await,
        Command::Proof(c) => proof::run(&at, c).await,
        Command::Receipt(a) => receipt::run(&at, a).await,
    }
}

/// Prints one JSON value as a line on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}
