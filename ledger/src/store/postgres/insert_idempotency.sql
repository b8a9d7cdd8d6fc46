INSERT INTO request_keys (key_hash, request_hash, seq, pseudonym, expires_at)
SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[])
-- A key that expired but was not yet swept is taken over (a live key is
-- found by the look-up before and never inserted again).
ON CONFLICT (key_hash) DO UPDATE SET request_hash = excluded.request_hash, seq = excluded.seq,
    pseudonym = excluded.pseudonym, expires_at = excluded.expires_at
