INSERT INTO tiles (level, idx, hashes)
SELECT * FROM UNNEST($1::INT[], $2::BIGINT[], $3::BYTEA[])
ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes
