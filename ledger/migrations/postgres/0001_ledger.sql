-- The log: append-only, keyed by sequence number. `line` is the canonical
-- signed entry (FORMAT.md); recorded_at, hash, subject and kind are copies
-- for inspection and for the stored-hash cross-check in `verify`.
CREATE TABLE entries (
    seq         BIGINT PRIMARY KEY,
    recorded_at TEXT   NOT NULL,
    hash        BYTEA  NOT NULL,
    subject     TEXT,
    kind        TEXT   NOT NULL,
    line        TEXT   NOT NULL
);

-- Per-subject secrets: mutable, personal, never exported. Erasure deletes the row.
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    pseudonym  TEXT  NOT NULL
);

-- Off-log evidence of the entry with the same seq. Erasure deletes the subject's rows.
CREATE TABLE evidence (
    seq       BIGINT PRIMARY KEY,
    reference TEXT  NOT NULL,
    pseudonym TEXT  NOT NULL,
    salt      BYTEA NOT NULL,
    content   BYTEA NOT NULL
);

-- Idempotency keys: a retried append returns the original entry.
CREATE TABLE idempotency (
    key          TEXT   PRIMARY KEY,
    request_hash BYTEA  NOT NULL,
    seq          BIGINT NOT NULL REFERENCES entries (seq)
);

-- Entries can be added, never changed or removed through SQL issued by
-- this application (a superuser can drop the trigger; `verify` catches that).
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'entries are append-only';
END;
$$;
CREATE TRIGGER entries_no_update BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();
