SELECT pseudonym FROM subjects WHERE subject_id = $1
