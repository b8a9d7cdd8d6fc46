SELECT seq, hash, line FROM entries WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq
