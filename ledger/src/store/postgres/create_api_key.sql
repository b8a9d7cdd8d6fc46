INSERT INTO api_keys (id, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4)
