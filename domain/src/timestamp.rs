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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
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

impl Timestamp {
    /// The canonical spelling, built in place for years 0 to 9999 (every
    /// instant the ledger writes): this runs for every entry, every
    /// decision and every log line, and the general formatter costs
    /// several times as much. `None` for other years.
    fn spelled(self) -> Option<[u8; 27]> {
        const MICROS_PER_DAY: i64 = 86_400_000_000;
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let (secs, micros) = (of_day / 1_000_000, of_day % 1_000_000);
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, secs / 3600);
        put(14, 2, secs / 60 % 60);
        put(17, 2, secs % 60);
        put(20, 6, micros);
        Some(out)
    }
}

/// Year, month and day of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(spelled) = self.spelled() {
            return f.write_str(std::str::from_utf8(&spelled).expect("ASCII"));
        }
        let t = OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1000)
            .map_err(|_| fmt::Error)?
            .to_offset(UtcOffset::UTC);
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let s = t.format(&format).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.spelled() {
            Some(spelled) => {
                serializer.serialize_str(std::str::from_utf8(&spelled).expect("ASCII"))
            }
            None => serializer.collect_str(self),
        }
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
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", general(t)), "{micros}");
        }
    }
}
