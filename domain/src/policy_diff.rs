//! What changed between two policy versions, and which changes are material.
//!
//! The reference policy (§VII) calls a change material when it alters the
//! purposes of processing, the kinds of data processed, the main recipients,
//! or the subject's rights. Widening is material (new categories, new
//! recipients, a changed legal basis, rights taken away); narrowing is listed
//! but is not, because it asks nothing new of the subject. The publisher can
//! declare further changes material (e.g. a new way data is used).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::PurposeId;
use crate::policy::{PolicyVersion, Purpose};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    PurposeAdded,
    PurposeRemoved,
    LegalBasisChanged,
    DataCategoriesChanged,
    RecipientsChanged,
    RetentionChanged,
    DescriptionChanged,
    RightsChanged,
    Declared,
}

/// One difference between a policy version and the version before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// Identifiers (or values) this version adds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub kind: ChangeKind,
    /// Whether consents for `purpose` (all purposes when absent) stop counting
    /// until the subject accepts this version.
    pub material: bool,
    /// The purpose concerned; absent for policy-wide changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeId>,
    /// Identifiers (or values) this version removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl PolicyChange {
    fn new(kind: ChangeKind, purpose: Option<&PurposeId>, material: bool) -> Self {
        Self {
            kind,
            purpose: purpose.cloned(),
            added: vec![],
            removed: vec![],
            material,
            description: None,
        }
    }

    /// Whether this change makes earlier consents for `purpose` stop counting.
    pub fn touches(&self, purpose: &PurposeId) -> bool {
        self.material && self.purpose.as_ref().is_none_or(|p| p == purpose)
    }
}

fn set_diff<T: Ord + ToString>(old: &[T], new: &[T]) -> (Vec<String>, Vec<String>) {
    let old: BTreeSet<&T> = old.iter().collect();
    let new: BTreeSet<&T> = new.iter().collect();
    let added = new.difference(&old).map(|x| x.to_string()).collect();
    let removed = old.difference(&new).map(|x| x.to_string()).collect();
    (added, removed)
}

fn purpose_changes(old: &Purpose, new: &Purpose, out: &mut Vec<PolicyChange>) {
    let id = Some(&new.id);
    if old.legal_basis != new.legal_basis {
        let mut c = PolicyChange::new(ChangeKind::LegalBasisChanged, id, true);
        c.added = vec![format!("{:?}", new.legal_basis).to_lowercase()];
        c.removed = vec![format!("{:?}", old.legal_basis).to_lowercase()];
        out.push(c);
    }
    let (added, removed) = set_diff(&old.data_categories, &new.data_categories);
    if !added.is_empty() || !removed.is_empty() {
        let mut c = PolicyChange::new(ChangeKind::DataCategoriesChanged, id, !added.is_empty());
        (c.added, c.removed) = (added, removed);
        out.push(c);
    }
    let (added, removed) = set_diff(&old.recipients, &new.recipients);
    if !added.is_empty() || !removed.is_empty() {
        let mut c = PolicyChange::new(ChangeKind::RecipientsChanged, id, !added.is_empty());
        (c.added, c.removed) = (added, removed);
        out.push(c);
    }
    if old.retention != new.retention {
        let longer = match (old.retention.max_days, new.retention.max_days) {
            (Some(a), Some(b)) => b > a,
            (Some(_), None) => true,
            _ => false,
        };
        let mut c = PolicyChange::new(ChangeKind::RetentionChanged, id, longer);
        c.description = Some(new.retention.description.clone());
        out.push(c);
    }
    if old.description != new.description {
        let mut c = PolicyChange::new(ChangeKind::DescriptionChanged, id, false);
        c.description = Some(new.description.clone());
        out.push(c);
    }
}

/// Every change from `old` (if any) to `new`, in a stable order.
pub fn diff(old: Option<&PolicyVersion>, new: &PolicyVersion) -> Vec<PolicyChange> {
    let mut out = Vec::new();
    let Some(old) = old else {
        return out;
    };
    for p in &new.purposes {
        match old.purpose(&p.id) {
            None => {
                let mut c = PolicyChange::new(ChangeKind::PurposeAdded, Some(&p.id), true);
                c.added = p.data_categories.iter().map(|d| d.to_string()).collect();
                out.push(c);
            }
            Some(o) => purpose_changes(o, p, &mut out),
        }
    }
    for p in &old.purposes {
        if new.purpose(&p.id).is_none() {
            out.push(PolicyChange::new(
                ChangeKind::PurposeRemoved,
                Some(&p.id),
                false,
            ));
        }
    }
    let (added, removed) = set_diff(&old.rights, &new.rights);
    if !added.is_empty() || !removed.is_empty() {
        let mut c = PolicyChange::new(ChangeKind::RightsChanged, None, !removed.is_empty());
        (c.added, c.removed) = (added, removed);
        out.push(c);
    }
    for d in &new.declared_material_changes {
        let mut c = PolicyChange::new(ChangeKind::Declared, d.purpose.as_ref(), true);
        c.description = Some(d.description.clone());
        out.push(c);
    }
    out
}
