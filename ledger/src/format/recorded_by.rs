//! `recorded_by` (FORMAT.md §1, entries of version 2): who asked the ledger
//! for an entry. An API key by its id (never its secret), or `local`: a
//! process with direct access to the store (a `consent` command, or the
//! ledger itself: genesis, key rotations, notifications, accepted loss).

use std::fmt;

/// Who asked for an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RecordedBy {
    /// Through the HTTP API, with the API key of this id (16 lower-case hex).
    ApiKey(String),
    /// Not through the API.
    #[default]
    Local,
}

const API_KEY_PREFIX: &str = "api-key:";

impl RecordedBy {
    /// Whether `id` has the form of an API key's id (16 lower-case hex).
    pub fn is_api_key_id(id: &str) -> bool {
        id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The API key of `id`, if `id` is one.
    pub fn api_key(id: &str) -> Option<Self> {
        Self::is_api_key_id(id).then(|| Self::ApiKey(id.to_owned()))
    }

    /// Parses the member's value: `local` or `api-key:<16 lower-case hex>`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.strip_prefix(API_KEY_PREFIX) {
            Some(id) => Self::api_key(id),
            None => (text == "local").then_some(Self::Local),
        }
    }

    /// The API key's id, if an API key asked.
    pub fn api_key_id(&self) -> Option<&str> {
        match self {
            Self::ApiKey(id) => Some(id),
            Self::Local => None,
        }
    }
}

impl fmt::Display for RecordedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(id) => write!(f, "{API_KEY_PREFIX}{id}"),
            Self::Local => f.write_str("local"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RecordedBy;

    #[test]
    fn the_two_forms_round_trip_and_nothing_else_parses() {
        for text in ["local", "api-key:0123456789abcdef"] {
            assert_eq!(RecordedBy::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "",
            "Local",
            "api-key:",
            "api-key:0123456789ABCDEF",
            "api-key:0123456789abcde",
            "api-key:0123456789abcdef0",
            "0123456789abcdef",
            "api-key:ck_0123456789abcdef_secret",
        ] {
            assert_eq!(RecordedBy::parse(bad), None, "{bad}");
        }
    }
}
