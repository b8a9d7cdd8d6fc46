//! `consent`: the command-line front of consent-ledger.
//!
//! ## Layout
//! - `cli/mod.rs`: the argument grammar (clap) and dispatch.
//! - `cli/<command>.rs`: one file per command (`policy`, `append`, `verify`,
//!   `export`, `key`, `demo`, `schemas`, `serve`, `relay`, `checkpoint`,
//!   `proof`, `receipt`, `witness`, …).
//! - `db.rs`: turns `--db` and `--keys` into a store and a key store.
//! - `http/`: the HTTP API (`consent serve`), one file per resource.
//! - `log_format.rs`: the JSON lines of the log.
//!
//! The binary owns presentation (what is printed, exit codes) and wiring;
//! rules live in `consent-domain`, the log in `consent-ledger`.

mod cli;
mod db;
mod http;
mod log_format;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything the ledger writes holds or protects personal data (the
    // database and its side files, keys, replicas, witness state, exports):
    // readable by its owner only, whatever umask the caller has.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let args = <cli::Args as clap::Parser>::parse();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr: text on a terminal, one JSON object per line otherwise
/// (`CONSENT_LOG_FORMAT=text|json` decides). `CONSENT_LOG` filters; by
/// default warnings and the access log (`consent::access`, one line per
/// request; silence it with `CONSENT_LOG=warn,consent::access=off`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONSENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,consent::access=info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match log_format::LineFormat::current() {
        log_format::LineFormat::Json => builder.event_format(log_format::JsonLines).init(),
        log_format::LineFormat::Text => builder.init(),
    }
}
