//! The JSON lines of the log (stderr when it is not a terminal): one object
//! per event, `{"timestamp", "level", "target", "span"?, <fields>}`, with
//! the fields flattened in, as `tracing-subscriber`'s JSON format writes
//! them. Written here because that format spent about 15,000 instructions
//! on each access-log line (a serde_json map per event, a calendar
//! timestamp), some 12 % of a whole decision request; this one writes the
//! line straight into one buffer. [`LineFormat`] is the choice between
//! this and text, made once at start; the access log
//! (`http/access_log.rs`) writes its lines in the same format without
//! going through `tracing`.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::sync::OnceLock;

use consent_domain::Timestamp;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are spelled: text for a person at a terminal, JSON lines
/// for a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Text,
    Json,
}

static FORMAT: OnceLock<LineFormat> = OnceLock::new();

impl LineFormat {
    /// `CONSENT_LOG_FORMAT=text|json`, else JSON unless stderr is a
    /// terminal; fixed for the process by the first call.
    pub fn current() -> LineFormat {
        *FORMAT.get_or_init(|| match std::env::var("CONSENT_LOG_FORMAT").as_deref() {
            Ok("json") => LineFormat::Json,
            Ok("text") => LineFormat::Text,
            _ if std::io::stderr().is_terminal() => LineFormat::Text,
            _ => LineFormat::Json,
        })
    }
}

/// The JSON-lines event format.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(256);
        push_head(&mut line, meta.level().as_str(), meta.target());
        if let Some(span) = ctx.lookup_current() {
            line.push_str(",\"span\":");
            push_string(&mut line, span.name());
        }
        event.record(&mut Members(&mut line));
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// Appends each field as `,"name":value`.
struct Members<'a>(&'a mut String);

impl Members<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(',');
        push_string(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        push_string(self.0, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            push_string(self.0, &value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        push_string(self.0, &format!("{value:?}"));
    }
}

/// Opens a JSON log line: `{"timestamp":…,"level":…,"target":…` (the
/// caller adds `,"name":value` members and the closing `}` and newline).
pub fn push_head(line: &mut String, level: &str, target: &str) {
    let _ = write!(line, "{{\"timestamp\":\"{}\",\"level\":", Timestamp::now());
    push_string(line, level);
    line.push_str(",\"target\":");
    push_string(line, target);
}

/// A JSON string (RFC 8259 escapes).
pub fn push_string(out: &mut String, value: &str) {
    out.push('"');
    if !value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(value);
        out.push('"');
        return;
    }
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::push_string;

    #[test]
    fn strings_are_json_whatever_they_hold() {
        for text in [
            "plain",
            "quote \" and \\ back",
            "line\nbreak\ttab\u{1}\u{1f}",
            "é ✓",
        ] {
            let mut out = String::new();
            push_string(&mut out, text);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
        }
    }
}
