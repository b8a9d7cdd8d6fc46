 ON CONFLICT (key_hash) DO UPDATE SET request_hash = excluded.request_hash, seq = excluded.seq, pseudonym = excluded.pseudonym, expires_at = excluded.expires_at
