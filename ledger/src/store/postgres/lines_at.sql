SELECT seq, hash, line FROM entries WHERE seq = ANY($1) ORDER BY seq
