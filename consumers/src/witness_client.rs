//! The client side of C2SP tlog-witness: push a signed checkpoint and the
//! consistency proof from the witness's latest size to `POST
//! <url>/add-checkpoint`, and read back its cosignature lines.
//!
//! It owns the request's wire format and the mapping of answers to
//! [`WitnessError`]. It must not know where checkpoints come from (the
//! ledger's tree), which witnesses to ask or how many cosignatures are
//! enough, and it does not verify the cosignatures: the caller holds the
//! witness keys it trusts (`Note::verify` with them after adding the lines).
//! No error message carries the URL (it may hold credentials).

use consent_ledger::tlog::proof_text::hash_line;
use consent_ledger::tlog::{Hash, NoteError, SignatureLine};

/// Why a witness did not cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// 409: the witness's latest cosigned size is `size`, not the old size
    /// sent; prove consistency from there and push again.
    #[error("the witness's latest cosigned size is {size}")]
    Conflict { size: u64 },
    /// Any other refusal (400, 403, 404, 422, 5xx, or a 409 at the very size
    /// sent: the witness holds another root for it). `detail` is the
    /// problem's `detail` when the witness sent one.
    #[error("the witness refused the checkpoint ({status}): {detail}")]
    Refused { status: u16, detail: String },
    /// The request did not complete, or the answer is not the protocol's.
    #[error("talking to the witness: {0}")]
    Transport(String),
}

/// Largest answer read from a witness.
const MAX_ANSWER: usize = 64 * 1024;

/// Longest piece of a non-problem error body quoted in `Refused::detail`.
const MAX_DETAIL: usize = 200;

/// Pushes `note` (a checkpoint signed by the log) with `proof`, the
/// consistency proof from `old_size` (the witness's latest cosigned size;
/// 0 and an empty proof for a first push) to the checkpoint's size.
/// `url` is the witness's submission prefix, e.g. `https://w.example/w1`.
pub async fn add_checkpoint(
    client: &reqwest::Client,
    url: &str,
    old_size: u64,
    proof: &[Hash],
    note: &str,
) -> Result<Vec<SignatureLine>, WitnessError> {
    let transport = |e: reqwest::Error| WitnessError::Transport(e.without_url().to_string());
    let response = client
        .post(format!("{}/add-checkpoint", url.trim_end_matches('/')))
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(request_body(old_size, proof, note))
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    // A witness answers a few lines; never hold more than MAX_ANSWER bytes
    // of whatever a misbehaving one sends.
    let mut response = response;
    let mut raw = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        raw.extend_from_slice(&chunk);
        if raw.len() > MAX_ANSWER {
            return Err(WitnessError::Transport(format!(
                "the witness's answer exceeds {MAX_ANSWER} bytes"
            )));
        }
    }
    let body = String::from_utf8_lossy(&raw).into_owned();
    match status {
        200 => parse_cosignatures(&body),
        409 => {
            let size = parse_size(&body)?;
            if size == old_size {
                // The witness holds that size with another root: retrying
                // from it can never succeed, so this is no conflict to resolve.
                return Err(WitnessError::Refused {
                    status,
                    detail: format!("the witness cosigned a different root at size {size}"),
                });
            }
            Err(WitnessError::Conflict { size })
        }
        _ => Err(WitnessError::Refused {
            status,
            detail: problem_detail(&body),
        }),
    }
}

/// `old <size>`, the proof hashes (one base64 per line), an empty line,
/// the note.
fn request_body(old_size: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old_size}\n");
    for h in proof {
        body.push_str(&hash_line(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

fn parse_cosignatures(body: &str) -> Result<Vec<SignatureLine>, WitnessError> {
    let bad = |e: NoteError| {
        WitnessError::Transport(format!(
            "the witness answered 200 without cosignature lines: {e}"
        ))
    };
    if body.is_empty() || !body.ends_with('\n') {
        return Err(bad(NoteError::Malformed(
            "an answer is signature lines, each ending in a newline",
        )));
    }
    body.lines()
        .map(|line| SignatureLine::parse(line).map_err(bad))
        .collect()
}

fn parse_size(body: &str) -> Result<u64, WitnessError> {
    body.strip_suffix('\n')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            WitnessError::Transport("the witness answered 409 without a `<size>` line".into())
        })
}

/// The `detail` of a problem+json body, else the start of the body.
fn problem_detail(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().chars().take(MAX_DETAIL).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_has_the_spec_layout() {
        let note = "log.example/a\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} log.example/a AAAA\n";
        assert_eq!(request_body(0, &[], note), format!("old 0\n\n{note}"));
        assert_eq!(
            request_body(1, &[[0xff; 32], [0; 32]], note),
            format!(
                "old 1\n//////////////////////////////////////////8=\n\
                 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n{note}"
            )
        );
    }

    #[test]
    fn answers_parse() {
        assert_eq!(parse_size("12\n"), Ok(12));
        assert!(parse_size("12").is_err());
        assert!(parse_size("x\n").is_err());
        assert_eq!(problem_detail(r#"{"detail":"no"}"#), "no");
        assert_eq!(problem_detail("plain words\n"), "plain words");
        assert!(parse_cosignatures("").is_err());
        assert!(parse_cosignatures("\u{2014} w AAAAAAAA").is_err());
        let lines = parse_cosignatures("\u{2014} w AAAAAAAA\n\u{2014} v AAAAAAAA\n").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].name, "v");
    }
}
