SELECT subject_id, secret, pseudonym FROM subjects WHERE subject_id IN (SELECT value FROM json_each(?1))
