//! The decision: may data category C of subject S be processed for purpose
//! P at instant T? The answer is the one the ledger would have given at T:
//! only entries recorded at or before T count, so processing done before a
//! withdrawal stays provably lawful.
//!
//! Rules, in order: a policy version must be in force at T (known then, and
//! effective); P must be one of its purposes and C one of P's categories;
//! nothing is allowed for an erased subject; then by legal basis:
//! *legal obligation* holds regardless of consent (for its own categories);
//! after account closure nothing else holds; *contract* holds for a known
//! subject; *legitimate interest* holds unless the subject objected;
//! *consent* needs an active grant covering C, not withdrawn or
//! unsubscribed since, and, if a later version changed P materially, an
//! explicit acceptance of that version (or a later one) or a new grant.

use std::sync::Arc;

use consent_domain::{
    DataCategoryId, LegalBasis, PolicyVersion, PolicyVersionId, Pseudonym, PurposeId, Timestamp,
};
use serde::Serialize;
use smallvec::SmallVec;

use crate::projection::{subject_key, ConsentProjection, PolicyRecord};
use crate::timeline::{CategoryIx, Fact, Position, PurposeIx, Record, VersionIx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub subject: Pseudonym,
    pub purpose: PurposeId,
    pub data_category: DataCategoryId,
    /// The instant the question is about.
    pub at: Timestamp,
}

/// Why the answer is what it is. [`Reason::code`] is stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    ConsentGiven,
    ConsentRenewed,
    Contract,
    LegalObligation,
    LegitimateInterest,
    NoPolicyInForce,
    UnknownPurpose,
    DataCategoryOutsidePurpose,
    SubjectErased,
    AccountClosed,
    UnknownSubject,
    NoConsent,
    DataCategoryNotConsented,
    ConsentWithdrawn,
    Unsubscribed,
    ReconsentRequired,
    Objected,
}

impl Reason {
    pub fn allowed(self) -> bool {
        matches!(
            self,
            Reason::ConsentGiven
                | Reason::ConsentRenewed
                | Reason::Contract
                | Reason::LegalObligation
                | Reason::LegitimateInterest
        )
    }

    pub fn code(self) -> &'static str {
        match self {
            Reason::ConsentGiven => "consent_given",
            Reason::ConsentRenewed => "consent_renewed",
            Reason::Contract => "contract",
            Reason::LegalObligation => "legal_obligation",
            Reason::LegitimateInterest => "legitimate_interest",
            Reason::NoPolicyInForce => "no_policy_in_force",
            Reason::UnknownPurpose => "unknown_purpose",
            Reason::DataCategoryOutsidePurpose => "data_category_outside_purpose",
            Reason::SubjectErased => "subject_erased",
            Reason::AccountClosed => "account_closed",
            Reason::UnknownSubject => "unknown_subject",
            Reason::NoConsent => "no_consent",
            Reason::DataCategoryNotConsented => "data_category_not_consented",
            Reason::ConsentWithdrawn => "consent_withdrawn",
            Reason::Unsubscribed => "unsubscribed",
            Reason::ReconsentRequired => "reconsent_required",
            Reason::Objected => "objected",
        }
    }

    /// The W3C DPV consent state this answer corresponds to, for
    /// consent-based purposes.
    pub fn dpv_consent_state(self) -> Option<&'static str> {
        Some(match self {
            Reason::ConsentGiven => "dpv:ConsentGiven",
            Reason::ConsentRenewed => "dpv:RenewedConsentGiven",
            Reason::NoConsent | Reason::DataCategoryNotConsented => "dpv:ConsentUnknown",
            Reason::ConsentWithdrawn | Reason::Unsubscribed => "dpv:ConsentWithdrawn",
            Reason::ReconsentRequired => "dpv:ConsentInvalidated",
            _ => return None,
        })
    }
}

/// One ledger entry behind an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub seq: u64,
    #[serde(serialize_with = "hex_hash")]
    pub hash: [u8; 32],
    /// The entry's event type.
    pub kind: &'static str,
}

fn hex_hash<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// The purpose's legal basis under the version in force.
    pub legal_basis: Option<LegalBasis>,
    /// The version in force at the instant asked about.
    pub policy: Option<Arc<PolicyVersion>>,
    /// At most three entries: the policy version, and the grant, withdrawal,
    /// acceptance or objection that decided.
    pub evidence: SmallVec<[Evidence; 3]>,
    pub at: Timestamp,
    /// The projection's checkpoint when it answered.
    pub checkpoint: Option<u64>,
}

impl Decision {
    /// The version in force at the instant asked about.
    pub fn policy_version(&self) -> Option<&PolicyVersionId> {
        self.policy.as_ref().map(|p| &p.version)
    }
}

fn evidence(at: &Position, kind: &'static str) -> Evidence {
    Evidence {
        seq: at.seq,
        hash: at.hash,
        kind,
    }
}

fn fact_kind(fact: &Fact) -> &'static str {
    match fact {
        Fact::Granted { .. } => "consent_granted",
        Fact::Withdrawn { .. } => "consent_withdrawn",
        Fact::Unsubscribed { .. } => "unsubscribed",
        Fact::Accepted { .. } => "policy_accepted",
        Fact::Objected { .. } => "objection_recorded",
        Fact::AccountClosed => "account_closed",
        Fact::Erased => "erasure_requested",
    }
}

/// The state of one (purpose, category) consent after folding a subject's
/// facts up to T.
#[derive(Default)]
struct ConsentState<'a> {
    /// The grant covering the category now, and the version it was given under.
    grant: Option<(&'a Record, VersionIx)>,
    /// What ended the last grant covering the category.
    lost: Option<(&'a Record, Reason)>,
    /// Whether some grant for the purpose is active.
    purpose_active: bool,
    accepted: Vec<(&'a Record, VersionIx)>,
}

fn consent_state(records: &[Record], purpose: PurposeIx, category: CategoryIx) -> ConsentState<'_> {
    let mut s = ConsentState::default();
    for r in records {
        match &r.fact {
            Fact::Granted {
                purpose: p,
                categories,
                version,
            } if *p == purpose => {
                s.purpose_active = true;
                if categories.binary_search(&category).is_ok() {
                    s.grant = Some((r, *version));
                }
            }
            Fact::Withdrawn { purpose: p } if p.is_none_or(|p| p == purpose) => {
                if s.grant.take().is_some() {
                    s.lost = Some((r, Reason::ConsentWithdrawn));
                }
                s.purpose_active = false;
            }
            Fact::Unsubscribed {
                purpose: p,
                category: c,
            } if *p == purpose && *c == category => {
                // Taken in the body, not the guard: a guard stays free of effects.
                #[allow(clippy::collapsible_match)]
                if s.grant.take().is_some() {
                    s.lost = Some((r, Reason::Unsubscribed));
                }
            }
            Fact::Accepted { version, .. } => s.accepted.push((r, *version)),
            _ => {}
        }
    }
    s
}

impl ConsentProjection {
    /// Whether the log holds an erasure of this subject.
    pub fn is_erased(&self, subject: &Pseudonym) -> bool {
        subject_key(subject)
            .and_then(|k| self.subjects.get(&k))
            .is_some_and(|t| t.records.iter().any(|r| matches!(r.fact, Fact::Erased)))
    }

    /// The policy version in force at `t`, as known at `t`.
    pub fn policy_in_force(&self, t: Timestamp) -> Option<Arc<PolicyVersion>> {
        self.policy_at(t).map(|(_, p)| p.policy.clone())
    }

    /// The version in force at `t`, as known at `t`, with its index.
    fn policy_at(&self, t: Timestamp) -> Option<(usize, &PolicyRecord)> {
        self.policies
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, p)| p.at.recorded_at <= t)
            .find(|(_, p)| p.policy.effective_at <= t)
    }

    fn policy_index(&self, version: VersionIx) -> Option<usize> {
        self.policies.iter().position(|p| p.version == version)
    }

    /// The latest version after `from` up to `to` (indices) that changed
    /// `purpose` materially.
    fn material_change(&self, purpose: PurposeIx, from: usize, to: usize) -> Option<usize> {
        (from + 1..=to).rev().find(|&i| {
            self.policies[i]
                .purposes
                .get(&purpose)
                .is_some_and(|t| t.material_change)
        })
    }

    pub fn decide(&self, q: &Query) -> Decision {
        let mut d = Decision {
            allowed: false,
            reason: Reason::NoPolicyInForce,
            legal_basis: None,
            policy: None,
            evidence: SmallVec::new(),
            at: q.at,
            checkpoint: self.checkpoint(),
        };
        let Some((policy_ix, policy)) = self.policy_at(q.at) else {
            return d;
        };
        d.policy = Some(policy.policy.clone());
        d.evidence.push(evidence(&policy.at, "policy_published"));
        let deny = |mut d: Decision, reason: Reason, extra: Option<Evidence>| {
            d.reason = reason;
            d.evidence.extend(extra);
            d
        };
        let purpose = self.purposes.get(q.purpose.as_str());
        let Some((purpose, terms)) = purpose.and_then(|p| policy.purposes.get(&p).map(|t| (p, t)))
        else {
            return deny(d, Reason::UnknownPurpose, None);
        };
        d.legal_basis = Some(terms.basis);
        let category = self.categories.get(q.data_category.as_str());
        let Some(category) = category.filter(|c| terms.categories.binary_search(c).is_ok()) else {
            return deny(d, Reason::DataCategoryOutsidePurpose, None);
        };
        let records = subject_key(&q.subject)
            .and_then(|k| self.subjects.get(&k))
            .map_or(&[][..], |t| t.until(q.at));
        // One pass for the facts that end processing.
        let (mut erased, mut closed, mut objected) = (None, None, None);
        for r in records {
            match &r.fact {
                Fact::Erased => erased = Some(r),
                Fact::AccountClosed => closed = closed.or(Some(r)),
                Fact::Objected { purpose: p } if *p == purpose => objected = objected.or(Some(r)),
                _ => {}
            }
        }
        if let Some(r) = erased {
            return deny(
                d,
                Reason::SubjectErased,
                Some(evidence(&r.at, "erasure_requested")),
            );
        }
        if terms.basis == LegalBasis::LegalObligation {
            d.allowed = true;
            d.reason = Reason::LegalObligation;
            return d;
        }
        if let Some(r) = closed {
            return deny(
                d,
                Reason::AccountClosed,
                Some(evidence(&r.at, "account_closed")),
            );
        }
        match terms.basis {
            LegalBasis::LegalObligation => unreachable!("answered above"),
            LegalBasis::Contract => match records.first() {
                None => deny(d, Reason::UnknownSubject, None),
                Some(first) => {
                    d.allowed = true;
                    d.reason = Reason::Contract;
                    d.evidence.push(evidence(&first.at, fact_kind(&first.fact)));
                    d
                }
            },
            LegalBasis::LegitimateInterest => match objected {
                Some(r) => deny(
                    d,
                    Reason::Objected,
                    Some(evidence(&r.at, "objection_recorded")),
                ),
                None => {
                    d.allowed = true;
                    d.reason = Reason::LegitimateInterest;
                    d
                }
            },
            LegalBasis::Consent => self.consent(d, records, purpose, category, policy_ix),
        }
    }

    fn consent(
        &self,
        mut d: Decision,
        records: &[Record],
        purpose: PurposeIx,
        category: CategoryIx,
        policy_ix: usize,
    ) -> Decision {
        let s = consent_state(records, purpose, category);
        let Some((grant, version)) = s.grant else {
            d.reason = match s.lost {
                Some((r, reason)) => {
                    d.evidence.push(evidence(&r.at, fact_kind(&r.fact)));
                    reason
                }
                None if s.purpose_active => Reason::DataCategoryNotConsented,
                None => Reason::NoConsent,
            };
            return d;
        };
        d.evidence.push(evidence(&grant.at, "consent_granted"));
        let grant_ix = self.policy_index(version).unwrap_or(0);
        let Some(changed_ix) = self.material_change(purpose, grant_ix, policy_ix) else {
            d.allowed = true;
            d.reason = Reason::ConsentGiven;
            return d;
        };
        let renewed = s
            .accepted
            .iter()
            .rev()
            .find(|(_, v)| self.policy_index(*v).is_some_and(|i| i >= changed_ix));
        match renewed {
            Some((r, _)) => {
                d.allowed = true;
                d.reason = Reason::ConsentRenewed;
                d.evidence.push(evidence(&r.at, "policy_accepted"));
            }
            None => {
                d.reason = Reason::ReconsentRequired;
                d.evidence
                    .push(evidence(&self.policies[changed_ix].at, "policy_published"));
            }
        }
        d
    }

    /// Subjects whose consent for a purpose that `version` changed
    /// materially stopped counting and who have not accepted again (as of
    /// `at`), sorted by pseudonym.
    pub fn must_reaccept(&self, version: &PolicyVersionId, at: Timestamp) -> Vec<Pseudonym> {
        let Some(v) = self.versions.get(version.as_str()) else {
            return Vec::new();
        };
        let Some(changed_ix) = self.policy_index(v) else {
            return Vec::new();
        };
        let touched: Vec<PurposeIx> = self.policies[changed_ix]
            .purposes
            .iter()
            .filter(|(_, t)| t.material_change && t.basis == LegalBasis::Consent)
            .map(|(p, _)| *p)
            .collect();
        let mut out: Vec<Pseudonym> = self
            .subjects
            .iter()
            .filter(|(_, timeline)| {
                let records = timeline.until(at);
                if records
                    .iter()
                    .any(|r| matches!(r.fact, Fact::Erased | Fact::AccountClosed))
                {
                    return false;
                }
                let accepted_since = records.iter().any(|r| {
                    matches!(r.fact, Fact::Accepted { version, .. }
                        if self.policy_index(version).is_some_and(|i| i >= changed_ix))
                });
                !accepted_since
                    && touched.iter().any(|&p| {
                        // An active grant for p given under an earlier version.
                        let mut active: Option<VersionIx> = None;
                        for r in records {
                            match &r.fact {
                                Fact::Granted {
                                    purpose, version, ..
                                } if *purpose == p => active = Some(*version),
                                Fact::Withdrawn { purpose } if purpose.is_none_or(|x| x == p) => {
                                    active = None
                                }
                                _ => {}
                            }
                        }
                        active.is_some_and(|v| self.policy_index(v).is_some_and(|i| i < changed_ix))
                    })
            })
            .map(|(k, _)| Pseudonym::from_bytes(*k))
            .collect();
        out.sort();
        out
    }
}

impl ConsentProjection {
    /// The recipients that must be told about a withdrawal or objection
    /// (`purpose` given: that purpose's recipients) or an erasure or account
    /// closure (`purpose` absent: the recipients of every purpose the
    /// subject's data went to: every non-consent purpose, and every consent
    /// purpose the subject ever granted), under the version in force at `at`.
    pub fn recipients_to_notify(
        &self,
        subject: &Pseudonym,
        purpose: Option<&PurposeId>,
        at: Timestamp,
    ) -> Vec<consent_domain::RecipientId> {
        let Some((_, policy)) = self.policy_at(at) else {
            return Vec::new();
        };
        let records = subject_key(subject)
            .and_then(|k| self.subjects.get(&k))
            .map_or(&[][..], |t| t.until(at));
        let granted = |p: &PurposeId| {
            self.purposes.get(p.as_str()).is_some_and(|ix| {
                records
                    .iter()
                    .any(|r| matches!(r.fact, Fact::Granted { purpose, .. } if purpose == ix))
            })
        };
        let mut out: Vec<consent_domain::RecipientId> = policy
            .policy
            .purposes
            .iter()
            .filter(|p| match purpose {
                Some(only) => &p.id == only,
                None => p.legal_basis != LegalBasis::Consent || granted(&p.id),
            })
            .flat_map(|p| p.recipients.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// One change in a subject's decisions for a (purpose, data category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineStep {
    pub purpose: PurposeId,
    pub data_category: DataCategoryId,
    /// From this instant on (until the next step)…
    pub from: Timestamp,
    /// …the answer was this.
    pub allowed: bool,
    pub reason: Reason,
}

impl ConsentProjection {
    /// How the answers for a subject changed over time, for every purpose
    /// and data category of the version in force at `until`: one step per
    /// change, evaluated at each instant anything relevant was recorded or
    /// took effect.
    pub fn decision_timeline(&self, subject: &Pseudonym, until: Timestamp) -> Vec<TimelineStep> {
        let Some((_, current)) = self.policy_at(until) else {
            return Vec::new();
        };
        let mut instants: Vec<Timestamp> = subject_key(subject)
            .and_then(|k| self.subjects.get(&k))
            .map(|t| t.until(until).iter().map(|r| r.at.recorded_at).collect())
            .unwrap_or_default();
        for p in &self.policies {
            for t in [
                p.at.recorded_at,
                p.policy.effective_at.max(p.at.recorded_at),
            ] {
                if t <= until {
                    instants.push(t);
                }
            }
        }
        instants.sort_unstable();
        instants.dedup();
        let mut steps = Vec::new();
        for purpose in &current.policy.purposes {
            for category in &purpose.data_categories {
                let mut last: Option<(bool, Reason)> = None;
                for &at in &instants {
                    let d = self.decide(&Query {
                        subject: subject.clone(),
                        purpose: purpose.id.clone(),
                        data_category: category.clone(),
                        at,
                    });
                    if last != Some((d.allowed, d.reason)) {
                        last = Some((d.allowed, d.reason));
                        steps.push(TimelineStep {
                            purpose: purpose.id.clone(),
                            data_category: category.clone(),
                            from: at,
                            allowed: d.allowed,
                            reason: d.reason,
                        });
                    }
                }
            }
        }
        steps
    }
}
