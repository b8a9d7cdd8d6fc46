//! `consent-witness`: the witness on its own, for whoever runs one without
//! the ledger (its dependency tree has no database driver and no Kafka).
//! Logs go to stderr, filtered by `CONSENT_LOG` (default `warn`).

use std::process::ExitCode;

#[derive(Debug, clap::Parser)]
#[command(name = "consent-witness", version, about = "A C2SP tlog-witness")]
struct Args {
    #[command(subcommand)]
    command: consent_witness::cli::WitnessCommand,
}

fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONSENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(consent_witness::cli::run(args.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
