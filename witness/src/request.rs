//! The body of a C2SP tlog-witness `add-checkpoint` request: `old <size>`,
//! at most 63 consistency proof lines (one base64 hash each), an empty
//! line, then the signed checkpoint note.
//!
//! Pure parsing: it must not know keys, the witness's state or HTTP. It says
//! nothing about whether the checkpoint is signed by anyone trusted.

use consent_tlog::proof_text::parse_hash_line;
use consent_tlog::{Checkpoint, Hash, Note};

/// Most proof lines a client may send (C2SP tlog-witness): a consistency
/// proof of a tree of 2^63 leaves has fewer.
pub const MAX_PROOF_LINES: usize = 63;

/// Why a body is not an add-checkpoint request (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(detail: impl Into<String>) -> Malformed {
    Malformed(detail.into())
}

/// A parsed request: the client's idea of the witness's latest size, the
/// proof from there, and the checkpoint with its note.
#[derive(Debug, Clone)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: Checkpoint,
    pub note: Note,
    /// The note as sent (what the witness stores as evidence).
    pub note_text: String,
}

pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Malformed> {
    let body = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
    let (first, mut rest) = body
        .split_once('\n')
        .ok_or_else(|| malformed("the body must start with an `old <size>` line"))?;
    let old = parse_old(first)?;
    let mut proof_lines = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof_lines.len() == MAX_PROOF_LINES {
            return Err(malformed(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            )));
        }
        proof_lines.push(line);
    }
    let proof = decode_hash_lines(&proof_lines)?;
    let note = Note::parse(rest).map_err(|e| malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse_text(&note.text).map_err(|e| malformed(e.to_string()))?;
    Ok(AddCheckpoint {
        old,
        proof,
        checkpoint,
        note,
        note_text: rest.to_owned(),
    })
}

/// `old <decimal>`, no leading zeros except for `old 0`.
fn parse_old(line: &str) -> Result<u64, Malformed> {
    let bad = || malformed("the first line must be `old <size>` in decimal, no leading zeros");
    let digits = line.strip_prefix("old ").ok_or_else(bad)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(bad());
    }
    digits.parse().map_err(|_| bad())
}

fn decode_hash_lines(lines: &[&str]) -> Result<Vec<Hash>, Malformed> {
    lines
        .iter()
        .map(|l| {
            parse_hash_line(l)
                .ok_or_else(|| malformed("a consistency proof line is not a base64 SHA-256 hash"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use consent_tlog::proof_text::hash_line;
    use consent_tlog::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn note() -> String {
        let log = NoteSigner::new("log.example/a", SigningKey::from_bytes(&[5; 32]));
        Checkpoint {
            origin: "log.example/a".into(),
            size: 7,
            root: [7; 32],
        }
        .sign(&[log])
        .to_string()
    }

    #[test]
    fn parses_the_spec_layout() {
        let hash = [9u8; 32];
        let b64 = hash_line(&hash);
        let body = format!("old 3\n{b64}\n{b64}\n\n{}", note());
        let req = parse(body.as_bytes()).unwrap();
        assert_eq!(req.old, 3);
        assert_eq!(req.proof, vec![hash, hash]);
        assert_eq!(req.checkpoint.size, 7);
        assert_eq!(req.note_text, note());
        let empty = parse(format!("old 0\n\n{}", note()).as_bytes()).unwrap();
        assert!(empty.proof.is_empty());
    }

    #[test]
    fn refuses_what_is_not_the_layout() {
        let n = note();
        for body in [
            format!("old 03\n\n{n}"),
            format!("old -1\n\n{n}"),
            format!("old\n\n{n}"),
            format!("new 3\n\n{n}"),
            format!("old 3\nnot base64!\n\n{n}"),
            format!("old 3\nAAAA\n\n{n}"),
            format!("old 3\n{n}"),
            "old 3\n\nlog.example/a\n7\n".to_owned(),
            format!(
                "old 3\n{}\n{n}",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64)
            ),
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?}");
        }
        assert!(parse(b"old 3\n\xff\n\n").is_err());
    }
}
