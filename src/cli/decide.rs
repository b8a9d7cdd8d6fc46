//! `consent decide`: may we process this data category of this subject for
//! this purpose, now or as of an instant? Folds the log into the consent
//! projection and answers with the reason and the evidence.

use std::process::ExitCode;

use consent_domain::{DataCategoryId, Pseudonym, PurposeId, Timestamp};
use consent_ledger::Store;
use consent_projections::{ConsentProjection, Query};
use serde_json::json;

use super::print_json;
use crate::db::Location;

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The controller's identifier of the subject.
    #[arg(long)]
    subject: String,
    #[arg(long)]
    purpose: String,
    /// The data category to process.
    #[arg(long)]
    category: String,
    /// The instant to answer for (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
}

pub async fn run(at: &Location, args: DecideArgs) -> anyhow::Result<ExitCode> {
    let when = match &args.at {
        Some(t) => Timestamp::parse(t)?,
        None => Timestamp::now(),
    };
    let purpose = PurposeId::new(args.purpose)?;
    let data_category = DataCategoryId::new(args.category)?;
    let store = at.store().await?;
    // An unknown (or erased) subject has no pseudonym: it has no history.
    let subject = store
        .find_subjects(&[args.subject.as_str()])
        .await?
        .remove(&args.subject)
        .map(|(_, p)| Pseudonym::try_from(p))
        .transpose()?
        .unwrap_or_else(|| Pseudonym::from_bytes([0; 32]));
    let projection = std::sync::RwLock::new(ConsentProjection::new());
    while consent_consumers::projector::apply_next_page(&store, &projection).await? > 0 {}
    let projection = projection.into_inner().expect("projection lock");
    let d = projection.decide(&Query {
        subject,
        purpose,
        data_category,
        at: when,
    });
    print_json(&json!({
        "allowed": d.allowed,
        "reason": d.reason.code(),
        "dpv_consent_state": d.reason.dpv_consent_state(),
        "legal_basis": d.legal_basis,
        "policy_version": d.policy_version(),
        "evidence": d.evidence.to_vec(),
        "at": d.at,
        "checkpoint": d.checkpoint,
    }));
    Ok(if d.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
