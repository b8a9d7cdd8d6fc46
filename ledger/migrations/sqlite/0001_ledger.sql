-- The log: append-only. `line` is the canonical signed entry (FORMAT.md);
-- seq, hash, subject and kind are copies kept for indexing and for the
-- stored-hash cross-check in `verify`.
CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    recorded_at TEXT    NOT NULL,
    hash        BLOB    NOT NULL,
    subject     TEXT,
    kind        TEXT    NOT NULL,
    line        TEXT    NOT NULL
) STRICT;
CREATE INDEX entries_subject ON entries (subject, seq) WHERE subject IS NOT NULL;

-- Per-subject secrets: mutable, personal, never exported. Erasure deletes the row.
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    pseudonym  TEXT NOT NULL UNIQUE
) STRICT;

-- Off-log evidence, referenced from entries by salted hash. Erasure deletes it.
CREATE TABLE evidence (
    reference TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL,
    salt      BLOB NOT NULL,
    content   BLOB NOT NULL
) STRICT;
CREATE INDEX evidence_pseudonym ON evidence (pseudonym);

-- Idempotency keys: a retried append returns the original entry.
CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    request_hash BLOB    NOT NULL,
    seq          INTEGER NOT NULL REFERENCES entries (seq)
) STRICT;

-- Tamper resistance inside the database itself: entries can be added, never
-- changed or removed through SQL issued by this application. (An attacker
-- with the file can drop the triggers; `verify` is what catches that.)
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
