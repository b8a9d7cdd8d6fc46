DELETE FROM evidence WHERE seq = ANY($1)
