SELECT seq, hash, recorded_at FROM entries ORDER BY seq DESC LIMIT 1
