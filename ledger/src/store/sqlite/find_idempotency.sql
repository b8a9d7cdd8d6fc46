SELECT i.key_hash, i.request_hash, i.seq, e.hash FROM request_keys i JOIN entries e ON e.seq = i.seq WHERE i.key_hash IN (SELECT value FROM json_each(?1)) AND i.expires_at > ?2
