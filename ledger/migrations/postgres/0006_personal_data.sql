-- Idempotency keys that hold nothing personal (issue 12): see the SQLite
-- migration of the same name. Old rows are not carried over.
DROP TABLE idempotency;

CREATE TABLE request_keys (
    key_hash     TEXT   PRIMARY KEY,
    request_hash BYTEA  NOT NULL,
    seq          BIGINT NOT NULL REFERENCES entries (seq),
    pseudonym    TEXT,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX request_keys_subject ON request_keys (pseudonym) WHERE pseudonym IS NOT NULL;
CREATE INDEX request_keys_expiry ON request_keys (expires_at);

ALTER TABLE evidence ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;

-- Subjects in 64 hash partitions: after an erasure the partition that held
-- the row is rewritten (VACUUM FULL), so no dead tuple keeps the id or the
-- secret; a partition is 1/64 of the table, which keeps that rewrite short.
ALTER TABLE subjects RENAME TO subjects_unpartitioned;
CREATE TABLE subjects (
    subject_id TEXT  NOT NULL,
    secret     BYTEA NOT NULL,
    pseudonym  TEXT  NOT NULL,
    PRIMARY KEY (subject_id)
) PARTITION BY HASH (subject_id);
DO $$
BEGIN
    FOR i IN 0..63 LOOP
        EXECUTE format(
            'CREATE TABLE subjects_p%s PARTITION OF subjects FOR VALUES WITH (MODULUS 64, REMAINDER %s)',
            lpad(i::text, 2, '0'), i);
    END LOOP;
END;
$$;
INSERT INTO subjects SELECT subject_id, secret, pseudonym FROM subjects_unpartitioned;
DROP TABLE subjects_unpartitioned;

-- Partitions an erasure left dead tuples in, written in the erasure's own
-- transaction and cleared once rewritten: a crash between the two leaves
-- the rewrite to the next writer's start.
CREATE TABLE scrub_pending (
    relation TEXT PRIMARY KEY
);
