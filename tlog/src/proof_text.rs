//! C2SP tlog-proof@v1: an offline inclusion proof — header, optional
//! `extra`, `index N`, the inclusion hashes (leaf sibling first), a blank
//! line, then the checkpoint note with all its signatures.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::merkle::Hash;

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed tlog-proof: {0}")]
pub struct ProofTextError(pub &'static str);

/// One proof line: a SHA-256 hash in standard base64 (as in tlog-proof,
/// add-checkpoint bodies and the proof commands' output).
pub fn parse_hash_line(line: &str) -> Option<Hash> {
    B64.decode(line).ok().and_then(|b| <Hash>::try_from(b).ok())
}

/// A hash as a proof line (without the newline).
pub fn hash_line(hash: &Hash) -> String {
    B64.encode(hash)
}

impl std::fmt::Display for TlogProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{HEADER}")?;
        if let Some(extra) = &self.extra {
            writeln!(f, "extra {}", B64.encode(extra))?;
        }
        writeln!(f, "index {}", self.index)?;
        for h in &self.proof {
            writeln!(f, "{}", hash_line(h))?;
        }
        writeln!(f)?;
        f.write_str(&self.checkpoint)
    }
}

impl TlogProof {
    pub fn parse(text: &str) -> Result<Self, ProofTextError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofTextError("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(ProofTextError("first line must be c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(ProofTextError("missing index line"))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(e)
                    .map_err(|_| ProofTextError("extra is not base64"))?,
            );
            line = lines.next().ok_or(ProofTextError("missing index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .ok_or(ProofTextError("expected `index <n>`"))?;
        let proof = lines
            .map(|l| parse_hash_line(l).ok_or(ProofTextError("a proof line is not a base64 hash")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}
