//! I-JSON (RFC 7493) for request bodies: a body that a JSON parser would
//! silently change is refused instead (`not_i_json`). Two things change
//! silently: numbers an IEEE 754 double cannot hold exactly (any
//! magnitude beyond 2^53 − 1, however it is spelled: `1e20` is an integer
//! to JSON Schema and to JCS; magnitudes that underflow to zero), and
//! duplicate member names (the last one wins). Evidence is stored and hashed as received,
//! so it must mean one thing to every reader.
//!
//! A single pass over the bytes, run before parsing; it assumes nothing
//! about well-formedness (the parser reports syntax errors afterwards).

use std::borrow::Cow;
use std::collections::HashSet;

/// The member names seen in one open object: a short list scanned in
/// place (nearly every object has a handful of members, and this check
/// runs on every request), a hash set once it grows. A name is kept as
/// its raw bytes when it has no escape (the raw bytes then equal the
/// decoded ones), decoded otherwise.
#[derive(Default)]
struct Names<'a> {
    few: Vec<Cow<'a, [u8]>>,
    many: Option<HashSet<Cow<'a, [u8]>>>,
}

impl<'a> Names<'a> {
    const FEW: usize = 16;

    /// False when `name` was already there.
    fn insert(&mut self, name: Cow<'a, [u8]>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(name);
        }
        if self.few.contains(&name) {
            return false;
        }
        self.few.push(name);
        if self.few.len() > Self::FEW {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// Largest magnitude allowed: every I-JSON reader holds the integers up to
/// it exactly (RFC 7493 §2.2); the schemas say the same.
const EXACT: f64 = consent_domain::command::EVIDENCE_NUMBER_LIMIT as f64;

/// Why a body is not I-JSON.
pub fn check(body: &[u8]) -> Result<(), String> {
    // The member names of each open object; `None` for an array.
    let mut open: Vec<Option<Names<'_>>> = Vec::new();
    let mut i = 0;
    // Whether the next string in the current object is a member name.
    let mut expect_name = false;
    while i < body.len() {
        match body[i] {
            b'{' => {
                open.push(Some(Names::default()));
                expect_name = true;
                i += 1;
            }
            b'[' => {
                open.push(None);
                expect_name = false;
                i += 1;
            }
            b'}' | b']' => {
                open.pop();
                expect_name = false;
                i += 1;
            }
            b',' => {
                expect_name = matches!(open.last(), Some(Some(_)));
                i += 1;
            }
            b'"' => {
                let end = string_end(body, i);
                if expect_name {
                    let quoted = &body[i..end];
                    let inner = &quoted[1..quoted.len().saturating_sub(1).max(1)];
                    let name: Cow<'_, [u8]> = if inner.contains(&b'\\') {
                        let decoded: String = serde_json::from_slice(quoted).unwrap_or_default();
                        Cow::Owned(decoded.into_bytes())
                    } else {
                        Cow::Borrowed(inner)
                    };
                    if let Some(Some(names)) = open.last_mut() {
                        if !names.insert(name.clone()) {
                            return Err(format!(
                                "the member name {:?} appears twice in one object",
                                String::from_utf8_lossy(&name)
                            ));
                        }
                    }
                    expect_name = false;
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = body[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(body.len(), |n| i + n);
                number(std::str::from_utf8(&body[i..end]).unwrap_or_default())?;
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index just past the string starting at `start` (a quote).
fn string_end(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    body.len()
}

fn number(token: &str) -> Result<(), String> {
    let Ok(value) = token.parse::<f64>() else {
        return Ok(()); // Not a number: the parser will say so.
    };
    let integer = !token.contains(['.', 'e', 'E']);
    if !value.is_finite() {
        return Err(format!(
            "the number {token} is too large for an IEEE 754 double"
        ));
    }
    if value.abs() > EXACT {
        let what = if integer { "integer" } else { "number" };
        return Err(format!(
            "the {what} {token} is beyond 2^53 and would not be kept exactly by every reader (send it as a string)"
        ));
    }
    let mantissa_nonzero = token
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
    if value == 0.0 && mantissa_nonzero {
        return Err(format!(
            "the number {token} is too small for an IEEE 754 double (it would become 0)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn duplicates_are_found_in_objects_of_any_size() {
        let members = |n: usize| (0..n).map(|i| format!("\"m{i}\": {i}")).collect::<Vec<_>>();
        for n in [2, 16, 17, 40] {
            let mut distinct = members(n);
            assert!(
                check(format!("{{{}}}", distinct.join(",")).as_bytes()).is_ok(),
                "{n}"
            );
            distinct.push("\"m1\": 0".into());
            assert!(
                check(format!("{{{}}}", distinct.join(",")).as_bytes()).is_err(),
                "{n}"
            );
            distinct.pop();
            distinct.push("\"\\u006d1\": 0".into());
            assert!(
                check(format!("{{{}}}", distinct.join(",")).as_bytes()).is_err(),
                "{n} escaped"
            );
        }
    }

    #[test]
    fn what_a_parser_would_change_is_refused() {
        for bad in [
            r#"{"n": 9007199254740993}"#,
            r#"{"n": -9007199254740993}"#,
            r#"{"n": 123456789012345678901234567890}"#,
            r#"{"n": 1e400}"#,
            r#"{"n": 1e20}"#,
            r#"{"n": -9007199254740992.5}"#,
            r#"{"n": 0.1e-400}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"e": {"ip": "1.2.3.4", "ip": "5.6.7.8"}}"#,
            r#"{"a": 1, "\u0061": 2}"#,
        ] {
            assert!(check(bad.as_bytes()).is_err(), "{bad}");
        }
        for good in [
            r#"{"n": 9007199254740991, "f": 0.1, "z": 0, "z2": 0.0e5, "neg": -5, "e": 9.007e15}"#,
            r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "s": "a, \"a\": 1"}"#,
            r#"[1, 2, 3]"#,
        ] {
            assert!(check(good.as_bytes()).is_ok(), "{good}");
        }
    }
}
