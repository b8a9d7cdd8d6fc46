//! A controller's privacy policy, one version at a time: purposes with their
//! legal basis, data categories, recipients and retention, and the rights it
//! grants. General enough for any controller; `examples/reference-policy.json`
//! encodes the reference policy in `shared/reference/`.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DataCategoryId, PolicyVersionId, PurposeId, RecipientId, RightId};
use crate::timestamp::Timestamp;

/// One published version of a controller's privacy policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
///
/// Fields are declared in sorted order (here and in every type below) so
/// that serde_json writes RFC 8785 canonical JSON directly.
pub struct PolicyVersion {
    /// Who decides the purposes and means of processing.
    pub controller: Controller,
    /// Every data category the policy names.
    pub data_categories: Vec<DataCategory>,
    /// Changes the publisher declares material beyond those the ledger
    /// computes itself (e.g. a changed description of how data is used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared_material_changes: Vec<DeclaredChange>,
    /// From when this version is in force.
    pub effective_at: Timestamp,
    /// Jurisdiction whose law governs the processing (ISO 3166 code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Language of the policy text (BCP 47), e.g. `az`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The purposes of processing.
    pub purposes: Vec<Purpose>,
    /// Every recipient (or kind of recipient) data may be shared with.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Rights of the data subject that this version grants.
    #[serde(default)]
    pub rights: Vec<RightId>,
    /// Where the policy text is published (the privacy notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// This version's identifier, unique within the ledger.
    pub version: PolicyVersionId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    /// How to reach the controller's privacy contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Stable identifier of the controller (e.g. its domain name).
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCategory {
    pub description: String,
    pub id: DataCategoryId,
    /// Special-category (sensitive) data, e.g. health.
    #[serde(default)]
    pub sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// The controller's own group (parent, subsidiaries).
    Group,
    /// Affiliates bound to the policy's purposes.
    Affiliate,
    /// Authorised partners (processors, service providers).
    Partner,
    /// Public authorities receiving data under a legal obligation.
    PublicAuthority,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub description: String,
    pub id: RecipientId,
    pub kind: RecipientKind,
    /// Where withdrawal and erasure notices for this recipient are delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// The lawful basis of a purpose (GDPR Art. 6(1) a, b, c, f).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    LegitimateInterest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// Data categories processed for this purpose (ids from `data_categories`).
    pub data_categories: Vec<DataCategoryId>,
    pub description: String,
    pub id: PurposeId,
    pub legal_basis: LegalBasis,
    /// Recipients of data processed for this purpose (ids from `recipients`).
    #[serde(default)]
    pub recipients: Vec<RecipientId>,
    /// Whether the service cannot be provided without this purpose.
    #[serde(default)]
    pub required: bool,
    pub retention: Retention,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub description: String,
    /// Upper bound in days, where the policy states one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_days"
    )]
    #[schemars(range(max = 4_294_967_295u32))]
    pub max_days: Option<u32>,
}

/// A number of days as JSON means it: `30`, `30.0` and `3e1` are the same
/// number (RFC 8259 has one number type, JSON Schema calls all three
/// integers), stored as `30`; a fraction or a value past `u32` is refused.
fn whole_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct Days;
    impl serde::de::Visitor<'_> for Days {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number of days up to 4294967295, or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(Some(v as u32))
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Days)
}

/// A change the publisher declares material for one purpose (or for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredChange {
    pub description: String,
    /// The purpose concerned; absent means every purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeId>,
}

/// Why a policy document is not internally consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDefect(pub String);

impl PolicyVersion {
    pub fn purpose(&self, id: &PurposeId) -> Option<&Purpose> {
        self.purposes.iter().find(|p| &p.id == id)
    }

    pub fn recipient(&self, id: &RecipientId) -> Option<&Recipient> {
        self.recipients.iter().find(|r| &r.id == id)
    }

    /// Checks the document references only what it declares, once each.
    pub fn check(&self) -> Result<(), PolicyDefect> {
        let defect = |s: String| Err(PolicyDefect(s));
        if self.controller.id.trim().is_empty() {
            return defect("controller.id is empty".into());
        }
        if self.purposes.is_empty() {
            return defect("a policy version needs at least one purpose".into());
        }
        let mut categories = BTreeSet::new();
        for c in &self.data_categories {
            if !categories.insert(&c.id) {
                return defect(format!("data category {} is declared twice", c.id));
            }
        }
        let mut recipients = BTreeSet::new();
        for r in &self.recipients {
            if !recipients.insert(&r.id) {
                return defect(format!("recipient {} is declared twice", r.id));
            }
        }
        let mut purposes = BTreeSet::new();
        for p in &self.purposes {
            if !purposes.insert(&p.id) {
                return defect(format!("purpose {} is declared twice", p.id));
            }
            if p.data_categories.is_empty() {
                return defect(format!("purpose {} names no data category", p.id));
            }
            for c in &p.data_categories {
                if !categories.contains(c) {
                    return defect(format!(
                        "purpose {} names undeclared data category {c}",
                        p.id
                    ));
                }
            }
            for r in &p.recipients {
                if !recipients.contains(r) {
                    return defect(format!("purpose {} names undeclared recipient {r}", p.id));
                }
            }
        }
        for d in &self.declared_material_changes {
            if let Some(p) = &d.purpose {
                if !purposes.contains(p) {
                    return defect(format!("declared change names unknown purpose {p}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Retention;

    fn days(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<Retention>(&format!(r#"{{"description":"d","max_days":{json}}}"#))
            .map(|r| r.max_days)
    }

    #[test]
    fn retention_days_are_json_numbers_that_are_whole() {
        assert_eq!(days("30").unwrap(), Some(30));
        assert_eq!(days("30.0").unwrap(), Some(30));
        assert_eq!(days("3e1").unwrap(), Some(30));
        assert_eq!(days("null").unwrap(), None);
        assert_eq!(days("4294967295").unwrap(), Some(u32::MAX));
        for refused in ["30.5", "-1", "4294967296", "4294967296.0", "\"30\"", "true"] {
            assert!(days(refused).is_err(), "{refused} accepted");
        }
    }
}
