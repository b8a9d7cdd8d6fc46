SELECT subject_id, secret, pseudonym FROM subjects WHERE subject_id = ANY($1)
