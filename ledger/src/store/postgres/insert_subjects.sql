INSERT INTO subjects (subject_id, secret, pseudonym)
SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[], $3::TEXT[])
