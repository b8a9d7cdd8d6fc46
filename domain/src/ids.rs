//! Identifiers from the policy's vocabulary (purpose, data category,
//! recipient, policy version, channel) and the subject pseudonym.
//!
//! They are validated once, at the edge (deserialisation), so the rules never
//! see an empty or malformed name.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {why}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// Longest identifier accepted; keeps entries small and indexes cheap.
pub const MAX_ID_LEN: usize = 128;
const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$";

fn check_slug(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let bad = |why| {
        Err(InvalidId {
            kind,
            value: value.chars().take(MAX_ID_LEN + 8).collect(),
            why,
        })
    };
    if value.is_empty() {
        return bad("must not be empty");
    }
    if value.len() > MAX_ID_LEN {
        return bad("longer than 128 bytes");
    }
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return bad("must start with an ASCII letter or digit");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "._:@/-".contains(c)) {
        return bad("may contain only ASCII letters, digits and . _ : @ / -");
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check_slug($kind, &value)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }
        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(value: &str) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "description": concat!("A ", $kind, " identifier."),
                    "pattern": ID_PATTERN,
                })
            }
        }
    };
}

slug_id!(
    /// A purpose of processing, as named in a policy version (e.g. `marketing`).
    PurposeId,
    "purpose"
);
slug_id!(
    /// A data category, as named in a policy version (e.g. `email-address`).
    DataCategoryId,
    "data category"
);
slug_id!(
    /// A recipient (group company, affiliate, partner kind, authority).
    RecipientId,
    "recipient"
);
slug_id!(
    /// A policy version identifier (e.g. `2023-11-29`).
    PolicyVersionId,
    "policy version"
);
slug_id!(
    /// Where or how an event was collected (e.g. `web-signup-form`, `email-unsubscribe-link`).
    Channel,
    "channel"
);
slug_id!(
    /// A data-subject right the policy grants (e.g. `erasure`).
    RightId,
    "right"
);

/// A subject as the log knows it: 64 lower-case hex digits of a keyed hash
/// (see [`crate::pseudonym`]). Never the subject's own identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pseudonym(String);

impl Pseudonym {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Pseudonym {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        if is_lower_hex(&value, 64) {
            Ok(Self(value))
        } else {
            Err(InvalidId {
                kind: "pseudonym",
                value: value.chars().take(80).collect(),
                why: "must be 64 lower-case hex digits",
            })
        }
    }
}
impl From<Pseudonym> for String {
    fn from(p: Pseudonym) -> String {
        p.0
    }
}
impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl JsonSchema for Pseudonym {
    fn schema_name() -> Cow<'static, str> {
        "Pseudonym".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Subject pseudonym: HMAC-SHA-256 under a per-subject secret, lower-case hex.",
            "pattern": "^[0-9a-f]{64}$",
        })
    }
}

/// A SHA-256 digest written as 64 lower-case hex digits (evidence references,
/// policy content hashes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Digest {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        if is_lower_hex(&value, 64) {
            Ok(Self(value))
        } else {
            Err(InvalidId {
                kind: "digest",
                value: value.chars().take(80).collect(),
                why: "must be 64 lower-case hex digits",
            })
        }
    }
}
impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl JsonSchema for Digest {
    fn schema_name() -> Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "SHA-256 digest, lower-case hex.",
            "pattern": "^[0-9a-f]{64}$",
        })
    }
}

pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_checked() {
        assert!(PurposeId::new("marketing").is_ok());
        assert!(PurposeId::new("partner-sharing.v2").is_ok());
        assert!(PurposeId::new("").is_err());
        assert!(PurposeId::new("-x").is_err());
        assert!(PurposeId::new("a b").is_err());
        assert!(PurposeId::new("x".repeat(129)).is_err());
        let err = serde_json::from_str::<PurposeId>("\"has space\"").unwrap_err();
        assert!(err.to_string().contains("purpose"), "{err}");
    }

    #[test]
    fn pseudonyms_are_hex() {
        assert!(Pseudonym::try_from("ab".repeat(32)).is_ok());
        assert!(Pseudonym::try_from("AB".repeat(32)).is_err());
        assert!(Pseudonym::try_from("ab".repeat(31)).is_err());
    }
}
