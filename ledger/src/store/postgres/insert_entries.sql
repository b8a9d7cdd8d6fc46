INSERT INTO entries (seq, recorded_at, hash, subject, kind, line)
SELECT seq, recorded_at, hash, subject, kind, line
FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::TEXT[], $6::TEXT[])
    AS batch (seq, recorded_at, hash, subject, kind, line)
-- In sequence order: the chain trigger checks each row against the one before.
ORDER BY seq
