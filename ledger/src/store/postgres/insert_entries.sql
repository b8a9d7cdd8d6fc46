INSERT INTO entries (seq, recorded_at, hash, subject, kind, line)
SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::TEXT[], $6::TEXT[])
