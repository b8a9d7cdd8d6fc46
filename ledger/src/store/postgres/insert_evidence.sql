INSERT INTO evidence (seq, reference, pseudonym, salt, content)
SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BYTEA[])
