//! The access log: one line per request on stderr (method, route template,
//! status, latency in microseconds, the accepted API key's id), in the
//! log's format (text on a terminal, JSON lines otherwise: [`crate::log_format`]).
//!
//! Written straight to stderr, not through a `tracing` event: on a decision
//! the event path (dispatch, the fmt layer, a field visitor, a fresh buffer)
//! cost some 6,800 instructions a request, 6 % of the whole request, where
//! this costs about a fifth of that. It still obeys `CONSENT_LOG`: a line is
//! written only when the `consent::access` target is enabled at `info`.
//!
//! What a line may hold is fixed by [`AccessLine`]'s fields: never a header,
//! a query string or a path with its values, so no secret and no subject id.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

use consent_domain::Timestamp;

use crate::log_format::{push_head, push_string, LineFormat};

/// One answered request.
pub struct AccessLine<'a> {
    pub method: &'a str,
    /// The route's template (`/v1/subjects/{subject}/history`), never the
    /// path as sent.
    pub route: &'a str,
    pub status: u16,
    pub micros: u64,
    /// The accepted API key's id, if one was.
    pub key: Option<&'a str>,
}

thread_local! {
    /// Each worker thread's line buffer, reused for every line.
    static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl AccessLine<'_> {
    /// Writes the line to stderr if the access log is on. A failed write
    /// (a closed or full stderr) is dropped, as every log line's is: the
    /// answer the client gets does not depend on it.
    pub fn write(&self) {
        if !tracing::enabled!(target: "consent::access", tracing::Level::INFO) {
            return;
        }
        BUFFER.with_borrow_mut(|line| {
            line.clear();
            self.format(LineFormat::current(), line);
            let _ = std::io::stderr().write_all(line.as_bytes());
        });
    }

    fn format(&self, format: LineFormat, line: &mut String) {
        let key = self.key.unwrap_or("-");
        match format {
            LineFormat::Json => {
                push_head(line, "INFO", "consent::access");
                line.push_str(",\"method\":");
                push_string(line, self.method);
                line.push_str(",\"route\":");
                push_string(line, self.route);
                let _ = write!(
                    line,
                    ",\"status\":{},\"micros\":{},\"key\":",
                    self.status, self.micros
                );
                push_string(line, key);
                line.push_str("}\n");
            }
            LineFormat::Text => {
                let now = Timestamp::now();
                let _ = writeln!(
                    line,
                    "{now}  INFO consent::access: method={} route={} status={} micros={} key={key}",
                    self.method, self.route, self.status, self.micros
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> AccessLine<'static> {
        AccessLine {
            method: "POST",
            route: "/v1/subjects/{subject}/history",
            status: 200,
            micros: 85,
            key: Some("0123456789abcdef"),
        }
    }

    #[test]
    fn a_json_line_is_one_object_with_the_fields_and_a_newline() {
        let mut out = String::new();
        line().format(LineFormat::Json, &mut out);
        assert!(out.ends_with("}\n") && out.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["target"], "consent::access");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["route"], "/v1/subjects/{subject}/history");
        assert_eq!(
            (v["status"].as_u64(), v["micros"].as_u64()),
            (Some(200), Some(85))
        );
        assert_eq!(v["key"], "0123456789abcdef");
        assert!(Timestamp::parse(v["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn a_text_line_names_the_target_and_a_missing_key_as_a_dash() {
        let mut out = String::new();
        AccessLine {
            key: None,
            ..line()
        }
        .format(LineFormat::Text, &mut out);
        assert!(out.contains(" INFO consent::access: method=POST route=/v1/subjects/{subject}/history status=200 micros=85 key=-\n"), "{out}");
    }
}
