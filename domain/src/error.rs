//! Business rejections. Each has a stable [`DomainError::code`]; callers
//! branch on the code, never on the message text.

use crate::ids::{DataCategoryId, PolicyVersionId, PurposeId};
use crate::policy::LegalBasis;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the policy document is inconsistent: {0}")]
    PolicyInvalid(String),
    #[error("recipient {recipient}: notify_url refused: {reason}")]
    InvalidNotifyUrl { recipient: String, reason: String },
    #[error("policy version {0} is already published")]
    DuplicatePolicyVersion(PolicyVersionId),
    #[error("policy controller {found:?} differs from the ledger's controller {expected:?}")]
    ControllerMismatch { expected: String, found: String },
    #[error("policy version {version} would take effect at {effective_at}, before the previous version ({previous_effective_at})")]
    PolicyEffectiveBeforePrevious {
        version: PolicyVersionId,
        effective_at: Timestamp,
        previous_effective_at: Timestamp,
    },
    #[error("policy version {version} would take effect at {effective_at}, before the ledger's latest entry ({latest}): history cannot be rewritten")]
    PolicyEffectiveInPast {
        version: PolicyVersionId,
        effective_at: Timestamp,
        latest: Timestamp,
    },
    #[error("policy version {0} is not published")]
    UnknownPolicyVersion(PolicyVersionId),
    #[error("policy version {version} is not in force until {effective_at}")]
    PolicyVersionNotEffective {
        version: PolicyVersionId,
        effective_at: Timestamp,
    },
    #[error("policy version {version} is superseded by {in_force}")]
    PolicyVersionSuperseded {
        version: PolicyVersionId,
        in_force: PolicyVersionId,
    },
    #[error("purpose {purpose} is not in policy version {version}")]
    UnknownPurpose {
        purpose: PurposeId,
        version: PolicyVersionId,
    },
    #[error("purpose {purpose} rests on {basis:?}, not on consent")]
    PurposeNotConsentBased {
        purpose: PurposeId,
        basis: LegalBasis,
    },
    #[error("a consent must name at least one data category")]
    NoDataCategories,
    #[error("data category {category} is not processed for purpose {purpose}")]
    DataCategoryOutsidePurpose {
        category: DataCategoryId,
        purpose: PurposeId,
    },
    #[error("nothing to withdraw: no active consent{}", .purpose.as_ref().map(|p| format!(" for purpose {p}")).unwrap_or_default())]
    NothingToWithdraw { purpose: Option<PurposeId> },
    #[error("no active consent covers data category {category} for purpose {purpose}")]
    CategoryNotGranted {
        category: DataCategoryId,
        purpose: PurposeId,
    },
    #[error("purpose {purpose} rests on {basis:?}: only legitimate-interest purposes can be objected to")]
    ObjectionNotApplicable {
        purpose: PurposeId,
        basis: LegalBasis,
    },
    #[error("the subject already objected to purpose {0}")]
    AlreadyObjected(PurposeId),
    #[error("the subject already accepted policy version {0}")]
    AlreadyAccepted(PolicyVersionId),
    #[error("policy version {0} changes material terms: continued use is not acceptance, explicit acceptance is required")]
    ContinuedUseNotSufficient(PolicyVersionId),
    #[error("no policy version has been published yet")]
    NoPolicyInForce,
    #[error("the subject's account is closed")]
    AccountClosed,
    #[error("the subject has been erased")]
    SubjectErased,
    #[error("the subject has no recorded history")]
    UnknownSubject,
}

impl DomainError {
    /// Stable, machine-readable code (snake_case). Part of the public API.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::PolicyInvalid(_) => "policy_invalid",
            DomainError::InvalidNotifyUrl { .. } => "invalid_notify_url",
            DomainError::DuplicatePolicyVersion(_) => "duplicate_policy_version",
            DomainError::ControllerMismatch { .. } => "controller_mismatch",
            DomainError::PolicyEffectiveBeforePrevious { .. } => "policy_effective_before_previous",
            DomainError::PolicyEffectiveInPast { .. } => "policy_effective_in_past",
            DomainError::UnknownPolicyVersion(_) => "unknown_policy_version",
            DomainError::PolicyVersionNotEffective { .. } => "policy_version_not_effective",
            DomainError::PolicyVersionSuperseded { .. } => "policy_version_superseded",
            DomainError::UnknownPurpose { .. } => "unknown_purpose",
            DomainError::PurposeNotConsentBased { .. } => "purpose_not_consent_based",
            DomainError::NoDataCategories => "no_data_categories",
            DomainError::DataCategoryOutsidePurpose { .. } => "data_category_outside_purpose",
            DomainError::NothingToWithdraw { .. } => "nothing_to_withdraw",
            DomainError::CategoryNotGranted { .. } => "category_not_granted",
            DomainError::ObjectionNotApplicable { .. } => "objection_not_applicable",
            DomainError::AlreadyObjected(_) => "already_objected",
            DomainError::AlreadyAccepted(_) => "already_accepted",
            DomainError::ContinuedUseNotSufficient(_) => "continued_use_not_sufficient",
            DomainError::NoPolicyInForce => "no_policy_in_force",
            DomainError::AccountClosed => "account_closed",
            DomainError::SubjectErased => "subject_erased",
            DomainError::UnknownSubject => "unknown_subject",
        }
    }
}
