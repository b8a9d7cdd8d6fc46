SELECT seq, hash, line FROM entries WHERE subject = ?1 ORDER BY seq
