//! The controller's identifier of a data subject, in one canonical form, so
//! that one person is one subject however the id was typed.
//!
//! The rule (README, "Subject ids"):
//! - every id is Unicode NFC, with no leading or trailing white space, and
//!   none of: control characters, format characters (zero-width spaces and
//!   joiners, bidi overrides and isolates, the soft hyphen, the byte-order
//!   mark), line or paragraph separators, or compatibility characters such
//!   as fullwidth letters (whose plain form is another id);
//! - an email address (`email:ADDRESS`, or an untyped id of the form
//!   `local@domain.tld`) is lower-cased, and written without the `email:`
//!   prefix, so `email:Alice@Example.com` and `alice@example.com` are one
//!   subject;
//! - a phone number (`phone:…`) is written in E.164: `phone:+` and 8 to 15
//!   digits, spaces, dots, dashes and parentheses dropped;
//! - any other id is opaque: kept as given (after NFC).
//!
//! Refusals carry the stable code `invalid_subject`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest subject id accepted, in bytes of its canonical form.
pub const MAX_SUBJECT_LEN: usize = 256;

/// The controller's own identifier of a data subject (account id, email…),
/// in canonical form. Personal data: it never enters the log, and `Debug`
/// does not print it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectId(String);

/// Why a string is not a subject id (code `invalid_subject`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject identifier: {0}")]
pub struct InvalidSubjectId(pub &'static str);

impl InvalidSubjectId {
    pub const CODE: &'static str = "invalid_subject";
}

impl SubjectId {
    /// Checks `value` and brings it to its canonical form.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidSubjectId> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidSubjectId("must not be empty"));
        }
        // Bounded before the work below, whatever the caller sends.
        if value.len() > MAX_SUBJECT_LEN {
            return Err(InvalidSubjectId("longer than 256 bytes"));
        }
        refuse_invisible(&value)?;
        // Most ids are already in NFC (every ASCII one is): kept as given,
        // without building a copy.
        let nfc = match is_nfc_quick(value.chars()) {
            IsNormalized::Yes => value,
            _ => value.nfc().collect(),
        };
        if !nfc.is_ascii() && nfc.chars().any(is_compatibility_char) {
            return Err(InvalidSubjectId(
                "contains a compatibility character (fullwidth or similar): use its plain form",
            ));
        }
        let canonical = if let Some(phone) = nfc.strip_prefix("phone:") {
            e164(phone)?
        } else if let Some(address) = nfc.strip_prefix("email:") {
            email(address).ok_or(InvalidSubjectId(
                "email: must be followed by an address local@domain",
            ))?
        } else if looks_like_email(&nfc) {
            email(&nfc).expect("checked")
        } else {
            nfc
        };
        if canonical.len() > MAX_SUBJECT_LEN {
            return Err(InvalidSubjectId("longer than 256 bytes"));
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters no two people can tell apart from their absence, or that
/// reorder what is shown, and white space at either end.
fn refuse_invisible(value: &str) -> Result<(), InvalidSubjectId> {
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(InvalidSubjectId("must not start or end with white space"));
    }
    // Printable ASCII holds none of the characters below.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    for c in value.chars() {
        match c.general_category() {
            GeneralCategory::Control => {
                return Err(InvalidSubjectId("must not contain control characters"))
            }
            GeneralCategory::Format => {
                return Err(InvalidSubjectId(
                    "must not contain format characters (zero-width, bidi, soft hyphen, BOM)",
                ))
            }
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                return Err(InvalidSubjectId("must not contain line separators"))
            }
            GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned => {
                return Err(InvalidSubjectId(
                    "must not contain private-use or unassigned characters",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A character whose compatibility decomposition differs from itself
/// (fullwidth and halfwidth forms, ligatures, circled letters…), except
/// plain white space, which NFKC folds too.
fn is_compatibility_char(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let mut folded = std::iter::once(c).nfkc();
    !(folded.next() == Some(c) && folded.next().is_none())
}

fn looks_like_email(id: &str) -> bool {
    email(id).is_some_and(|_| {
        let (_, domain) = id.rsplit_once('@').expect("has @");
        domain.contains('.') && !id.contains(char::is_whitespace)
    })
}

/// `local@domain`, lower-cased (providers treat the local part as case
/// insensitive; RFC 5321 permits either).
fn email(address: &str) -> Option<String> {
    let (local, domain) = address.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    if address.contains(char::is_whitespace) {
        return None;
    }
    Some(address.to_lowercase())
}

/// `phone:+CC…` in E.164: `+` and 8 to 15 digits.
fn e164(number: &str) -> Result<String, InvalidSubjectId> {
    let bad =
        InvalidSubjectId("phone: must be an international number, + then 8 to 15 digits (E.164)");
    let rest = number.trim().strip_prefix('+').ok_or(bad.clone())?;
    let mut digits = String::with_capacity(15);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return Err(bad),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(bad);
    }
    Ok(format!("phone:+{digits}"))
}

impl fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectId(<redacted>)")
    }
}
impl TryFrom<String> for SubjectId {
    type Error = InvalidSubjectId;
    fn try_from(value: String) -> Result<Self, InvalidSubjectId> {
        Self::new(value)
    }
}
impl From<SubjectId> for String {
    fn from(s: SubjectId) -> String {
        s.0
    }
}
/// The rule above as a JSON Schema (ECMA-262) pattern, exact for ASCII.
/// Beyond ASCII it refuses the control, format, separator and private-use
/// characters of the Basic Multilingual Plane by name; what a pattern
/// cannot say (unassigned code points, compatibility characters, format
/// characters outside the BMP, the limit of 256 bytes rather than
/// characters) the server still refuses with `invalid_subject`.
pub fn subject_id_pattern() -> String {
    // Refused anywhere: Cc, BMP Cf, Zl, Zp, Co.
    const F: &str = "\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb\\ue000-\\uf8ff";
    // White space not refused above: refused at either end.
    const W: &str = " \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000";
    const SEP: &str = "[ .()-]";
    format!(
        "^(?:phone:[ \\u1680]*\\+{SEP}*[1-9](?:{SEP}*[0-9]){{7,14}}(?:{SEP}*[.()-])?\
         |email:[^@{F}{W}]+@[^@{F}{W}]+\
         |(?!phone:|email:)[^{F}{W}](?:[^{F}]*[^{F}{W}])?)$"
    )
}

impl JsonSchema for SubjectId {
    fn schema_name() -> Cow<'static, str> {
        "SubjectId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBJECT_LEN,
            "pattern": subject_id_pattern(),
            "description": "The controller's identifier of the subject, brought to its canonical form (NFC; email addresses lower-cased; phone: in E.164; no control, format, zero-width or bidi characters, no leading or trailing space; no unassigned or compatibility characters; at most 256 bytes). Personal data: pseudonymised before it reaches the log.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<String, InvalidSubjectId> {
        SubjectId::new(s).map(String::from)
    }

    #[test]
    fn email_addresses_are_one_subject_whatever_their_case_or_prefix() {
        assert_eq!(id("Alice@Example.com").unwrap(), "alice@example.com");
        assert_eq!(id("email:ALICE@example.COM").unwrap(), "alice@example.com");
        assert!(id("email:not-an-address").is_err());
    }

    #[test]
    fn nfc_and_nfd_spellings_are_one_subject() {
        let nfc = "jos\u{e9}";
        let nfd = "jose\u{301}";
        assert_eq!(id(nfc).unwrap(), id(nfd).unwrap());
    }

    #[test]
    fn invisible_and_reordering_characters_are_refused() {
        for bad in [
            "\u{200b}",
            "alice\u{200b}",
            "user\u{202e}gnp.exe",
            "\u{feff}alice",
            "al\u{ad}ice",
            "alice ",
            " alice",
            "al\u{2028}ice",
            "a\u{7}b",
            "\u{ff41}lice",
        ] {
            assert!(id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phone_numbers_are_written_in_e164() {
        assert_eq!(
            id("phone:+49 151 1234-5678").unwrap(),
            "phone:+4915112345678"
        );
        assert_eq!(id("phone:+1 (555) 010.9999").unwrap(), "phone:+15550109999");
        assert!(id("phone:0151 12345678").is_err());
        assert!(id("phone:+12").is_err());
    }

    #[test]
    fn opaque_ids_are_kept_as_given() {
        assert_eq!(id("CRM-0042").unwrap(), "CRM-0042");
        assert_eq!(id("user@tenant").unwrap(), "user@tenant");
        assert_eq!(id("Zoë Ünal").unwrap(), "Zoë Ünal");
    }

    proptest::proptest! {
        /// The published pattern says exactly what the server does, for
        /// ASCII (schemathesis generates ASCII against it in CI).
        #[test]
        fn the_schema_pattern_agrees_with_the_rule_on_ascii(
            s in proptest::prop_oneof![
                "[\\x00-\\x7f]{0,300}",
                "[ -~]{1,20}",
                "phone:[ +0-9.()a-]{0,24}",
                "phone: ?\\+[0-9]{0,3}[ .()-]?[0-9]{5,13}[ .()-]?",
                "email:[ -~]{0,12}",
                "[ -~]{0,6}@[ -~]{0,6}",
            ]
        ) {
            let pattern = fancy_regex::Regex::new(&subject_id_pattern()).unwrap();
            let matches = pattern.is_match(&s).unwrap() && s.chars().count() <= MAX_SUBJECT_LEN;
            proptest::prop_assert_eq!(matches, SubjectId::new(s.clone()).is_ok(), "{:?}", s);
        }
    }
}
