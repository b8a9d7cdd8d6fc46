DELETE FROM request_keys WHERE expires_at <= $1
