//! `consent schemas --out DIR`: write the JSON Schemas (draft 2020-12) and
//! the HTTP API's OpenAPI 3.1 document.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
}

pub fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)?;
    for (name, text) in consent_ledger::published_schemas() {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let path = args.out.join("openapi.json");
    std::fs::write(&path, crate::http::openapi_document())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}
