//! The ledger's clock value: microseconds since the Unix epoch, written in
//! JSON as a fixed-width RFC 3339 UTC string (`2026-11-28T20:35:03.123456Z`).
//!
//! Fixed width matters: the string is part of canonical, hashed bytes, so
//! there must be exactly one way to write each instant.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected RFC 3339, e.g. 2026-11-28T20:35:03.123456Z")]
pub struct InvalidTimestamp(pub String);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }
    pub const fn as_micros(self) -> i64 {
        self.0
    }
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self((now.unix_timestamp_nanos() / 1000) as i64)
    }
    /// Parses any RFC 3339 date-time (any offset, any fraction length);
    /// sub-microsecond digits are truncated.
    pub fn parse(s: &str) -> Result<Self, InvalidTimestamp> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| InvalidTimestamp(s.into()))?;
        let micros = t.unix_timestamp_nanos().div_euclid(1000);
        i64::try_from(micros)
            .map(Self)
            .map_err(|_| InvalidTimestamp(s.into()))
    }
    /// Whether `s` is exactly this type's canonical spelling.
    pub fn is_canonical(s: &str) -> bool {
        Self::parse(s).is_ok_and(|t| t.to_string() == s)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1000)
            .map_err(|_| fmt::Error)?
            .to_offset(UtcOffset::UTC);
        // The common case written directly: this runs for every entry and
        // every decision, and the general formatter costs several times as
        // much. Years outside four digits take the general path.
        if (0..=9999).contains(&t.year()) {
            return write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            );
        }
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let s = t.format(&format).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = InvalidTimestamp;
    fn try_from(s: String) -> Result<Self, InvalidTimestamp> {
        Self::parse(&s)
    }
}
impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}
impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 date-time; the ledger writes UTC with exactly six fraction digits.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spelling_round_trips() {
        let t = Timestamp::parse("2023-11-29T00:00:00+04:00").unwrap();
        assert_eq!(t.to_string(), "2023-11-28T20:00:00.000000Z");
        assert!(Timestamp::is_canonical("2023-11-28T20:00:00.000000Z"));
        assert!(!Timestamp::is_canonical("2023-11-28T20:00:00Z"));
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn the_direct_spelling_is_the_general_formatters() {
        let general = |t: Timestamp| {
            OffsetDateTime::from_unix_timestamp_nanos(t.as_micros() as i128 * 1000)
                .unwrap()
                .format(&format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                ))
                .unwrap()
        };
        let first = Timestamp::parse("0000-01-01T00:00:00Z")
            .unwrap()
            .as_micros();
        let last = Timestamp::parse("9999-12-31T23:59:59.999999Z")
            .unwrap()
            .as_micros();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for micros in [first, last, 0, -1, 1]
            .into_iter()
            .chain((0..10_000).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                first + (x % (last - first) as u64) as i64
            }))
        {
            let t = Timestamp::from_micros(micros);
            assert_eq!(t.to_string(), general(t), "{micros}");
        }
    }
}
