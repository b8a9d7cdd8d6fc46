//! `consent demo`: the reference policy end to end on the embedded default.
//!
//! Publishes the reference policy (once), records a cohort of subjects with
//! a realistic mix of acceptances, grants, withdrawals, unsubscribes,
//! objections, closures and erasures, publishes a material update (an
//! affiliate's change of purpose) with explicit re-acceptance and a
//! non-material one accepted by continued use, then verifies the chain.
//! Every run adds a new cohort, so it can be run again on the same ledger.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use consent_domain::command::PublishPolicy;
use consent_domain::event::{
    AcceptanceMethod, AccountClosed, ConsentGranted, ConsentWithdrawn, ErasureRequested,
    ObjectionRecorded, PolicyAccepted, Unsubscribed,
};
use consent_domain::policy::DeclaredChange;
use consent_domain::{
    Channel, DataCategoryId, Evidence, PolicyVersion, PolicyVersionId, PurposeId, SubjectId,
    Submission, Timestamp,
};
use consent_ledger::replay::replay;
use consent_ledger::{AnyStore, AppendResult, IdempotencyKey, Ledger};
use serde_json::json;

use crate::db::Location;

/// The reference policy from `shared/reference/`, encoded.
pub const REFERENCE_POLICY: &str = include_str!("../../examples/reference-policy.json");

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Subjects in the cohort this run records.
    #[arg(long, default_value_t = 3000)]
    subjects: u32,
}

fn id<T: TryFrom<String>>(s: &str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(s.to_owned()).expect("demo identifiers are valid")
}

fn evidence(value: serde_json::Value) -> Option<Evidence> {
    serde_json::from_value(value).ok()
}

/// Counts outcomes by event kind and rejection code.
#[derive(Default)]
struct Tally {
    appended: BTreeMap<&'static str, u64>,
    rejected: BTreeMap<&'static str, u64>,
    replayed: u64,
}

impl Tally {
    fn total(&self) -> u64 {
        self.appended.values().sum()
    }
}

async fn submit_all(
    ledger: &Ledger<AnyStore>,
    submissions: Vec<(Submission, Option<IdempotencyKey>)>,
) -> anyhow::Result<Tally> {
    let mut pending: Vec<(&'static str, _)> = Vec::with_capacity(submissions.len());
    for (s, key) in submissions {
        let kind = s.kind();
        pending.push((kind, ledger.enqueue(s, key).await?));
    }
    let mut tally = Tally::default();
    for (kind, answer) in pending {
        count(&mut tally, kind, answer).await?;
    }
    Ok(tally)
}

async fn count(
    tally: &mut Tally,
    kind: &'static str,
    answer: impl Future<Output = AppendResult>,
) -> anyhow::Result<()> {
    match answer.await? {
        Ok(a) if a.replayed => tally.replayed += 1,
        Ok(_) => *tally.appended.entry(kind).or_default() += 1,
        Err(r) => *tally.rejected.entry(r.code()).or_default() += 1,
    }
    Ok(())
}

/// What the cohort's subject `i` does, decided by its number so that runs
/// are reproducible: shares add up to a plausible consent-management mix.
fn cohort(
    run: &str,
    n: u32,
    version: &PolicyVersionId,
) -> Vec<(Submission, Option<IdempotencyKey>)> {
    let web: Channel = id("web-signup-form");
    let settings: Channel = id("account-settings-page");
    let mut out = Vec::new();
    for i in 0..n {
        let subject: SubjectId =
            SubjectId::new(format!("demo-{run}-{i:06}@example.com")).expect("valid");
        let bucket = (i.wrapping_mul(7919) % 100) as u8;
        let ev = |form: &str| {
            evidence(
                json!({"ip": format!("198.51.100.{}", i % 250), "form": form, "user_agent": "demo"}),
            )
        };
        out.push((
            Submission::PolicyAccepted(PolicyAccepted {
                subject: subject.clone(),
                policy_version: version.clone(),
                method: AcceptanceMethod::Explicit,
                channel: web.clone(),
                evidence: ev("signup"),
            }),
            None,
        ));
        let grant = |purpose: &str, cats: &[&str]| {
            Submission::ConsentGranted(ConsentGranted {
                subject: subject.clone(),
                purpose: id(purpose),
                data_categories: cats.iter().map(|c| id::<DataCategoryId>(c)).collect(),
                policy_version: version.clone(),
                channel: web.clone(),
                evidence: ev("consent-banner"),
            })
        };
        if bucket < 60 {
            out.push((
                grant("marketing", &["name", "email-address", "phone-number"]),
                None,
            ));
        }
        if bucket.is_multiple_of(3) {
            out.push((
                grant(
                    "partner-sharing",
                    &["name", "email-address", "company-name"],
                ),
                None,
            ));
        }
        if bucket % 4 == 1 {
            out.push((
                grant(
                    "affiliate-sharing",
                    &["name", "email-address", "account-usage"],
                ),
                None,
            ));
        }
        if (50..60).contains(&bucket) {
            out.push((
                Submission::ConsentWithdrawn(ConsentWithdrawn {
                    subject: subject.clone(),
                    purpose: Some(id("marketing")),
                    channel: settings.clone(),
                    evidence: None,
                }),
                None,
            ));
        }
        if bucket < 8 {
            out.push((
                Submission::Unsubscribed(Unsubscribed {
                    subject: subject.clone(),
                    purpose: id("marketing"),
                    data_category: id("email-address"),
                    channel: id("email-unsubscribe-link"),
                    evidence: evidence(json!({"message_id": format!("<{i}@mail.example.com>")})),
                }),
                None,
            ));
        }
        if (70..75).contains(&bucket) {
            out.push((
                Submission::ObjectionRecorded(ObjectionRecorded {
                    subject: subject.clone(),
                    purpose: id("service-improvement"),
                    channel: id("privacy-mailbox"),
                    evidence: None,
                }),
                None,
            ));
        }
        if (90..92).contains(&bucket) {
            // Withdrawing what was never granted: refused, nothing appended.
            out.push((
                Submission::ConsentWithdrawn(ConsentWithdrawn {
                    subject: subject.clone(),
                    purpose: Some(id("marketing")),
                    channel: settings.clone(),
                    evidence: None,
                }),
                None,
            ));
        }
        if (95..97).contains(&bucket) {
            out.push((
                Submission::AccountClosed(AccountClosed {
                    subject: subject.clone(),
                    channel: settings.clone(),
                    evidence: None,
                }),
                None,
            ));
        }
        if bucket == 97 {
            out.push((
                Submission::ErasureRequested(ErasureRequested {
                    subject: subject.clone(),
                    channel: id("privacy-mailbox"),
                    evidence: None,
                }),
                None,
            ));
        }
    }
    out
}

fn subject(run: &str, i: u32) -> SubjectId {
    SubjectId::new(format!("demo-{run}-{i:06}@example.com")).expect("valid")
}

/// Subjects of the cohort still able to accept (not closed, not erased).
fn active(i: u32) -> bool {
    let bucket = (i.wrapping_mul(7919) % 100) as u8;
    !(95..98).contains(&bucket)
}

fn per_second(n: u64, started: Instant) -> u64 {
    (n as f64 / started.elapsed().as_secs_f64().max(1e-9)) as u64
}

pub async fn run(at: &Location, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let reference: PolicyVersion =
        serde_json::from_str(REFERENCE_POLICY).context("the reference policy")?;
    let ledger = at.named_after(&reference).ledger().await?;
    println_out(format!(
        "consent-ledger demo on {} (ledger {})",
        at.url,
        ledger.name()
    ));

    let first = ledger
        .append(
            Submission::PolicyPublished(PublishPolicy {
                policy: reference.clone(),
            }),
            Some(IdempotencyKey::new(
                "demo",
                format!("policy:{}", reference.version),
            )),
        )
        .await?;
    match &first {
        Ok(a) if a.replayed => println_out(format!(
            "  reference policy {}: already published (entry {})",
            reference.version, a.seq
        )),
        Ok(a) => println_out(format!(
            "  reference policy {}: published as entry {}",
            reference.version, a.seq
        )),
        Err(r)
            if r.code() == "duplicate_policy_version" || r.code() == "policy_effective_in_past" =>
        {
            println_out(format!(
                "  reference policy {}: already in the ledger",
                reference.version
            ))
        }
        Err(r) => bail!("publishing the reference policy: {r}"),
    }

    let state = replay(&**ledger.store()).await?.state;
    let latest = state
        .policies()
        .last()
        .context("no policy version in force")?
        .policy
        .clone();
    let versions = state.policies().len();
    let run = format!("{:x}", Timestamp::now().as_micros() % 0xffff_ffff);

    let started = Instant::now();
    let tally = submit_all(&ledger, cohort(&run, args.subjects, &latest.version)).await?;
    println_out(format!(
        "  cohort {run}: {} subjects under policy {}: {} entries in {:.2} s ({}/s)",
        args.subjects,
        latest.version,
        tally.total(),
        started.elapsed().as_secs_f64(),
        per_second(tally.total(), started)
    ));
    for (kind, n) in &tally.appended {
        println_out(format!("    {kind:<20} {n}"));
    }
    for (code, n) in &tally.rejected {
        println_out(format!("    rejected ({code}): {n}  (nothing appended)"));
    }

    // A material update: an affiliate changes the purpose of processing.
    let mut material = (*latest).clone();
    material.version = id(&format!("{}.{}", reference.version, versions + 1));
    material.effective_at = Timestamp::now();
    let affiliate: PurposeId = id("affiliate-sharing");
    if let Some(p) = material.purposes.iter_mut().find(|p| p.id == affiliate) {
        let habits: DataCategoryId = id("operating-habits");
        if !p.data_categories.contains(&habits) {
            p.data_categories.push(habits);
        }
    }
    material.declared_material_changes = vec![DeclaredChange {
        purpose: Some(affiliate.clone()),
        description: "Affiliates will also use shared data for product analytics".into(),
    }];
    publish(&ledger, material.clone()).await?;
    let reaccept: Vec<_> = (0..args.subjects)
        .filter(|i| active(*i) && i % 2 == 0)
        .map(|i| {
            (
                Submission::PolicyAccepted(PolicyAccepted {
                    subject: subject(&run, i),
                    policy_version: material.version.clone(),
                    method: AcceptanceMethod::Explicit,
                    channel: id("email-reconsent-campaign"),
                    evidence: None,
                }),
                None,
            )
        })
        .collect();
    let t = submit_all(&ledger, reaccept).await?;
    println_out(format!(
        "  policy {} (material: affiliate-sharing): published; {} subjects re-accepted explicitly",
        material.version,
        t.total()
    ));

    // A non-material update, accepted by continued use.
    let mut minor = material.clone();
    minor.version = id(&format!("{}.{}", reference.version, versions + 2));
    minor.effective_at = Timestamp::now();
    minor.declared_material_changes.clear();
    if let Some(p) = minor
        .purposes
        .iter_mut()
        .find(|p| p.id.as_str() == "display-preferences")
    {
        p.description = format!(
            "{} (wording clarified)",
            p.description.trim_end_matches(" (wording clarified)")
        );
    }
    publish(&ledger, minor.clone()).await?;
    let continued: Vec<_> = (0..args.subjects)
        .filter(|i| active(*i) && i % 3 == 0)
        .map(|i| {
            (
                Submission::PolicyAccepted(PolicyAccepted {
                    subject: subject(&run, i),
                    policy_version: minor.version.clone(),
                    method: AcceptanceMethod::ContinuedUse,
                    channel: id("service-login"),
                    evidence: None,
                }),
                None,
            )
        })
        .collect();
    let t = submit_all(&ledger, continued).await?;
    println_out(format!(
        "  policy {} (non-material): published; {} subjects accepted by continued use",
        minor.version,
        t.total()
    ));

    if let Some(c) = ledger.checkpointer().publish().await? {
        println_out(format!(
            "  checkpoint: {} entries signed as {} (consent checkpoint, consent receipt SEQ)",
            c.size,
            ledger.name()
        ));
    }
    let started = Instant::now();
    let verified = consent_ledger::verify_store(&**ledger.store(), None).await?;
    match verified {
        Ok(r) => {
            println_out(format!(
                "  verify: {} entries, chain intact, head {}, {:.2} s ({} entries/s)",
                r.entries,
                r.head.unwrap_or_default(),
                started.elapsed().as_secs_f64(),
                per_second(r.entries, started)
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println_out(format!(
                "  verify: FAILED at entry {}: {}: {}",
                f.seq,
                f.reason.code(),
                f.detail
            ));
            Ok(ExitCode::from(1))
        }
    }
}

async fn publish(ledger: &Ledger<AnyStore>, policy: PolicyVersion) -> anyhow::Result<()> {
    let version = policy.version.clone();
    match ledger
        .append(Submission::PolicyPublished(PublishPolicy { policy }), None)
        .await?
    {
        Ok(_) => Ok(()),
        Err(r) => bail!("publishing policy {version}: {r}"),
    }
}

fn println_out(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
