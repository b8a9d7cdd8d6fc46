INSERT INTO evidence (seq, reference, pseudonym, salt, content, sealed)
SELECT seq, reference, pseudonym, salt, content, TRUE
FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BYTEA[])
    AS batch (seq, reference, pseudonym, salt, content)
