SELECT seq, hash, line FROM entries WHERE seq >= $1 ORDER BY seq LIMIT $2
