INSERT INTO idempotency (key, request_hash, seq)
SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[], $3::BIGINT[])
