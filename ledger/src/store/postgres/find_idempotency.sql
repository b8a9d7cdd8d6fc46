SELECT i.key, i.request_hash, i.seq, e.hash FROM idempotency i JOIN entries e ON e.seq = i.seq WHERE i.key = ANY($1)
