//! The state the rules need to accept or reject a command: published policy
//! versions and, per subject, active grants, acceptances, objections and
//! account status. Built by folding the log's events in order ([`LedgerState::apply`]).
//!
//! Pure and synchronous: the writer holds one instance, replays the log into
//! it at start, and asks it to [`LedgerState::decide`] each command.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::command::Command;
use crate::error::DomainError;
use crate::event::{
    AcceptanceMethod, AccountClosed, ConsentGranted, ConsentWithdrawn, ErasureRequested, Event,
    ObjectionRecorded, PolicyAccepted, PolicyPublished, Unsubscribed,
};
use crate::ids::{DataCategoryId, PolicyVersionId, Pseudonym, PurposeId};
use crate::policy::{LegalBasis, PolicyVersion};
use crate::policy_diff::{diff, PolicyChange};
use crate::pseudonym::content_hash;
use crate::timestamp::Timestamp;

/// A policy version as published in the log.
#[derive(Debug, Clone)]
pub struct PublishedPolicy {
    pub policy: Arc<PolicyVersion>,
    pub changes: Arc<Vec<PolicyChange>>,
}

impl PublishedPolicy {
    pub fn is_material(&self) -> bool {
        self.changes.iter().any(|c| c.material)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectState {
    /// Active consents: purpose → data categories currently granted.
    pub grants: BTreeMap<PurposeId, BTreeSet<DataCategoryId>>,
    pub accepted: BTreeSet<PolicyVersionId>,
    pub objections: BTreeSet<PurposeId>,
    pub closed: bool,
    pub erased: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    /// Published versions in order of publication (and of effective time).
    policies: Vec<PublishedPolicy>,
    subjects: HashMap<Pseudonym, SubjectState>,
    latest: Option<Timestamp>,
}

impl LedgerState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn policies(&self) -> &[PublishedPolicy] {
        &self.policies
    }

    pub fn policy(&self, version: &PolicyVersionId) -> Option<&PublishedPolicy> {
        self.policies.iter().find(|p| &p.policy.version == version)
    }

    /// The version in force at `at`: the latest one whose effective time has come.
    pub fn policy_in_force(&self, at: Timestamp) -> Option<&PublishedPolicy> {
        self.policies
            .iter()
            .rev()
            .find(|p| p.policy.effective_at <= at)
    }

    pub fn subject(&self, subject: &Pseudonym) -> Option<&SubjectState> {
        self.subjects.get(subject)
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    /// Accepts or rejects `command` as if recorded at `at`. Changes nothing.
    pub fn decide(&self, command: Command, at: Timestamp) -> Result<Event, DomainError> {
        if let Some(subject) = command.subject() {
            self.check_subject(subject, &command)?;
        }
        Ok(match command {
            Command::PolicyPublished(p) => Event::PolicyPublished(self.publish(p.policy, at)?),
            Command::ConsentGranted(c) => {
                self.check_grant(&c, at)?;
                Event::ConsentGranted(c)
            }
            Command::ConsentWithdrawn(c) => {
                self.check_withdrawal(&c)?;
                Event::ConsentWithdrawn(c)
            }
            Command::Unsubscribed(c) => {
                self.check_unsubscribe(&c)?;
                Event::Unsubscribed(c)
            }
            Command::PolicyAccepted(c) => {
                self.check_acceptance(&c, at)?;
                Event::PolicyAccepted(c)
            }
            Command::ObjectionRecorded(c) => {
                self.check_objection(&c, at)?;
                Event::ObjectionRecorded(c)
            }
            Command::AccountClosed(c) => Event::AccountClosed(c),
            Command::ErasureRequested(c) => Event::ErasureRequested(c),
        })
    }

    fn check_subject(&self, subject: &Pseudonym, command: &Command) -> Result<(), DomainError> {
        let state = self.subjects.get(subject);
        if state.is_some_and(|s| s.erased) {
            return Err(DomainError::SubjectErased);
        }
        let closed = state.is_some_and(|s| s.closed);
        match command {
            Command::ConsentGranted(_) | Command::PolicyAccepted(_) if closed => {
                Err(DomainError::AccountClosed)
            }
            Command::AccountClosed(_) if closed => Err(DomainError::AccountClosed),
            // An erasure request about someone the ledger holds nothing on
            // is recorded all the same (the controller answered it), so the
            // answer does not tell who is known.
            Command::AccountClosed(_) if state.is_none() => Err(DomainError::UnknownSubject),
            _ => Ok(()),
        }
    }

    fn publish(
        &self,
        policy: PolicyVersion,
        at: Timestamp,
    ) -> Result<PolicyPublished, DomainError> {
        policy
            .check()
            .map_err(|d| DomainError::PolicyInvalid(d.0))?;
        for r in &policy.recipients {
            if let Some(url) = &r.notify_url {
                crate::notify_url::check_notify_url(url).map_err(|d| {
                    DomainError::InvalidNotifyUrl {
                        recipient: r.id.to_string(),
                        reason: d.0,
                    }
                })?;
            }
        }
        if self.policy(&policy.version).is_some() {
            return Err(DomainError::DuplicatePolicyVersion(policy.version));
        }
        let previous = self.policies.last();
        if let Some(prev) = previous {
            let prev = &prev.policy;
            if prev.controller.id != policy.controller.id {
                return Err(DomainError::ControllerMismatch {
                    expected: prev.controller.id.clone(),
                    found: policy.controller.id,
                });
            }
            if policy.effective_at < prev.effective_at {
                return Err(DomainError::PolicyEffectiveBeforePrevious {
                    version: policy.version,
                    effective_at: policy.effective_at,
                    previous_effective_at: prev.effective_at,
                });
            }
            // A later version may not take effect in the past: answers
            // already given "as of" an earlier instant must never change.
            let latest = self.latest.unwrap_or(at);
            if policy.effective_at < latest {
                return Err(DomainError::PolicyEffectiveInPast {
                    version: policy.version,
                    effective_at: policy.effective_at,
                    latest,
                });
            }
        }
        let changes = diff(previous.map(|p| &*p.policy), &policy);
        Ok(PolicyPublished {
            content_hash: content_hash(&policy),
            previous_version: previous.map(|p| p.policy.version.clone()),
            changes,
            policy,
        })
    }

    /// The version must exist, be in force at `at`, and be the one in force.
    fn version_in_force(
        &self,
        version: &PolicyVersionId,
        at: Timestamp,
    ) -> Result<&PublishedPolicy, DomainError> {
        let published = self
            .policy(version)
            .ok_or_else(|| DomainError::UnknownPolicyVersion(version.clone()))?;
        if published.policy.effective_at > at {
            return Err(DomainError::PolicyVersionNotEffective {
                version: version.clone(),
                effective_at: published.policy.effective_at,
            });
        }
        let in_force = self
            .policy_in_force(at)
            .ok_or(DomainError::NoPolicyInForce)?;
        if in_force.policy.version != *version {
            return Err(DomainError::PolicyVersionSuperseded {
                version: version.clone(),
                in_force: in_force.policy.version.clone(),
            });
        }
        Ok(published)
    }

    fn check_grant(&self, c: &ConsentGranted, at: Timestamp) -> Result<(), DomainError> {
        let published = self.version_in_force(&c.policy_version, at)?;
        let purpose =
            published
                .policy
                .purpose(&c.purpose)
                .ok_or_else(|| DomainError::UnknownPurpose {
                    purpose: c.purpose.clone(),
                    version: c.policy_version.clone(),
                })?;
        if purpose.legal_basis != LegalBasis::Consent {
            return Err(DomainError::PurposeNotConsentBased {
                purpose: c.purpose.clone(),
                basis: purpose.legal_basis,
            });
        }
        if c.data_categories.is_empty() {
            return Err(DomainError::NoDataCategories);
        }
        if let Some(category) = c
            .data_categories
            .iter()
            .find(|d| !purpose.data_categories.contains(d))
        {
            return Err(DomainError::DataCategoryOutsidePurpose {
                category: category.clone(),
                purpose: c.purpose.clone(),
            });
        }
        Ok(())
    }

    fn check_withdrawal(&self, c: &ConsentWithdrawn) -> Result<(), DomainError> {
        let grants = self.subjects.get(&c.subject).map(|s| &s.grants);
        let has = match (&c.purpose, grants) {
            (_, None) => false,
            (None, Some(g)) => !g.is_empty(),
            (Some(p), Some(g)) => g.contains_key(p),
        };
        if has {
            Ok(())
        } else {
            Err(DomainError::NothingToWithdraw {
                purpose: c.purpose.clone(),
            })
        }
    }

    fn check_unsubscribe(&self, c: &Unsubscribed) -> Result<(), DomainError> {
        let granted = self
            .subjects
            .get(&c.subject)
            .and_then(|s| s.grants.get(&c.purpose))
            .is_some_and(|cats| cats.contains(&c.data_category));
        if granted {
            Ok(())
        } else {
            Err(DomainError::CategoryNotGranted {
                category: c.data_category.clone(),
                purpose: c.purpose.clone(),
            })
        }
    }

    fn check_acceptance(&self, c: &PolicyAccepted, at: Timestamp) -> Result<(), DomainError> {
        let published = self.version_in_force(&c.policy_version, at)?;
        if self
            .subjects
            .get(&c.subject)
            .is_some_and(|s| s.accepted.contains(&c.policy_version))
        {
            return Err(DomainError::AlreadyAccepted(c.policy_version.clone()));
        }
        if c.method == AcceptanceMethod::ContinuedUse && published.is_material() {
            return Err(DomainError::ContinuedUseNotSufficient(
                c.policy_version.clone(),
            ));
        }
        Ok(())
    }

    fn check_objection(&self, c: &ObjectionRecorded, at: Timestamp) -> Result<(), DomainError> {
        let in_force = self
            .policy_in_force(at)
            .ok_or(DomainError::NoPolicyInForce)?;
        let purpose =
            in_force
                .policy
                .purpose(&c.purpose)
                .ok_or_else(|| DomainError::UnknownPurpose {
                    purpose: c.purpose.clone(),
                    version: in_force.policy.version.clone(),
                })?;
        if purpose.legal_basis != LegalBasis::LegitimateInterest {
            return Err(DomainError::ObjectionNotApplicable {
                purpose: c.purpose.clone(),
                basis: purpose.legal_basis,
            });
        }
        if self
            .subjects
            .get(&c.subject)
            .is_some_and(|s| s.objections.contains(&c.purpose))
        {
            return Err(DomainError::AlreadyObjected(c.purpose.clone()));
        }
        Ok(())
    }

    /// Folds one recorded event into the state. Total: it never fails, because
    /// only events `decide` accepted (or the ledger itself wrote) are recorded.
    pub fn apply(&mut self, event: &Event, at: Timestamp) {
        self.latest = Some(self.latest.map_or(at, |l| l.max(at)));
        match event {
            Event::LedgerInitialized(_)
            | Event::KeyRotated(_)
            | Event::RecipientNotified(_)
            | Event::LossAccepted(_) => {}
            Event::PolicyPublished(p) => self.policies.push(PublishedPolicy {
                policy: Arc::new(p.policy.clone()),
                changes: Arc::new(p.changes.clone()),
            }),
            Event::ConsentGranted(c) => {
                let s = self.subjects.entry(c.subject.clone()).or_default();
                s.grants
                    .entry(c.purpose.clone())
                    .or_default()
                    .extend(c.data_categories.iter().cloned());
                // Granting under a version is accepting that version for it.
                s.accepted.insert(c.policy_version.clone());
            }
            Event::ConsentWithdrawn(c) => {
                let s = self.subjects.entry(c.subject.clone()).or_default();
                match &c.purpose {
                    Some(p) => {
                        s.grants.remove(p);
                    }
                    None => s.grants.clear(),
                }
            }
            Event::Unsubscribed(c) => {
                let s = self.subjects.entry(c.subject.clone()).or_default();
                if let Some(cats) = s.grants.get_mut(&c.purpose) {
                    cats.remove(&c.data_category);
                    if cats.is_empty() {
                        s.grants.remove(&c.purpose);
                    }
                }
            }
            Event::PolicyAccepted(c) => {
                let s = self.subjects.entry(c.subject.clone()).or_default();
                s.accepted.insert(c.policy_version.clone());
            }
            Event::ObjectionRecorded(c) => {
                let s = self.subjects.entry(c.subject.clone()).or_default();
                s.objections.insert(c.purpose.clone());
            }
            Event::AccountClosed(AccountClosed { subject, .. }) => {
                self.subjects.entry(subject.clone()).or_default().closed = true;
            }
            Event::ErasureRequested(ErasureRequested { subject, .. }) => {
                let s = self.subjects.entry(subject.clone()).or_default();
                s.grants.clear();
                s.erased = true;
            }
        }
    }
}
