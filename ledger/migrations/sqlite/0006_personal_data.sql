-- Idempotency keys that hold nothing personal (issue 12): the caller's key
-- is kept only as SHA-256(scope, key) in hex, scoped to the API key and
-- route that used it; the request's hash is keyed by the subject's secret
-- (so it cannot be recomputed once the subject is erased); each row names
-- its subject's pseudonym so erasure deletes it, and expires. Rows of the
-- old table (clear keys, unkeyed hashes) are not carried over: a retry of
-- a request sent before the upgrade is not recognised as one.
DROP TABLE idempotency;

CREATE TABLE request_keys (
    key_hash     TEXT    PRIMARY KEY,
    request_hash BLOB    NOT NULL,
    seq          INTEGER NOT NULL REFERENCES entries (seq),
    pseudonym    TEXT,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX request_keys_subject ON request_keys (pseudonym) WHERE pseudonym IS NOT NULL;
CREATE INDEX request_keys_expiry ON request_keys (expires_at);

-- Evidence written from now on is sealed (XChaCha20-Poly1305 under a key
-- derived from the subject's secret): once the secret is gone, what is left
-- of a row anywhere cannot be read. Older rows are clear text (sealed = 0).
ALTER TABLE evidence ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
