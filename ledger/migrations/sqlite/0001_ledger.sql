-- The log: append-only, keyed by sequence number so every insert lands at
-- the end of the B-tree. `line` is the canonical signed entry (FORMAT.md);
-- recorded_at, hash, subject and kind are copies for inspection and for
-- the stored-hash cross-check in `verify`. No secondary index: a random-key
-- index would cost a page write per entry on the append path; per-subject
-- look-ups are the projections' job.
CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    recorded_at TEXT    NOT NULL,
    hash        BLOB    NOT NULL,
    subject     TEXT,
    kind        TEXT    NOT NULL,
    line        TEXT    NOT NULL
) STRICT;

-- Per-subject secrets: mutable, personal, never exported. Erasure deletes the row.
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    pseudonym  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Off-log evidence of the entry with the same seq, referenced from it by
-- salted hash. Erasure deletes the subject's rows.
CREATE TABLE evidence (
    seq       INTEGER PRIMARY KEY,
    reference TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    salt      BLOB NOT NULL,
    content   BLOB NOT NULL
) STRICT;

-- Idempotency keys: a retried append returns the original entry.
CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    request_hash BLOB    NOT NULL,
    seq          INTEGER NOT NULL REFERENCES entries (seq)
) STRICT, WITHOUT ROWID;

-- Tamper resistance inside the database itself: entries can be added, never
-- changed or removed through SQL issued by this application. (An attacker
-- with the file can drop the triggers; `verify` is what catches that.)
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
